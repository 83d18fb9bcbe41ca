"""Spec 000's route (``POST /functions/v1/openrouter-chat``), starting a reply without a
stream (``POST /sessions/{id}/messages``) for ``EventSource``, and ``--cors``."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest

from nbchat.errors import ConfigurationError
from nbchat.server import create_app
from nbchat.server.content_stream_api import DEFAULT_TITLE, MAX_CONTEXT_CHARS, PATH
from tests.server_fixtures import ScriptedModel, Serve, serve, upstream_failure, wait_until
from tests.test_sse_body import check_blocks

__all__ = ["serve"]  # the fixture, imported for pytest


def _post(client: httpx.Client, body: dict[str, Any], **headers: str) -> httpx.Response:
    with client.stream("POST", PATH, json=body, headers=headers) as response:
        response.read()
    return response


def _messages(client: httpx.Client, session_id: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = client.get(f"/sessions/{session_id}").json()["messages"]
    return messages


def test_each_event_is_one_json_object_with_the_text_once(serve: Serve) -> None:
    model = ScriptedModel(pieces=["Hel", "lo", "!"])
    client = serve(create_app(model)).client
    response = _post(client, {"message": "hi", "patterns_data": {"streak": 3}})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream"
    body = response.read()
    assert body.startswith(b"retry: 2000\nid: ")
    events = check_blocks(body)
    assert [e.get("content") for e in events[:-1]] == ["Hel", "lo", "!"]
    done = events[-1]
    assert done["done"] is True and "content" not in done and done["finish_reason"] == "stop"
    session_id = response.headers["x-session-id"]
    assert done["session_id"] == session_id
    assert done["usage"] == {"input_tokens": 7, "output_tokens": 3}
    stored = _messages(client, session_id)
    assert [(m["role"], m["content"]) for m in stored] == [("user", "hi"), ("assistant", "Hello!")]
    assert stored[1]["id"] == done["message_id"]
    # patterns_data is context for the model, never saved
    system = model.calls[0][0]
    assert system["role"] == "system" and '{"streak": 3}' in str(system["content"])
    session = client.get(f"/sessions/{session_id}").json()
    assert session["title"] == DEFAULT_TITLE and session["system_prompt"] == ""


def test_turns_without_a_session_go_to_the_callers_own_chat(serve: Serve) -> None:
    model = ScriptedModel(pieces=["ok"])
    served = serve(create_app(model, users={"alice": "alice-token", "bob": "bob-token-1"}))
    with served.client_for("alice-token") as alice, served.client_for("bob-token-1") as bob:
        first = _post(alice, {"message": "one"}).headers["x-session-id"]
        assert _post(alice, {"message": "two"}).headers["x-session-id"] == first
        assert _post(bob, {"message": "one"}).headers["x-session-id"] != first
        assert len(_messages(alice, first)) == 4
        assert model.calls[1][-3:] == [
            {"role": "user", "content": "one"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "two"},
        ]
        # A named session, in the body or the header; another user's is not found.
        own = alice.post("/sessions", json={"title": "mine"}).json()["id"]
        assert _post(alice, {"message": "x", "session_id": own}).headers["x-session-id"] == own
        assert _post(alice, {"message": "y"}, **{"X-Session-Id": own}).status_code == 200
        assert len(_messages(alice, own)) == 4
        missing = _post(bob, {"message": "z", "session_id": own})
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "NOT_FOUND"


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({}, "'message' is required"),
        ({"message": ""}, "must not be empty"),
        ({"message": "hi", "session_id": 7}, "'session_id'"),
        ({"message": "hi", "patterns_data": "x" * MAX_CONTEXT_CHARS}, "'patterns_data'"),
    ],
)
def test_a_bad_body_is_named_and_saves_nothing(
    serve: Serve, body: dict[str, Any], named: str
) -> None:
    client = serve(create_app(ScriptedModel())).client
    response = _post(client, body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR" and named in error["message"]
    assert client.get("/sessions").json()["sessions"] == []


def test_a_re_sent_request_joins_and_last_event_id_resumes(serve: Serve) -> None:
    client = serve(create_app(ScriptedModel(pieces=list("abcdef"), delay=0.02))).client
    results: list[httpx.Response] = []
    threads = [
        threading.Thread(target=lambda: results.append(_post(client, {"message": "hi"})))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert [r.status_code for r in results] == [200, 200]
    bodies = [check_blocks(r.read()) for r in results]
    assert bodies[0] == bodies[1]  # the library's re-POST joined the running reply
    session_id = results[0].headers["x-session-id"]
    assert [m["role"] for m in _messages(client, session_id)] == ["user", "assistant"]
    # Reconnecting with the id of the 2nd event: the rest, once.
    second = results[0].read().split(b"\n\n")[1]
    event_id = next(ln[4:] for ln in second.decode().split("\n") if ln.startswith("id: "))
    rest = check_blocks(_post(client, {"message": "hi"}, **{"Last-Event-ID": event_id}).read())
    assert "".join(e.get("content", "") for e in rest) == "cdef" and rest[-1]["done"]


def test_a_failure_mid_reply_is_the_last_event(serve: Serve) -> None:
    model = ScriptedModel(pieces=["a", "b"], fail_at=1, fail_with=upstream_failure())
    client = serve(create_app(model)).client
    response = _post(client, {"message": "hi"})
    events = check_blocks(response.read())
    assert events[0] == {"content": "a"}
    assert events[-1]["code"] == "AI_ERROR" and "127.0.0.1:9" in events[-1]["error"]
    saved = _messages(client, response.headers["x-session-id"])[1]
    assert saved["status"] == "error" and saved["content"] == "a"


# -- POST /sessions/{id}/messages: a reply to follow with an EventSource ------------------


def test_a_reply_started_without_a_stream_is_followed_at_its_stream(serve: Serve) -> None:
    client = serve(create_app(ScriptedModel(pieces=["a", "b"], delay=0.02))).client
    session = client.post("/sessions", json={}).json()["id"]
    started = client.post(f"/sessions/{session}/messages", json={"message": "hi"})
    assert started.status_code == 202
    body = started.json()
    assert body["stream"] == f"/sessions/{session}/stream" == started.headers["location"]
    again = client.post(f"/sessions/{session}/messages", json={"message": "hi"})
    assert again.json()["message_id"] == body["message_id"]  # a re-send joins
    with client.stream("GET", body["stream"]) as response:
        raw = response.read()
    events = check_blocks(raw)
    assert [e["type"] for e in events] == ["chunk", "chunk", "complete"]
    assert events[-1]["content"] == "ab" and events[-1]["message_id"] == body["message_id"]
    last = client.get(f"/sessions/{session}").json()["messages"][-1]
    assert last["status"] == "done" and last["content"] == "ab"
    # An EventSource reconnecting after the end (with the last id) is told to stop.
    last_id = [ln[4:] for ln in raw.decode().split("\n") if ln.startswith("id: ")][-1]
    assert client.get(body["stream"], headers={"Last-Event-ID": last_id}).status_code == 204
    bad = client.post(f"/sessions/{session}/messages", json={"message": 5})
    assert bad.status_code == 400 and "'message'" in bad.json()["error"]["message"]


def test_a_reply_nobody_follows_stops_after_the_grace_period(serve: Serve) -> None:
    model = ScriptedModel(pieces=["x"] * 400, delay=0.01)
    client = serve(create_app(model, grace=0.2)).client
    session = client.post("/sessions", json={}).json()["id"]
    assert client.post(f"/sessions/{session}/messages", json={"message": "hi"}).is_success

    def stopped() -> bool:
        return bool(_messages(client, session)[-1]["status"] == "stopped")

    wait_until(stopped, timeout=5)
    assert _messages(client, session)[-1]["error"]["code"] == "CLIENT_GONE"
    assert model.produced < 200


# -- CORS ---------------------------------------------------------------------------------

ORIGIN = "http://localhost:3000"


def test_allowed_origins_get_cors_headers_even_on_a_401(serve: Serve) -> None:
    app = create_app(ScriptedModel(), users={"alice": "alice-token"}, cors_origins=[ORIGIN])
    served = serve(app, token="alice-token")
    preflight = httpx.options(
        served.url + PATH,
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,last-event-id",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    allowed = preflight.headers["access-control-allow-headers"].lower()
    assert all(h in allowed for h in ("authorization", "last-event-id", "idempotency-key"))
    denied = httpx.post(served.url + "/sessions", headers={"Origin": ORIGIN})
    assert denied.status_code == 401  # the page can read why
    assert denied.headers["access-control-allow-origin"] == ORIGIN
    with served.client.stream(
        "POST", PATH, json={"message": "hi"}, headers={"Origin": ORIGIN}
    ) as r:
        r.read()
    assert "x-session-id" in r.headers["access-control-expose-headers"].lower()
    other = httpx.options(
        served.url + PATH,
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert other.headers.get("access-control-allow-origin") != "http://evil.example"


def test_no_cors_unless_asked_and_bad_origins_are_refused(serve: Serve) -> None:
    served = serve(create_app(ScriptedModel()))
    asked = httpx.options(
        served.url + "/sessions",
        headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in asked.headers
    for bad in (["localhost:3000"], ["http://localhost:3000/app"], ORIGIN):
        with pytest.raises(ConfigurationError, match="origin"):
            create_app(ScriptedModel(), cors_origins=bad)  # type: ignore[arg-type]
    anyone = serve(create_app(ScriptedModel(), cors_origins=["*"]))
    answer = httpx.get(anyone.url + "/health", headers={"Origin": "http://any.example"})
    assert answer.headers["access-control-allow-origin"] == "*"
