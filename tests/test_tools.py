"""The tool loop over loopback: a server replays real recorded tool-call streams (OpenAI
chat, parallel calls, Responses, Anthropic), the kernel runs the tools, and the
follow-up request's body is checked in each provider's format. Errors, bad arguments,
unknown tools, the round cap, approval, Stop during a plain and an async tool, and the
context after a kernel restart."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from nbchat import Chat
from nbchat.server import ServerThread
from nbchat.tool_run import ABANDONED, DECLINED, STOPPED

pytestmark = pytest.mark.timeout(60)

FIXTURES = Path(__file__).parent / "fixtures" / "llm-streams"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def openai_text(text: str) -> bytes:
    delta = json.dumps({"choices": [{"index": 0, "delta": {"content": text}}]})
    stop = json.dumps({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    return f"data: {delta}\n\ndata: {stop}\n\ndata: [DONE]\n\n".encode()


@dataclass
class Script:
    """A loopback server that answers the n-th POST with ``bodies[n]`` (the last one
    again after that) and keeps every request body."""

    url: str
    bodies: list[bytes]
    requests: list[dict[str, Any]] = field(default_factory=list)

    def bodies_of(self, key: str) -> list[Any]:
        return [r.get(key) for r in self.requests]


@pytest.fixture
def script() -> Iterator[Script]:
    state = Script("", [])

    async def answer(request: Request) -> Response:
        state.requests.append(json.loads(await request.body()))
        body = state.bodies[min(len(state.requests), len(state.bodies)) - 1]

        async def chunks() -> Any:
            for block in body.split(b"\n\n"):
                if block.strip():
                    yield block + b"\n\n"

        return StreamingResponse(chunks(), media_type="text/event-stream")

    app = Starlette(routes=[Route("/{path:path}", answer, methods=["POST"])])
    thread = ServerThread(app)
    state.url = thread.start()
    yield state
    thread.stop()


def chat_on(script: Script, *bodies: bytes, dialect: str = "openai-chat", **kw: Any) -> Chat:
    script.bodies = list(bodies)
    return Chat(f"{script.url}/v1", model="m", dialect=dialect, history=None, **kw)


def weather(city: str) -> dict[str, str]:
    """The weather in a city now.

    Args:
        city: The city's name.
    """
    return {"city": city, "sky": "sunny"}


async def test_openai_chat_round_trip(script: Script) -> None:
    chat = chat_on(
        script, fixture("openai-chat-tool-call.sse"), openai_text("Sunny."), tools=[weather]
    )
    chat.tools.add(weather, name="get_weather")
    reply = await chat.send("Weather in New York?")
    assert reply.status == "done" and reply.content == "Sunny."
    [call] = reply.tool_calls
    assert call["status"] == "done" and call["round"] == 1
    assert json.loads(call["result"]) == {"city": "New York City", "sky": "sunny"}
    first, second = script.requests
    offered = [t["function"]["name"] for t in first["tools"]]
    assert offered == ["weather", "get_weather"] and second["tools"] == first["tools"]
    assert first["tools"][0]["function"]["parameters"]["properties"]["city"] == {
        "type": "string",
        "description": "The city's name.",
    }
    assert second["messages"][1:] == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_4XzlGBLtUe9dy3GVNV4jhq7h",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"New York City"}'},
                }
            ],
        },
        {
            "role": "tool",
            "tool_call_id": "call_4XzlGBLtUe9dy3GVNV4jhq7h",
            "content": '{"city": "New York City", "sky": "sunny"}',
        },
    ]


async def test_parallel_calls_are_all_answered_in_order(script: Script) -> None:
    ran: list[str] = []

    def GetWeatherArgs(city: str, country: str, units: str = "c") -> str:
        ran.append(f"weather {city}")
        return f"12 degrees in {city}"

    def get_stock_price(ticker: str, exchange: str) -> float:
        ran.append(f"stock {ticker}")
        return 123.5

    chat = chat_on(
        script,
        fixture("openai-chat-parallel-tool-calls.sse"),
        openai_text("Done."),
        tools=[GetWeatherArgs, get_stock_price],
    )
    reply = await chat.send("Weather and a stock price")
    assert reply.status == "done" and ran == ["weather Edinburgh", "stock AAPL"]
    messages = script.requests[1]["messages"]
    assert [len(m.get("tool_calls") or []) for m in messages] == [0, 2, 0, 0]
    assert [m["content"] for m in messages[2:]] == ["12 degrees in Edinburgh", "123.5"]


async def test_anthropic_round_trip(script: Script) -> None:
    def get_weather(location: str) -> str:
        return f"Rain in {location}"

    chat = chat_on(
        script,
        fixture("anthropic-tool-use.sse"),
        fixture("anthropic-text.sse"),
        dialect="anthropic",
        tools=[get_weather],
    )
    reply = await chat.send("Weather in Paris?")
    assert reply.status == "done", reply.error
    first, second = script.requests
    assert first["tools"] == [
        {
            "name": "get_weather",
            "description": "",
            "input_schema": {
                "properties": {"location": {"type": "string"}},
                "required": ["location"],
                "type": "object",
            },
        }
    ]
    assert second["messages"][1:] == [
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "I'll check the current weather in Paris for you."},
                {
                    "type": "tool_use",
                    "id": "toolu_01NRLabsLyVHZPKxbKvkfSMn",
                    "name": "get_weather",
                    "input": {"location": "Paris"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_01NRLabsLyVHZPKxbKvkfSMn",
                    "content": "Rain in Paris",
                }
            ],
        },
    ]
    # The reply is one message: the text before the call, the call, the text after.
    assert reply.content.startswith("I'll check the current weather in Paris for you.")
    assert reply.tool_calls[0]["at"] == len("I'll check the current weather in Paris for you.")


async def test_responses_round_trip(script: Script) -> None:
    def get_weather(location: str, unit: str = "celsius") -> str:
        return f"70 {unit} in {location}"

    chat = chat_on(
        script,
        fixture("openai-responses-function-call.sse"),
        fixture("openai-responses-text.sse"),
        dialect="openai-responses",
        tools=[get_weather],
    )
    reply = await chat.send("Weather in San Francisco?")
    assert reply.status == "done", reply.error
    first, second = script.requests
    assert first["tools"][0]["type"] == "function" and first["tools"][0]["name"] == "get_weather"
    assert second["input"][1:] == [
        {
            "type": "function_call",
            "call_id": "call_Q7pq6EfVGRnauPLWSSYBGJ1l",
            "name": "get_weather",
            "arguments": '{"location":"San Francisco, CA","unit":"fahrenheit"}',
        },
        {
            "type": "function_call_output",
            "call_id": "call_Q7pq6EfVGRnauPLWSSYBGJ1l",
            "output": "70 fahrenheit in San Francisco, CA",
        },
    ]


async def test_a_failing_tool_bad_arguments_and_unknown_tools_are_told_to_the_model(
    script: Script,
) -> None:
    def get_weather(city: str) -> str:
        raise RuntimeError("the weather service is down")

    chat = chat_on(
        script, fixture("openai-chat-tool-call.sse"), openai_text("Sorry."), tools=[get_weather]
    )
    reply = await chat.send("Weather?")
    assert reply.status == "done" and reply.tool_calls[0]["status"] == "error"
    told = script.requests[1]["messages"][-1]["content"]
    assert told == "The tool raised RuntimeError: the weather service is down"

    def get_weather_strict(count: int) -> str:
        return "never"

    chat = chat_on(script, fixture("openai-chat-tool-call.sse"), openai_text("Ok."))
    chat.tools.add(get_weather_strict, name="get_weather")
    script.requests.clear()
    await chat.send("Weather?")
    told = script.requests[1]["messages"][-1]["content"]
    assert told.startswith("invalid arguments for get_weather: count: Field required")

    chat = chat_on(
        script, fixture("openai-chat-tool-call.sse"), openai_text("Ok."), tools=[weather]
    )
    script.requests.clear()
    await chat.send("Weather?")
    told = script.requests[1]["messages"][-1]["content"]
    assert told == "There is no tool named 'get_weather'; the tools are: weather."


async def test_the_round_cap_ends_the_reply_naming_it(script: Script) -> None:
    chat = chat_on(script, fixture("openai-chat-tool-call.sse"), max_tool_rounds=3)
    chat.tools.add(weather, name="get_weather")
    reply = await chat.send("Loop forever")
    assert reply.status == "error" and reply.error is not None
    assert reply.error["code"] == "TOOL_ROUNDS" and "max_tool_rounds=3" in reply.error["message"]
    # Three rounds ran; the fourth request's calls are shown, not run.
    assert len(script.requests) == 4
    assert [(c["round"], c["status"]) for c in reply.tool_calls] == [
        (1, "done"),
        (2, "done"),
        (3, "done"),
        (4, "error"),
    ]
    assert reply.tool_calls[3]["result"].startswith("Not run: the reply reached its limit")


async def test_approval_by_policy_and_nobody_to_ask(script: Script) -> None:
    ran: list[str] = []

    def get_weather(city: str) -> str:
        ran.append(city)
        return "sunny"

    chat = chat_on(script, fixture("openai-chat-tool-call.sse"), openai_text("Ok."))
    chat.tools.add(get_weather, approve=True)
    asked: list[str] = []

    async def policy(call: Any, tool: Any) -> bool:
        asked.append(f"{tool.name}:{call.input}")
        return False

    chat.approve = policy
    reply = await chat.send("Weather?")
    assert asked == ["get_weather:{'city': 'New York City'}"] and ran == []
    assert reply.tool_calls[0]["status"] == "denied"
    assert script.requests[1]["messages"][-1]["content"] == DECLINED
    chat.approve = lambda call, tool: True
    script.requests.clear()
    await chat.send("Again")
    assert ran == ["New York City"]
    # No policy and no widget to ask: declined, never left waiting.
    chat.approve = None
    script.requests.clear()
    reply = await chat.send("Once more")
    assert reply.tool_calls[-1]["status"] == "denied" and ran == ["New York City"]


async def test_stop_during_a_plain_tool_abandons_it(script: Script) -> None:
    release = threading.Event()
    started = threading.Event()

    def get_weather(city: str) -> str:
        started.set()
        release.wait(10)
        return "late"

    chat = chat_on(script, fixture("openai-chat-tool-call.sse"), openai_text("x"))
    chat.tools.add(get_weather)
    turn = chat.send("Weather?")
    while not started.is_set():
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    assert chat.notice == "running get_weather"
    chat.stop()
    reply = await asyncio.wait_for(turn.wait(), 2)
    release.set()
    assert reply.status == "stopped" and len(script.requests) == 1
    call = reply.tool_calls[0]
    assert call["status"] == "cancelled" and call["result"] == f"{STOPPED} {ABANDONED}"
    # The next turn tells the model the call did not complete.
    script.bodies = [openai_text("ok")]
    await chat.send("Never mind")
    sent = script.requests[-1]["messages"]
    assert {"role": "tool", "tool_call_id": call["id"], "content": call["result"]} in sent


async def test_stop_during_an_async_tool_cancels_it(script: Script) -> None:
    cancelled = asyncio.Event()

    async def get_weather(city: str) -> str:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "never"

    chat = chat_on(script, fixture("openai-chat-tool-call.sse"), openai_text("x"))
    chat.tools.add(get_weather)
    turn = chat.send("Weather?")
    while chat.notice != "running get_weather":
        await asyncio.sleep(0.01)
    chat.stop()
    reply = await asyncio.wait_for(turn.wait(), 2)
    assert cancelled.is_set() and reply.status == "stopped"
    assert reply.tool_calls[0]["status"] == "cancelled"
    assert reply.tool_calls[0]["result"] == STOPPED


async def test_a_plain_tool_does_not_block_the_loop(script: Script) -> None:
    def get_weather(city: str) -> str:
        import time

        time.sleep(0.5)
        return "slow but sunny"

    chat = chat_on(script, fixture("openai-chat-tool-call.sse"), openai_text("ok"))
    chat.tools.add(get_weather)
    turn = chat.send("Weather?")
    ticks = 0
    while not turn.done():
        await asyncio.sleep(0.02)
        ticks += 1
    assert ticks > 10  # the loop kept turning while the tool slept in its thread


async def test_tool_rounds_survive_a_restart(script: Script, tmp_path: Path) -> None:
    history = tmp_path / "h.sqlite3"
    script.bodies = [fixture("openai-chat-tool-call.sse"), openai_text("Sunny.")]
    chat = Chat(f"{script.url}/v1", model="m", history=history, name="t")
    chat.tools.add(weather, name="get_weather")
    await chat.send("Weather?")
    expected = chat.context
    again = Chat(f"{script.url}/v1", model="m", history=history, name="t")
    # Before its tools are added again, the rounds are told as text: a request without
    # tools must not carry tool messages (providers refuse them).
    assert [m["role"] for m in again.context] == ["user", "assistant"]
    told = again.context[1]["content"]
    assert told.startswith('[called get_weather({"city":"New York City"})]')
    assert '[result: {"city": "New York City", "sky": "sunny"}]' in told and told.endswith("Sunny.")
    again.tools.add(weather, name="get_weather")
    assert again.context == expected
    assert [m["role"] for m in expected] == ["user", "assistant", "tool", "assistant"]


async def test_usage_adds_up_over_the_rounds(script: Script) -> None:
    usage = json.dumps({"choices": [], "usage": {"prompt_tokens": 60, "completion_tokens": 5}})
    answer = openai_text("Sunny.").replace(
        b"data: [DONE]", f"data: {usage}\n\ndata: [DONE]".encode()
    )
    chat = chat_on(script, fixture("openai-chat-tool-call.sse"), answer)
    chat.tools.add(weather, name="get_weather")
    reply = await chat.send("Weather?")
    # The recorded first round reported 44 in / 16 out.
    assert reply.metrics["input_tokens"] == 44 + 60 and reply.metrics["output_tokens"] == 16 + 5


async def test_ollama_whole_call_in_one_chunk(script: Script) -> None:
    ran: list[str] = []

    def run_command(command: str) -> str:
        ran.append(command)
        return "a.txt b.txt"

    chat = chat_on(
        script,
        fixture("ollama-openai-tool-call.sse"),
        openai_text("Two files."),
        tools=[run_command],
    )
    reply = await chat.send("List the files")
    assert ran == ["ls -a"] and reply.content == "Two files."
    assert script.requests[1]["messages"][-1] == {
        "role": "tool",
        "tool_call_id": "call_lbcjwr0u",
        "content": "a.txt b.txt",
    }


def test_a_call_cut_short_by_a_dead_kernel_is_shown_as_stopped() -> None:
    from nbchat.history.store import MessageRecord
    from nbchat.message import CUT_SHORT, Message

    call = {"id": "c1", "name": "slow", "arguments": "{}", "input": {}, "status": "running"}
    record = MessageRecord(
        "m1", "assistant", "", "streaming", 1.0, extra={"tool_calls": [{**call, "round": 1}]}
    )
    restored = Message.from_record(record)
    assert restored.status == "interrupted"
    assert restored.tool_calls[0]["status"] == "cancelled"
    assert restored.tool_calls[0]["result"] == CUT_SHORT


async def test_a_broken_approval_policy_fails_the_call_not_the_reply(script: Script) -> None:
    chat = chat_on(script, fixture("openai-chat-tool-call.sse"), openai_text("Ok."))
    chat.tools.add(weather, name="get_weather", approve=True)
    chat.approve = lambda call, tool: 1 / 0
    reply = await chat.send("Weather?")
    assert reply.status == "done"
    call = reply.tool_calls[0]
    assert call["status"] == "error" and "ZeroDivisionError" in call["result"]


async def test_calls_waiting_their_turn_are_queued_not_done(script: Script) -> None:
    seen: list[list[tuple[str, str]]] = []

    def GetWeatherArgs(city: str, country: str, units: str = "c") -> str:
        return "12"

    def get_stock_price(ticker: str, exchange: str) -> float:
        return 1.0

    chat = chat_on(script, fixture("openai-chat-parallel-tool-calls.sse"), openai_text("Done."))
    chat.tools.add(GetWeatherArgs, approve=True)
    chat.tools.add(get_stock_price)

    def policy(call: Any, tool: Any) -> bool:
        seen.append([(c["name"], c["status"]) for c in chat.messages[-1].tool_calls])
        return True

    chat.approve = policy
    await chat.send("Both")
    assert seen == [[("GetWeatherArgs", "waiting"), ("get_stock_price", "queued")]]


async def test_calls_no_round_ran_say_so(script: Script) -> None:
    ran: list[str] = []
    cut = fixture("openai-chat-tool-call.sse").replace(b"data: [DONE]\n\n", b"")
    chat = chat_on(script, cut)  # the stream breaks off after the call, before [DONE]
    chat.tools.add(lambda city: ran.append(city), name="get_weather")
    reply = await chat.send("Weather?")
    assert reply.status == "interrupted" and ran == []
    call = reply.tool_calls[0]
    assert call["status"] == "cancelled" and call["result"].startswith("Not run")


async def test_an_async_tool_that_swallows_stop_still_stops_the_reply(script: Script) -> None:
    async def get_weather(city: str) -> str:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            return "swallowed"
        return "never"

    chat = chat_on(script, fixture("openai-chat-tool-call.sse"), openai_text("x"))
    chat.tools.add(get_weather)
    turn = chat.send("Weather?")
    while chat.notice != "running get_weather":
        await asyncio.sleep(0.01)
    chat.stop()
    reply = await asyncio.wait_for(turn.wait(), 2)
    assert reply.status == "stopped" and len(script.requests) == 1
