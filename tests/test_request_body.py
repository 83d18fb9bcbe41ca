"""The ``events`` and ``progress`` formats reach endpoints shaped their own way: the URL
as given when it names a route, the body from ``Chat(request_body=...)``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

import nbchat
from nbchat.server import ServerThread

pytestmark = pytest.mark.timeout(30)


def sse(kind: str, payload: dict[str, Any]) -> bytes:
    return f"event: {kind}\ndata: {json.dumps(payload)}\n\n".encode()


@pytest.fixture
def spec002() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A spec-002-shaped route: POST /api/v1/chat/send with {conversation_id, text}."""
    seen: list[dict[str, Any]] = []

    async def send(request: Request) -> Response:
        body = json.loads(await request.body())
        seen.append(body)
        if set(body) != {"conversation_id", "text"}:
            return JSONResponse({"error": "conversation_id and text are required"}, 400)
        events = [
            sse("start", {"conversation_id": body["conversation_id"], "mode": "green"}),
            sse("message", {"delta": f"You said: {body['text']}", "role": "assistant"}),
            sse("done", {"tool_calls_count": 0}),
        ]
        return StreamingResponse(iter(events), media_type="text/event-stream")

    thread = ServerThread(Starlette(routes=[Route("/api/v1/chat/send", send, methods=["POST"])]))
    url = thread.start()
    yield f"{url}/api/v1/chat/send", seen
    thread.stop()


async def test_a_template_body_to_the_route_as_given(spec002: Any) -> None:
    url, seen = spec002
    chat = nbchat.Chat(
        url,
        model="sigma",
        dialect="events",
        history=None,
        request_body={"conversation_id": "c-42", "text": "{message}"},
    )
    reply = await chat.send("How risky is my portfolio?")
    assert reply.status == "done", reply.error
    assert reply.content == "You said: How risky is my portfolio?"
    assert seen == [{"conversation_id": "c-42", "text": "How risky is my portfolio?"}]


async def test_a_function_body_and_the_default_body(spec002: Any) -> None:
    url, seen = spec002

    def body(message: str, messages: list[Any]) -> dict[str, Any]:
        return {"conversation_id": f"turn-{len(messages)}", "text": message.upper()}

    chat = nbchat.Chat(url, model="sigma", dialect="events", history=None, request_body=body)
    reply = await chat.send("hi")
    assert reply.content == "You said: HI" and seen[-1]["conversation_id"] == "turn-1"
    # Without request_body the format's own {"message"} goes: this route refuses it, and
    # the error says so (the URL was used as given: no "/chat" appended).
    plain = nbchat.Chat(url, model="sigma", dialect="events", history=None)
    failed = await plain.send("hi")
    assert failed.status == "error" and failed.error is not None
    assert "conversation_id and text are required" in failed.error["message"]
    assert seen[-1] == {"message": "hi"}


def test_request_body_is_checked_where_it_is_given() -> None:
    with pytest.raises(nbchat.ConfigurationError, match="events and progress formats"):
        nbchat.Chat("http://x/v1", model="m", history=None, request_body={"a": "{message}"})
    with pytest.raises(nbchat.ConfigurationError, match="dict template"):
        nbchat.Chat("http://x/c", model="m", dialect="events", history=None, request_body=3)  # type: ignore[arg-type]


async def test_a_failing_body_function_is_named(spec002: Any) -> None:
    url, _seen = spec002

    def broken(message: str, messages: list[Any]) -> dict[str, Any]:
        raise KeyError("conversation")

    chat = nbchat.Chat(url, model="s", dialect="events", history=None, request_body=broken)
    reply = await chat.send("hi")
    assert reply.error is not None and "request_body function failed" in reply.error["message"]


