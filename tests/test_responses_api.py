"""``POST /v1/responses``: the openai package (streaming, not, with tools) and nbchat's
own ``openai-responses`` format against ``nbchat serve``."""

from __future__ import annotations

import json
from typing import Any

import openai

import nbchat
from nbchat.server import DemoModel, create_app
from tests.server_fixtures import Serve, serve

__all__ = ["serve"]  # the fixture, imported for pytest

PROMPT = "How do I read a CSV file?"
WEATHER: dict[str, Any] = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def test_the_openai_package_reads_responses(serve: Serve) -> None:
    url = serve(create_app(tokens_per_second=5000)).url
    expected = DemoModel().reply([{"role": "user", "content": PROMPT}])
    with openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0) as client:
        whole = client.responses.create(model="demo", input=PROMPT)
        assert whole.status == "completed" and whole.output_text == expected
        assert whole.usage is not None and whole.usage.output_tokens > 0
        events = list(client.responses.create(model="demo", input=PROMPT, stream=True))
        kinds = [e.type for e in events]
        assert kinds[:2] == ["response.created", "response.in_progress"]
        assert kinds[-1] == "response.completed"
        text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
        assert text == expected
        assert [e.sequence_number for e in events] == list(range(len(events)))
        capped = client.responses.create(model="demo", input=PROMPT, max_output_tokens=5)
        assert capped.status == "incomplete"


def test_a_tool_round_through_responses(serve: Serve) -> None:
    url = serve(create_app(tokens_per_second=5000)).url
    with openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0) as client:
        first = client.responses.create(
            model="demo", input="get_weather for Quito", tools=[WEATHER]
        )
        [call] = [item for item in first.output if item.type == "function_call"]
        assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "Quito"}
        second = client.responses.create(
            model="demo",
            tools=[WEATHER],
            input=[
                {"role": "user", "content": "get_weather for Quito"},
                {
                    "type": "function_call",
                    "call_id": call.call_id,
                    "name": call.name,
                    "arguments": call.arguments,
                },
                {"type": "function_call_output", "call_id": call.call_id, "output": "rain"},
            ],
        )
        assert "rain" in second.output_text


def test_what_responses_cannot_do_is_named(serve: Serve) -> None:
    client = serve(create_app(tokens_per_second=5000)).client
    cases = {
        "previous_response_id": {"previous_response_id": "resp_1"},
        "tools[0]": {"tools": [{"type": "web_search"}]},
        "input[0].content[0]": {
            "input": [{"role": "user", "content": [{"type": "input_image", "image_url": "x"}]}]
        },
        "input": {"input": []},
    }
    for param, change in cases.items():
        answer = client.post("/v1/responses", json={"model": "demo", "input": "hi", **change})
        assert answer.status_code == 400, (param, answer.text)
        assert answer.json()["error"]["param"] == param


async def test_nbchat_speaks_responses_to_its_own_server(serve: Serve) -> None:
    url = serve(create_app(tokens_per_second=5000)).url
    chat = nbchat.Chat(f"{url}/v1", model="demo", dialect="openai-responses", history=None)
    reply = await chat.send(PROMPT)
    assert reply.status == "done", reply.error
    assert reply.content == DemoModel().reply([{"role": "user", "content": PROMPT}])
