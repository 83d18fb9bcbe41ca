"""Tools through ``nbchat serve``: the ``openai`` package as a client of the demo model
and of the gateway, request validation (tools, tool_choice, tool and developer roles,
``content: null`` with tool calls, unsupported fields named), and the demo's rules."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from nbchat.server import UpstreamModel, create_app
from nbchat.server.demo_tools import demo_tool_answer, demo_tool_calls
from nbchat.wire import ToolDef
from tests.server_fixtures import Serve, serve

__all__ = ["serve"]  # the fixture, imported for pytest

TOKEN = "classroom-token-0123456789"

WEATHER: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city now.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city"],
        },
    },
}


def loop(client: openai.OpenAI, prompt: str, **kw: Any) -> tuple[Any, Any]:
    """One tool round with the openai package: the calls, then the answer to the results."""
    messages: list[Any] = [{"role": "user", "content": prompt}]
    first = client.chat.completions.create(model="demo", messages=messages, tools=[WEATHER], **kw)
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls", choice
    calls = choice.message.tool_calls or []
    messages.append(choice.message.model_dump(exclude_none=True))
    for call in calls:
        args = json.loads(call.function.arguments)
        messages.append(
            {"role": "tool", "tool_call_id": call.id, "content": f"18 degrees in {args['city']}"}
        )
    stream = client.chat.completions.create(
        model="demo", messages=messages, tools=[WEATHER], stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    return calls, text


def test_the_openai_package_runs_a_tool_loop_with_the_demo(serve: Serve) -> None:
    url = serve(create_app(tokens_per_second=5000)).url
    with openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0) as client:
        calls, text = loop(client, "Use get_weather for Paris in celsius please")
        assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == [
            ("get_weather", {"city": "Paris", "unit": "celsius"})
        ]
        assert "18 degrees in Paris" in text and "get_weather" in text
        # Streaming tool calls, as OpenAI streams them.
        chunks = list(
            client.chat.completions.create(
                model="demo",
                messages=[{"role": "user", "content": "get_weather in Oslo"}],
                tools=[WEATHER],
                stream=True,
            )
        )
        deltas = [c.choices[0].delta for c in chunks if c.choices]
        started = [t for d in deltas for t in d.tool_calls or [] if t.id]
        assert [t.function.name for t in started if t.function] == ["get_weather"]
        assert chunks[-1].choices[0].finish_reason == "tool_calls"
        # tool_choice "none" answers in text; without tools named, no call either.
        plain = client.chat.completions.create(
            model="demo",
            messages=[{"role": "user", "content": "get_weather in Oslo"}],
            tools=[WEATHER],
            tool_choice="none",
        )
        assert plain.choices[0].finish_reason == "stop" and plain.choices[0].message.content


def test_the_gateway_passes_tools_up_and_calls_back(
    serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    upstream = serve(create_app(tokens_per_second=5000)).url + "/v1"
    monkeypatch.setenv("NBCHAT_UPSTREAM_API_KEY", "sk-upstream-0123456789")
    gateway = serve(create_app(UpstreamModel(upstream, model="demo"), users={"s": TOKEN})).url
    with openai.OpenAI(base_url=gateway + "/v1", api_key=TOKEN, max_retries=0) as client:
        calls, text = loop(client, "get_weather for Lima")
    assert [json.loads(c.function.arguments)["city"] for c in calls] == ["Lima"]
    assert "18 degrees in Lima" in text


def test_requests_with_tools_are_checked_and_unsupported_fields_named(serve: Serve) -> None:
    client = serve(create_app(tokens_per_second=5000)).client
    ok = {
        "model": "demo",
        "messages": [
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": "weather?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        ],
        "tools": [WEATHER],
    }
    answer = client.post("/v1/chat/completions", json=ok)
    assert answer.status_code == 200, answer.text
    assert "sunny" in answer.json()["choices"][0]["message"]["content"]
    cases = {
        "n": ({"n": 2}, "'n' is not supported"),
        "logprobs": ({"logprobs": True}, "'logprobs' is not supported"),
        "tools[0]": ({"tools": [{"type": "web_search"}]}, "only function tools"),
        "tool_choice": ({"tool_choice": "sometimes"}, "'tool_choice' must be"),
        "messages[3].tool_call_id": (
            {"messages": [*ok["messages"][:3], {"role": "tool", "content": "x"}]},
            "tool_call_id",
        ),
        "messages[1].content[0]": (
            {
                "messages": [
                    ok["messages"][0],
                    {"role": "user", "content": [{"type": "image_url", "image_url": {}}]},
                ]
            },
            "no images",
        ),
    }
    for param, (change, words) in cases.items():
        answer = client.post("/v1/chat/completions", json={**ok, **change})
        assert answer.status_code == 400, (param, answer.text)
        error = answer.json()["error"]
        assert error["param"] == param and words in error["message"], (param, error)
    named = {**ok, "tool_choice": {"type": "function", "function": {"name": "nope"}}}
    answer = client.post("/v1/chat/completions", json=named)
    assert answer.status_code == 400 and "not in 'tools'" in answer.json()["error"]["message"]


def tool(tool_name: str, **properties: Any) -> ToolDef:
    required = [k for k, v in properties.items() if not v.pop("optional", False)]
    return {
        "name": tool_name,
        "description": "",
        "parameters": {"type": "object", "properties": properties, "required": required},
    }


def test_the_demo_calls_what_the_prompt_names() -> None:
    describe = tool("describe_data", name={"type": "string", "enum": ["sales", "users"]})
    rows = tool(
        "head_rows",
        name={"type": "string", "enum": ["sales", "users"]},
        n={"type": "integer", "optional": True},
    )
    tools = [describe, rows]
    assert demo_tool_calls("hello there", tools) == []
    # A variable named: the first tool taking it; tools named: those, in prompt order.
    assert demo_tool_calls("What is in users?", tools) == [("describe_data", {"name": "users"})]
    assert demo_tool_calls("head rows of sales, n=3, then describe data", tools) == [
        ("head_rows", {"name": "sales", "n": 3}),
        ("describe_data", {"name": "sales"}),
    ]
    assert demo_tool_calls("What is in users?", tools, "none") == []
    forced = {"type": "function", "function": {"name": "head_rows"}}
    assert demo_tool_calls("anything", tools, forced) == [("head_rows", {"name": "sales"})]
    assert demo_tool_calls("anything", tools, "required") == [("describe_data", {"name": "sales"})]
    city = tool("get_weather", city={"type": "string"})
    assert demo_tool_calls("get weather in 'New York'", [city]) == [
        ("get_weather", {"city": "New York"})
    ]


def test_the_demo_answer_quotes_each_result_safely() -> None:
    messages = [
        {"role": "user", "content": "x"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"id": "a", "type": "function", "function": {"name": "f", "arguments": '{"k": 1}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "a", "content": "has ``` fences"},
    ]
    answer = demo_tool_answer(messages)
    assert "**f**(k=1) returned:" in answer and "````text\nhas ``` fences\n````" in answer


def test_the_gateway_passes_sampling_fields_on_or_names_what_it_cannot(
    serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response, StreamingResponse
    from starlette.routing import Route

    seen: list[dict[str, Any]] = []
    body = (
        b'data: {"choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n'
        b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'
    )

    async def upstream(request: Request) -> Response:
        seen.append(json.loads(await request.body()))
        return StreamingResponse(iter([body]), media_type="text/event-stream")

    up = serve(Starlette(routes=[Route("/v1/chat/completions", upstream, methods=["POST"])]))
    monkeypatch.setenv("NBCHAT_UPSTREAM_API_KEY", "sk-upstream-0123456789")
    gateway = serve(create_app(UpstreamModel(f"{up.url}/v1", model="m"))).client
    ask = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    sampled = {**ask, "temperature": 0.2, "stop": ["\n\n"], "seed": 7, "tools": [WEATHER]}
    answer = gateway.post("/v1/chat/completions", json={**sampled, "tool_choice": "required"})
    assert answer.status_code == 200, answer.text
    sent = seen[-1]
    assert (sent["temperature"], sent["stop"], sent["seed"]) == (0.2, ["\n\n"], 7)
    assert sent["tools"][0]["function"]["name"] == "get_weather"
    assert sent["tool_choice"] == "required"
    # An Anthropic upstream carries temperature and stop, not seed: named, never dropped.
    anthropic = UpstreamModel(f"{up.url}/v1", model="m", dialect="anthropic")
    client = serve(create_app(anthropic)).client
    refused = client.post("/v1/chat/completions", json={**ask, "seed": 7})
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "seed"
