"""The embedded server over real loopback HTTP: OpenAI shapes, pacing, errors, disconnects."""

from __future__ import annotations

import json
import logging
import math
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from nbchat.errors import ConfigurationError, InterruptedStream
from nbchat.server import DemoModel, ServerThread, create_app, ensure_embedded_server
from nbchat.server.embedded import demo_tokens_per_second
from nbchat.server.thread import bind_socket
from tests.server_fixtures import ScriptedModel, upstream_failure

PROMPT = [{"role": "user", "content": "How do I plot a histogram of ages in pandas?"}]


def sse_data(lines: list[str]) -> list[str]:
    """The ``data`` payloads of an SSE body given as lines (one line per event here)."""
    payloads = []
    for line in lines:
        if line.startswith("data:"):
            payloads.append(line[5:].removeprefix(" "))
        else:
            assert line == "" or line.startswith(":"), f"unexpected SSE line {line!r}"
    return payloads


def stream_chat(
    client: httpx.Client, body: dict[str, Any]
) -> tuple[httpx.Response, list[Any], list[float]]:
    """POST a streaming request; return the response, decoded chunks (``"[DONE]"`` kept
    as a string) and the arrival time of each."""
    chunks: list[Any] = []
    times: list[float] = []
    with client.stream("POST", "/v1/chat/completions", json=body) as response:
        for line in response.iter_lines():
            for payload in sse_data([line]):
                times.append(time.monotonic())
                chunks.append(payload if payload == "[DONE]" else json.loads(payload))
    return response, chunks, times


@pytest.fixture
def serve() -> Iterator[Callable[[Starlette], httpx.Client]]:
    """Start apps in ServerThreads; hand back a client for each; clean everything up."""
    threads: list[ServerThread] = []
    clients: list[httpx.Client] = []

    def start(app: Starlette) -> httpx.Client:
        thread = ServerThread(app)
        threads.append(thread)
        client = httpx.Client(base_url=thread.start(), timeout=10)
        clients.append(client)
        return client

    yield start
    for client in clients:
        client.close()
    for thread in threads:
        thread.stop()


@pytest.fixture
def app() -> Starlette:
    return create_app(tokens_per_second=500)


@pytest.fixture
def client(serve: Callable[[Starlette], httpx.Client], app: Starlette) -> httpx.Client:
    return serve(app)