def test_session_urls_still_get_their_chat_route() -> None:
    from nbchat.config import Endpoint
    from nbchat.dialects import get_dialect

    dialect = get_dialect("events")
    for base, expected in [
        ("http://h/sessions/abc", "http://h/sessions/abc/chat"),
        ("http://h/sessions/abc/chat", "http://h/sessions/abc/chat"),
        ("http://h/api/v1/chat/send", "http://h/api/v1/chat/send"),
    ]:
        request = dialect.request(Endpoint(base, "m", dialect="events"), [])
        assert request.url == expected


@pytest.fixture
def enveloped() -> Iterator[str]:
    """A spec-001 server as its code shows: every answer in {success, data}."""
    saved = [
        {"id": f"m{i}", "role": "user" if i % 2 == 0 else "assistant", "content": f"text {i}"}
        for i in range(11)
    ]

    async def create(request: Request) -> Response:
        return JSONResponse({"success": True, "data": {"id": "s-new", "title": "t"}}, 201)

    async def load(request: Request) -> Response:
        session = request.path_params["sid"]
        if session == "odd":
            return JSONResponse({"success": True, "data": {"id": "odd", "items": []}})
        data = {"session": {"id": session, "title": "saved", "messages": saved}}
        return JSONResponse({"success": True, "data": data})

    async def chat(request: Request) -> Response:
        events = [
            sse("chunk", {"type": "chunk", "content": "ok"}),
            sse("complete", {"type": "complete", "content": "ok"}),
        ]
        return StreamingResponse(iter(events), media_type="text/event-stream")

    app = Starlette(
        routes=[
            Route("/sessions", create, methods=["POST"]),
            Route("/sessions/{sid}", load, methods=["GET"]),
            Route("/sessions/{sid}/chat", chat, methods=["POST"]),
        ]
    )
    thread = ServerThread(app)
    url = thread.start()
    yield url
    thread.stop()


async def test_the_session_client_reads_success_data_envelopes(enveloped: str) -> None:
    fresh = nbchat.Chat(enveloped, session="new")
    reply = await fresh.send("hi")
    assert fresh.session_id == "s-new" and reply.content == "ok"
    reopened = nbchat.Chat(enveloped, session="s1")
    await reopened.connect()
    assert [m.content for m in reopened.messages] == [f"text {i}" for i in range(11)]
    odd = nbchat.Chat(enveloped, session="odd")
    with pytest.raises(nbchat.ProtocolError, match="without the session's messages") as caught:
        await odd.connect()
    assert "items" in str(caught.value)  # it quotes what it got


async def test_the_events_format_reads_spec_000s_route() -> None:
    from nbchat.server import create_app
    from tests.server_fixtures import ScriptedModel, upstream_failure

    model = ScriptedModel(pieces=["Hel", "lo"])
    thread = ServerThread(create_app(model, users={"ann": "ann-token-1"}))
    url = thread.start() + "/functions/v1/openrouter-chat"
    try:
        body = {"message": "{message}", "patterns_data": {"streak": 2}}
        chat = nbchat.Chat(url, dialect="events", api_key="ann-token-1", request_body=body)
        reply = await chat.send("hi")
        assert reply.content == "Hello" and reply.error is None  # {"done": true} ends it
        assert "streak" in str(model.calls[0][0]["content"])
        model.fail_at, model.fail_with = 1, upstream_failure()
        failed = await chat.send("again")
        assert failed.content == "Hel" and failed.error is not None
        assert failed.error["code"] == "PROVIDER_ERROR"
        assert failed.error["message"].startswith("AI_ERROR: ")  # the server's code kept
    finally:
        thread.stop()


def test_the_events_format_ends_at_done_sentinel() -> None:
    from nbchat.dialects.spec_events import SpecEventsDialect
    from nbchat.events import Finished, TextDelta
    from nbchat.stream.sse import ServerSentEvent

    dialect = SpecEventsDialect()
    events = [*dialect.feed(ServerSentEvent(data='{"content": "a"}'))]
    events += dialect.feed(ServerSentEvent(data="[DONE]"))
    events += dialect.feed(ServerSentEvent(data='{"content": "late"}'))
    assert events == [TextDelta("a"), Finished("stop", "[DONE]")]
