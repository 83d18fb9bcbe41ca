"""Every stream ``nbchat serve`` sends reads the same to every SSE client: the content
type exactly ``text/event-stream``, no block without data (``retry:`` rides with the
first event), keep-alives that are lone comment lines, never events."""

from __future__ import annotations

import json
from typing import Any

import pytest

from nbchat.server import create_app, session_stream
from nbchat.stream.sse import decode
from tests.server_fixtures import ScriptedModel, Serve, serve

__all__ = ["serve"]  # the fixture, imported for pytest


def naive_messages(body: bytes) -> list[str]:
    """What a client that dispatches on every blank line (fetch-event-source) gets: the
    data of each block, ``""`` for a block without data lines."""
    out = []
    for block in body.decode().split("\n\n"):
        if not block.strip():
            continue
        data = [ln[5:].lstrip() for ln in block.split("\n") if ln.startswith("data:")]
        out.append("\n".join(data))
    return out


def check_blocks(body: bytes) -> list[Any]:
    """Every block carries data that is JSON (or [DONE]): a JSON.parse on every message,
    as spec 000's hook does, never throws."""
    parsed = []
    for data in naive_messages(body):
        assert data, f"a block without data in {body[:300]!r}"
        parsed.append(data if data == "[DONE]" else json.loads(data))
    return parsed


def test_openai_route_stream(serve: Serve) -> None:
    client = serve(create_app(tokens_per_second=5000)).client
    ask = {"model": "demo", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    with client.stream("POST", "/v1/chat/completions", json=ask) as response:
        assert response.headers.get_list("content-type") == ["text/event-stream"]
        body = response.read()
    assert check_blocks(body)[-1] == "[DONE]"


def test_sessions_stream_retry_rides_with_the_first_event(serve: Serve) -> None:
    client = serve(create_app(tokens_per_second=5000)).client
    session = client.post("/sessions", json={}).json()["id"]
    with client.stream("POST", f"/sessions/{session}/chat", json={"message": "hi"}) as r:
        assert r.headers.get_list("content-type") == ["text/event-stream"]
        body = r.read()
    first = body.split(b"\n\n")[0]
    assert first.startswith(b"retry: 2000\nid: ") and b"\ndata: " in first
    events = check_blocks(body)
    assert events[-1]["type"] == "complete"
    # A WHATWG parser sees the same events and the reconnection time.
    assert [e.event for e in decode([body])][-1] == "complete"
    with client.stream("GET", f"/sessions/{session}/stream") as resumed:
        assert resumed.headers.get_list("content-type") == ["text/event-stream"]
        assert check_blocks(resumed.read())[-1]["type"] == "complete"


def test_keepalives_are_comment_lines_not_events(
    serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(session_stream, "PING_S", 0.05)
    model = ScriptedModel(pieces=["slow", " reply"], delay=0.3)
    client = serve(create_app(model)).client
    session = client.post("/sessions", json={}).json()["id"]
    with client.stream("POST", f"/sessions/{session}/chat", json={"message": "hi"}) as r:
        body = r.read()
    assert b": ping\n" in body and b": ping\n\n" not in body
    events = check_blocks(body)
    assert [e["type"] for e in events] == ["chunk", "chunk", "complete"]
    assert "".join(e.get("content", "") for e in events[:2]) == "slow reply"


def test_progress_stream_content_type(serve: Serve) -> None:
    client = serve(create_app(tokens_per_second=5000)).client
    with client.stream(
        "POST", "/api/generate-stream", json={"prompt": "a plan for a strong back"}
    ) as r:
        assert r.headers.get_list("content-type") == ["text/event-stream"]
        first = next(r.iter_raw())
    assert first.startswith(b"data: ")


def test_an_unknown_route_lists_the_routes_there_are(serve: Serve) -> None:
    client = serve(create_app(tokens_per_second=5000)).client
    answer = client.post("/v1/embeddings", json={})
    assert answer.status_code == 404
    message = answer.json()["error"]["message"]
    assert message.startswith("No route /v1/embeddings. The routes are: ")
    for route in (
        "POST /v1/chat/completions",
        "GET /v1/models",
        "POST /sessions/{session_id}/chat",
    ):
        assert route in message
    assert "lives under /v1" not in message


def test_a_re_sent_chat_request_joins_the_reply_instead_of_a_second_turn(serve: Serve) -> None:
    client = serve(create_app(ScriptedModel(pieces=["a", "b", "c"], delay=0.05))).client
    session = client.post("/sessions", json={}).json()["id"]

    def post(message: str, **headers: str) -> list[Any]:
        with client.stream(
            "POST", f"/sessions/{session}/chat", json={"message": message}, headers=headers
        ) as r:
            assert r.status_code == 200, r.read()
            return check_blocks(r.read())

    first = post("hello")
    again = post("hello")  # a client's automatic retry, seconds later
    assert again == first and again[-1]["type"] == "complete"
    stored = client.get(f"/sessions/{session}").json()["messages"]
    assert [m["role"] for m in stored] == ["user", "assistant"]
    # With an Idempotency-Key: the same key joins, a new key is a new turn.
    keyed = post("hello", **{"Idempotency-Key": "k1"})
    assert post("hello", **{"Idempotency-Key": "k1"}) == keyed
    post("hello", **{"Idempotency-Key": "k2"})
    stored = client.get(f"/sessions/{session}").json()["messages"]
    assert [m["role"] for m in stored] == ["user", "assistant"] * 3


def test_keepalives_flow_while_events_that_show_nothing_arrive(
    serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio
    from collections.abc import AsyncIterator, Sequence

    from nbchat.events import Finished, ReasoningDelta, TextDelta
    from nbchat.server.model import Opened

    class Thinker(ScriptedModel):
        async def stream(self, messages: Sequence[Any], options: Any = None) -> AsyncIterator[Any]:
            yield Opened()
            for _ in range(12):  # reasoning: not rendered on the sessions stream
                await asyncio.sleep(0.05)
                yield ReasoningDelta("hmm")
            yield TextDelta("done")
            yield Finished("stop")

    monkeypatch.setattr(session_stream, "PING_S", 0.2)
    client = serve(create_app(Thinker())).client
    session = client.post("/sessions", json={}).json()["id"]
    with client.stream("POST", f"/sessions/{session}/chat", json={"message": "hi"}) as r:
        body = r.read()
    assert body.count(b": ping\n") >= 2, body[:200]
    assert [e["type"] for e in check_blocks(body)] == ["chunk", "complete"]


def test_the_same_message_later_is_a_new_turn(
    serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nbchat.server import turns

    client = serve(create_app(ScriptedModel(pieces=["a"]))).client
    session = client.post("/sessions", json={}).json()["id"]
    for _ in range(2):
        with client.stream("POST", f"/sessions/{session}/chat", json={"message": "yes"}) as r:
            r.read()
        monkeypatch.setattr(turns, "REPOST_WINDOW_S", 0.0)  # the second: "later"
    stored = client.get(f"/sessions/{session}").json()["messages"]
    assert [m["role"] for m in stored] == ["user", "assistant"] * 2