def test_stream_shape_matches_openai(client: httpx.Client, app: Starlette) -> None:
    body = {
        "model": "demo",
        "messages": PROMPT,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    response, chunks, _ = stream_chat(client, body)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert chunks[-1] == "[DONE]"
    first, *content, final, usage, _done = chunks
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    for chunk in [first, *content, final, usage]:
        assert chunk["object"] == "chat.completion.chunk"
        assert chunk["id"].startswith("chatcmpl-")
        assert chunk["id"] == first["id"]
        assert chunk["model"] == "demo"
        assert isinstance(chunk["created"], int)
    for chunk in content:
        (choice,) = chunk["choices"]
        assert choice["index"] == 0
        assert choice["finish_reason"] is None
        assert list(choice["delta"]) == ["content"]
    tokens = DemoModel().tokens(PROMPT)
    assert [c["choices"][0]["delta"]["content"] for c in content] == tokens
    assert "".join(tokens) == DemoModel().reply(PROMPT)
    assert final["choices"] == [{"index": 0, "delta": {}, "finish_reason": "stop"}]
    assert usage["choices"] == []
    assert usage["usage"]["completion_tokens"] == len(tokens)
    assert usage["usage"]["total_tokens"] == (
        usage["usage"]["prompt_tokens"] + usage["usage"]["completion_tokens"]
    )
    stats = app.state.stats
    assert (stats.streams_started, stats.streams_completed) == (1, 1)
    assert stats.streams_disconnected == 0
    assert not stats.disconnected.is_set()
    assert stats.last_request == body
    assert stats.tokens_streamed == len(tokens)


def test_stream_without_usage_and_model_defaults_to_demo(client: httpx.Client) -> None:
    _, chunks, _ = stream_chat(client, {"messages": PROMPT, "stream": True})
    assert chunks[-1] == "[DONE]"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert all("usage" not in c for c in chunks[:-1])


def test_stream_max_tokens_finishes_with_length(client: httpx.Client) -> None:
    body = {
        "model": None,
        "messages": PROMPT,
        "stream": True,
        "max_tokens": 5,
        "stream_options": {"include_usage": True},
    }
    _, chunks, _ = stream_chat(client, body)
    content = [c["choices"][0]["delta"]["content"] for c in chunks[1:-3]]
    assert content == DemoModel().tokens(PROMPT)[:5]
    assert chunks[-3]["choices"][0]["finish_reason"] == "length"
    assert chunks[-2]["usage"]["completion_tokens"] == 5


def test_tokens_are_paced_and_not_buffered(serve: Callable[[Starlette], httpx.Client]) -> None:
    client = serve(create_app(tokens_per_second=20))
    body = {"messages": PROMPT, "stream": True, "max_tokens": 12}
    _, chunks, times = stream_chat(client, body)
    # Content chunks are chunks[1:13]; 11 gaps of 1/20 s = 0.55 s when paced.
    first, last = times[1], times[12]
    assert len(chunks) == 15
    assert last - first >= 0.55 / 2


def test_non_stream_completion(client: httpx.Client, app: Starlette) -> None:
    response = client.post("/v1/chat/completions", json={"model": "demo", "messages": PROMPT})
    assert response.status_code == 200
    data = response.json()
    assert data["object"] == "chat.completion"
    assert data["id"].startswith("chatcmpl-")
    assert data["model"] == "demo"
    (choice,) = data["choices"]
    assert choice["message"] == {"role": "assistant", "content": DemoModel().reply(PROMPT)}
    assert choice["finish_reason"] == "stop"
    usage = data["usage"]
    assert usage["completion_tokens"] == len(DemoModel().tokens(PROMPT))
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert app.state.stats.requests == 1
    assert app.state.stats.streams_started == 0


def test_non_stream_max_tokens_and_content_parts(client: httpx.Client) -> None:
    messages = [{"role": "user", "content": [{"type": "text", "text": PROMPT[0]["content"]}]}]
    response = client.post(
        "/v1/chat/completions", json={"messages": messages, "max_completion_tokens": 7}
    )
    choice = response.json()["choices"][0]
    assert choice["finish_reason"] == "length"
    assert choice["message"]["content"] == "".join(DemoModel().tokens(PROMPT)[:7])
    assert response.json()["usage"]["completion_tokens"] == 7


BAD_REQUESTS: list[tuple[Any, str, str]] = [
    ([1, 2], "invalid_request", "JSON object"),
    ({"messages": []}, "invalid_request", "'messages'"),
    ({}, "invalid_request", "'messages'"),
    ({"messages": "hi"}, "invalid_request", "'messages'"),
    ({"messages": ["hi"]}, "invalid_request", "'messages[0]'"),
    ({"messages": [{"role": "robot", "content": "x"}]}, "invalid_request", "'messages[0].role'"),
    ({"messages": [{"role": "user"}]}, "invalid_request", "'messages[0].content'"),
    ({"messages": [{"role": "user", "content": 5}]}, "invalid_request", "'messages[0].content'"),
    (
        {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
        "invalid_request",
        "'messages[0].content[0]'",
    ),
    (
        {"messages": [*PROMPT, {"role": "assistant", "content": "x"}]},
        "invalid_request",
        "'messages[1].role'",
    ),
    ({"messages": PROMPT, "stream": "yes"}, "invalid_request", "'stream'"),
    ({"messages": PROMPT, "stream_options": []}, "invalid_request", "'stream_options'"),
    (
        {"messages": PROMPT, "stream_options": {"include_usage": 1}},
        "invalid_request",
        "'stream_options.include_usage'",
    ),
    ({"messages": PROMPT, "max_tokens": 0}, "invalid_request", "'max_tokens'"),
    ({"messages": PROMPT, "max_tokens": "5"}, "invalid_request", "'max_tokens'"),
    ({"messages": PROMPT, "max_tokens": True}, "invalid_request", "'max_tokens'"),
    ({"messages": PROMPT, "model": 3}, "invalid_request", "'model'"),
]


@pytest.mark.parametrize(("body", "code", "names"), BAD_REQUESTS)
def test_invalid_requests_are_400_naming_the_field(
    client: httpx.Client, app: Starlette, body: Any, code: str, names: str
) -> None:
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["code"] == code
    assert names in error["message"]
    assert app.state.stats.requests == 1


@pytest.mark.parametrize("raw", [b"{not json", b"", b"\xff\xfe\x00", b"   "])
def test_non_json_body_is_400(client: httpx.Client, raw: bytes) -> None:
    response = client.post(
        "/v1/chat/completions", content=raw, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error == {
        "message": error["message"],
        "type": "invalid_request_error",
        "code": "invalid_json",
        "param": None,
    }
    assert "not valid JSON" in error["message"]


def test_unknown_model_is_404(client: httpx.Client, app: Starlette) -> None:
    body = {"model": "gpt-4o", "messages": PROMPT, "stream": True}
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 404
    assert response.json() == {
        "error": {
            "message": "The model 'gpt-4o' does not exist; available: demo",
            "type": "invalid_request_error",
            "code": "model_not_found",
            "param": "model",
        }
    }
    assert app.state.stats.last_request == body
    assert app.state.stats.streams_started == 0


def test_unknown_route_and_method_answer_in_openai_shape(client: httpx.Client) -> None:
    missing = client.post("/chat/completions", json={})
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    assert "/v1" in missing.json()["error"]["message"]
    wrong = client.get("/v1/chat/completions")
    assert wrong.status_code == 405
    assert wrong.json()["error"]["code"] == "method_not_allowed"


def test_client_disconnect_stops_the_stream(serve: Callable[[Starlette], httpx.Client]) -> None:
    slow = create_app(tokens_per_second=50)
    client = serve(slow)
    stats = slow.state.stats
    body = {"messages": PROMPT, "stream": True}
    with client.stream("POST", "/v1/chat/completions", json=body) as response:
        received = 0
        for line in response.iter_lines():
            received += line.startswith("data:")
            if received == 4:
                break  # leaving the block closes the connection mid-stream
    assert stats.disconnected.wait(5)
    assert stats.streams_disconnected == 1
    assert stats.streams_started == 1
    assert stats.streams_completed == 0
    produced = stats.tokens_streamed
    time.sleep(0.2)  # 10 tokens' worth at 50 tokens/s
    assert stats.tokens_streamed == produced
    assert produced < len(DemoModel().tokens(PROMPT))


def test_health_and_models(client: httpx.Client) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    models = client.get("/v1/models").json()
    assert models["object"] == "list"
    assert [m["id"] for m in models["data"]] == ["demo"]
    assert models["data"][0]["object"] == "model"
    index = client.get("/").json()
    assert index["base_url"].endswith("/v1")
    assert {"POST /functions/v1/openrouter-chat", "POST /v1/responses"} <= set(index["endpoints"])


def test_create_app_rejects_bad_pace() -> None:
    for bad in (0, -1.0, math.nan):
        with pytest.raises(ConfigurationError, match="tokens_per_second"):
            create_app(tokens_per_second=bad)
    create_app(tokens_per_second=math.inf)


def test_server_thread_lifecycle() -> None:
    thread = ServerThread(create_app())
    assert thread.url is None
    assert not thread.is_running
    with thread:
        url = thread.url
        assert url is not None
        assert url.startswith("http://127.0.0.1:")
        assert thread.start() == url  # idempotent while running
        assert httpx.get(url + "/health", timeout=5).json() == {"status": "ok"}
    assert thread.url is None
    assert not thread.is_running
    thread.stop()  # idempotent
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/health", timeout=5)


def test_server_thread_reports_a_busy_port() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigurationError, match=str(port)):
            ServerThread(create_app(), port=port).start()


def test_stop_ends_open_streams_cleanly(caplog: pytest.LogCaptureFixture) -> None:
    thread = ServerThread(create_app(tokens_per_second=5), graceful_timeout=3)
    url = thread.start()
    with httpx.Client(base_url=url, timeout=10) as client:
        body = {"messages": PROMPT, "stream": True}
        with client.stream("POST", "/v1/chat/completions", json=body) as response:
            lines = response.iter_lines()
            assert next(lines).startswith("data:")
            started = time.monotonic()
            thread.stop()
            # Well within the graceful timeout: the stream noticed the shutdown.
            assert time.monotonic() - started < 1.5
            assert not thread.is_running
            rest = sse_data(list(lines))
    # The body ends without [DONE]: clients see an interrupted reply, not a full one.
    assert "[DONE]" not in rest
    assert len(rest) < 5
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_embedded_server_is_shared_and_serves(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NBCHAT_DEMO_TPS", "2000")
    url = ensure_embedded_server()
    assert url.startswith("http://127.0.0.1:")
    assert url.endswith("/v1")
    assert ensure_embedded_server() == url
    with httpx.Client(base_url=url, timeout=10) as client:
        assert client.get("/models").json()["data"][0]["id"] == "demo"
        body = {"messages": PROMPT, "stream": True}
        with client.stream("POST", "/chat/completions", json=body) as response:
            data = sse_data(list(response.iter_lines()))
    assert data[-1] == "[DONE]"
    text = "".join(json.loads(d)["choices"][0]["delta"].get("content", "") for d in data[:-1])
    assert text == DemoModel().reply(PROMPT)


def test_demo_pace_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NBCHAT_DEMO_TPS", raising=False)
    assert 30 <= demo_tokens_per_second() <= 60
    monkeypatch.setenv("NBCHAT_DEMO_TPS", "120.5")
    assert demo_tokens_per_second() == 120.5
    for bad in ("fast", "0", "-3", "nan"):
        monkeypatch.setenv("NBCHAT_DEMO_TPS", bad)
        with pytest.raises(ConfigurationError, match="NBCHAT_DEMO_TPS"):
            demo_tokens_per_second()


def test_server_sockets_say_tcp_so_responses_are_not_delayed() -> None:
    # asyncio sets TCP_NODELAY on accepted connections only for sockets created
    # with IPPROTO_TCP; without it each response waited ~40 ms (Nagle + delayed ACK).
    sock = bind_socket("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP
    finally:
        sock.close()


def test_v1_reports_model_failures_as_openai_errors(
    serve: Callable[[Starlette], httpx.Client],
) -> None:
    failing = ScriptedModel(name="demo", fail_before_open=upstream_failure("upstream is down"))
    client = serve(create_app(failing))
    body = {"messages": PROMPT, "stream": True}
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "ai_error"
    assert "upstream is down" in response.json()["error"]["message"]

    broken = ScriptedModel(
        name="demo", fail_at=2, fail_with=InterruptedStream("the upstream closed mid-reply")
    )
    client = serve(create_app(broken))
    _, chunks, _ = stream_chat(client, body)
    assert "[DONE]" not in chunks
    assert [c["choices"][0]["delta"].get("content") for c in chunks[1:3]] == ["Hello", ","]
    assert chunks[-1]["error"]["code"] == "ai_error"
    assert "closed mid-reply" in chunks[-1]["error"]["message"]
    whole = client.post("/v1/chat/completions", json={"messages": PROMPT})
    assert whole.status_code == 502
    assert whole.json()["error"]["code"] == "ai_error"
