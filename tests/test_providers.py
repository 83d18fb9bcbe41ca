"""Every dialect and preset through the controller over real loopback, and offline replay.

The 21 provider recordings are served byte-exact with their content type, whole and
one byte per write; the spec streams (events, progress) are served by hand-made routes.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

import nbchat
from nbchat import ChatController, ConfigurationError
from nbchat.server import ServerThread
from tests.conftest import FIXTURES, DemoServer
from tests.test_fixtures import NAMES, TRANSCRIPTS, dialect_of

SPEC_001 = (
    b'event: chunk\ndata: {"type": "chunk", "content": "Hel"}\n\n'
    b'event: chunk\ndata: {"type": "chunk", "content": "lo!"}\n\n'
    b'event: complete\ndata: {"type": "complete", "content": "Hello!"}\n\n'
)
STAGES = [("started", 5), ("generating", 40), ("validating", 70), ("complete", 100)]


class Fixtures:
    def __init__(self, url: str, headers: list[dict[str, str]], bodies: list[Any]) -> None:
        self.url = url
        self.headers = headers
        self.bodies = bodies


@pytest.fixture(scope="module")
def fixtures_server() -> Iterator[Fixtures]:
    headers: list[dict[str, str]] = []
    bodies: list[Any] = []

    async def serve(request: Request) -> Response:
        headers.append({k.lower(): v for k, v in request.headers.items()})
        bodies.append(json.loads(await request.body() or b"null"))
        chunking, name = request.path_params["chunking"], request.path_params["name"]
        if name == "spec-001":
            return Response(SPEC_001, media_type="text/event-stream")
        if name == "spec-004":
            return StreamingResponse(_progress(), media_type="text/event-stream")
        transcript = TRANSCRIPTS[name]
        body = (FIXTURES / name).read_bytes()
        extra = transcript.get("headers") or {}
        if chunking == "whole":
            return Response(body, headers=extra, media_type=transcript["content_type"])

        async def drip() -> AsyncIterator[bytes]:
            for i in range(len(body)):
                yield body[i : i + 1]

        return StreamingResponse(drip(), headers=extra, media_type=transcript["content_type"])

    app = Starlette(routes=[Route("/{chunking}/{name}/{rest:path}", serve, methods=["POST"])])
    thread = ServerThread(app)
    url = thread.start()
    try:
        yield Fixtures(url, headers, bodies)
    finally:
        thread.stop()


async def _progress() -> AsyncIterator[bytes]:
    for stage, percent in STAGES:
        step = {"stage": stage, "progress": percent, "message": f"{stage}…",
                "estimatedTimeRemaining": (100 - percent) * 10}  # fmt: skip
        yield f"data: {json.dumps(step)}\n\n".encode()
        await asyncio.sleep(0.01)
    yield b'data: {"type": "result", "data": {"exercises": 3}}\n\n'


@pytest.mark.parametrize("chunking", ["whole", "bytes"])
@pytest.mark.parametrize("name", NAMES, ids=NAMES)
async def test_recorded_stream_through_the_controller(
    fixtures_server: Fixtures, name: str, chunking: str
) -> None:
    want = TRANSCRIPTS[name]["expected"]
    chat = ChatController(
        f"{fixtures_server.url}/{chunking}/{name}",
        api_key="sk-test",
        model="m",
        dialect=dialect_of(name),
        history=None,
    )
    message = await chat.send("hi")
    assert message.content == want["text"]
    assert message.reasoning == want["reasoning"]
    assert message.refusal == want["refusal"]
    assert [(c["id"], c["name"], c["input"]) for c in message.tool_calls] == [
        (c["id"], c["name"], c["input"]) for c in want["tool_calls"]
    ]
    assert all(c["status"] == "done" for c in message.tool_calls)
    assert message.finish_reason == want["finish_reason_normalized"]
    usage = want["usage"]
    if usage is not None:  # else nbchat counts streamed deltas as an estimate
        assert message.metrics.get("input_tokens") == usage["input_tokens"]
        assert message.metrics.get("output_tokens") == usage["output_tokens"]
    else:
        assert "input_tokens" not in message.metrics
    if want["error"] is None:
        assert message.status == "done" and message.error is None
    else:
        assert message.status == "error" and message.error is not None
        assert message.error["code"] == "PROVIDER_ERROR"
        assert want["error"]["message"] in message.error["message"]


async def test_truncated_stream_of_every_dialect_is_interrupted(
    fixtures_server: Fixtures, tmp_path: Path
) -> None:
    seen: set[str] = set()
    for name in NAMES:
        dialect = dialect_of(name)
        if dialect in seen or TRANSCRIPTS[name]["expected"]["error"] is not None:
            continue
        seen.add(dialect)
        body = (FIXTURES / name).read_bytes()
        cut = tmp_path / name
        cut.write_bytes(body[: len(body) * 2 // 3])
        chat = ChatController(replay=cut, dialect=dialect, replay_speed=100, history=None)
        message = await chat.send("hi")
        assert message.status == "interrupted", (name, message.error)
        assert message.error is not None and message.error["code"] == "INTERRUPTED"
    assert seen == {"openai-chat", "openai-responses", "anthropic", "ai-sdk", "ai-sdk-v4"}


async def test_the_events_dialect_speaks_spec_001(fixtures_server: Fixtures) -> None:
    chat = ChatController(
        f"{fixtures_server.url}/whole/spec-001/sessions/s1", model="m", dialect="events",
        history=None,
    )  # fmt: skip
    message = await chat.send("hello there")
    assert message.status == "done" and message.content == "Hello!"
    assert fixtures_server.bodies[-1] == {"message": "hello there"}


async def test_the_progress_dialect_shows_stages_and_the_result(
    fixtures_server: Fixtures,
) -> None:
    chat = ChatController(
        f"{fixtures_server.url}/whole/spec-004/api/generate-stream", model="m",
        dialect="progress", history=None,
    )  # fmt: skip
    stages: list[str] = []
    chat.subscribe(lambda _c: stages.append(chat.messages[-1].progress["stage"])
                   if chat.messages[-1].progress else None)  # fmt: skip
    message = await chat.send("Generate a home exercise plan for a sprained ankle")
    assert message.status == "done", message.error
    assert message.result == {"exercises": 3}
    assert message.progress is not None and message.progress["stage"] == "complete"
    assert message.progress["percent"] == 100
    assert [s for i, s in enumerate(stages) if i == 0 or stages[i - 1] != s] == [
        s for s, _ in STAGES
    ]
    info = message.to_info()
    assert info["result"] == {"exercises": 3} and info["progress"]["stage"] == "complete"


# -- presets -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "variable"),
    [("openai", "OPENAI_API_KEY"), ("anthropic", "ANTHROPIC_API_KEY"),
     ("openrouter", "OPENROUTER_API_KEY")],
)  # fmt: skip
def test_a_missing_key_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, provider: str, variable: str
) -> None:
    monkeypatch.delenv(variable, raising=False)
    with pytest.raises(ConfigurationError, match=f"set the {variable} environment variable"):
        ChatController(provider=provider, model="m", history=None)


def test_preset_fields_and_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-from-env-0123")
    chat = ChatController(provider="anthropic", model="claude-x", history=None)
    assert chat.endpoint.base_url == "https://api.anthropic.com/v1"
    assert chat.endpoint.dialect == "anthropic" and chat.endpoint.api_key == "sk-ant-from-env-0123"
    assert "sk-ant" not in repr(chat.endpoint)
    local = ChatController(provider="ollama", model="llama3.2", history=None)
    assert local.endpoint.base_url == "http://localhost:11434/v1" and local.endpoint.api_key is None
    monkeypatch.setenv("OLLAMA_HOST", "gpu-box:11434")
    assert ChatController(provider="ollama", model="x", history=None).endpoint.base_url == (
        "http://gpu-box:11434/v1"
    )
    with pytest.raises(ConfigurationError, match="known providers: anthropic, ollama, openai"):
        ChatController(provider="bard", model="m", history=None)
    with pytest.raises(ConfigurationError, match="model is required with provider='vllm'"):
        ChatController(provider="vllm", history=None)
    responses = ChatController(
        provider="openai", model="gpt-x", api_key="k", dialect="openai-responses", history=None
    )
    assert responses.endpoint.dialect == "openai-responses"


async def test_a_preset_talks_to_the_embedded_backend(demo_server: DemoServer) -> None:
    chat = ChatController(provider="vllm", base_url=demo_server.base_url, model="demo",
                          history=None)  # fmt: skip
    message = await chat.send("hello")
    assert message.status == "done" and len(message.content) > 20
    assert demo_server.stats.last_request["model"] == "demo"


async def test_anthropic_preset_sends_its_auth_headers(
    fixtures_server: Fixtures, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-0123456789")
    chat = ChatController(
        provider="anthropic", model="claude-x", system="Be brief.", history=None,
        base_url=f"{fixtures_server.url}/whole/anthropic-text.sse",
    )  # fmt: skip
    message = await chat.send("hi")
    assert message.content == "Hello there!"
    sent = fixtures_server.headers[-1]
    assert sent["x-api-key"] == "sk-ant-test-0123456789" and "authorization" not in sent
    assert sent["anthropic-version"] == "2023-06-01"
    body = fixtures_server.bodies[-1]
    assert body["system"] == "Be brief." and body["model"] == "claude-x" and body["stream"]
    assert body["messages"] == [{"role": "user", "content": "hi"}]


async def test_switching_models_keeps_the_conversation(demo_server: DemoServer) -> None:
    chat = ChatController(demo_server.base_url, model="demo", history=None)
    first = await chat.send("one")
    chat.model = "demo-2"
    assert chat.endpoint.model == "demo-2"
    await chat.send("two")
    sent = demo_server.stats.last_request
    assert sent["model"] == "demo-2"
    assert sent["messages"] == [
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": first.content},
        {"role": "user", "content": "two"},
    ]
    assert chat.messages[1].model == "demo" and chat.messages[3].model == "demo-2"


# -- parse_stream, record, replay ----------------------------------------------------------


def test_parse_stream_is_public() -> None:
    body = (FIXTURES / "anthropic-tool-use.sse").read_bytes()
    reply = nbchat.parse_stream(body, "anthropic", "text/event-stream")
    assert reply.finish_reason == "tool_calls" and reply.tool_calls[0].name
    assert reply.usage is not None and reply.usage.total_tokens == 442


async def test_record_then_replay_at_the_recorded_pace(
    slow_demo_server: DemoServer, tmp_path: Path
) -> None:
    path = tmp_path / "demo.jsonl"
    live = ChatController(slow_demo_server.base_url, api_key="sk-secret-never-saved-123",
                          model="demo", history=None)  # fmt: skip
    with live.record(path):
        started = time.monotonic()
        original = await live.send("Explain SSE")
        took = time.monotonic() - started
    await live.send("not recorded")
    text = path.read_text()
    assert "sk-secret" not in text and text.count('"turn"') == 1
    assert original.status == "done" and took > 1.0

    replay = ChatController(replay=path, history=None)
    assert replay.endpoint.model == "demo" and replay.endpoint.dialect == "openai-chat"
    assert "replay of" in replay.where
    started = time.monotonic()
    again = await replay.send("anything")
    replayed = time.monotonic() - started
    assert again.status == "done" and again.content == original.content
    assert 0.7 * took < replayed < 1.5 * took + 0.3

    fast = ChatController(replay=path, replay_speed=4.0, history=None)
    started = time.monotonic()
    quick = await fast.send("x")
    assert quick.content == original.content
    assert time.monotonic() - started < took / 2
    # Its measurements are the recorded ones, not four times the rate.
    recorded, sped_up = original.metrics, quick.metrics
    assert 0.6 < sped_up["tokens_per_s"] / recorded["tokens_per_s"] < 1.6, (recorded, sped_up)
    assert 0.6 < sped_up["duration_s"] / recorded["duration_s"] < 1.6, (recorded, sped_up)


async def test_replay_of_a_raw_provider_body(tmp_path: Path) -> None:
    chat = ChatController(replay=FIXTURES / "anthropic-text.sse", dialect="anthropic",
                          history=None)  # fmt: skip
    first = await chat.send("hi")
    second = await chat.send("again")  # a recording with one turn plays it again
    assert first.content == second.content == "Hello there!"
    # A raw body has no timings: no made-up rate, time to first token or duration.
    assert not {"tokens_per_s", "ttft_s", "duration_s"} & set(first.metrics)
    assert first.metrics.get("output_tokens")
    with pytest.raises(ConfigurationError, match="cannot read the recording"):
        ChatController(replay=tmp_path / "missing.jsonl", history=None)
