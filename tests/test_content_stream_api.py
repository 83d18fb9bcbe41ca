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


def _in_band(response: httpx.Response) -> dict[str, Any]:
    """The one error event every error on this route is (its client retries others)."""
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream"
    [error] = check_blocks(response.read())
    assert isinstance(error, dict)
    return error


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
        assert _in_band(missing) == {
            "error": "Session not found",
            "code": "NOT_FOUND",
            "status": 404,
        }


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
    error = _in_band(_post(client, body))
    assert error["code"] == "VALIDATION_ERROR" and named in error["error"]
    assert error["status"] == 400
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


def test_errors_before_the_stream_are_error_events(serve: Serve) -> None:
    model = ScriptedModel(pieces=list("abcdefgh"), delay=0.05)
    served = serve(create_app(model, users={"ann": "ann-token-1"}, max_concurrent=1))
    with served.client_for("ann-token-1") as ann, served.client_for("not-a-token") as anon:
        assert _in_band(_post(anon, {"message": "hi"}))["code"] == "AUTHENTICATION_ERROR"
        done: list[httpx.Response] = []
        running = threading.Thread(target=lambda: done.append(_post(ann, {"message": "one"})))
        running.start()
        wait_until(lambda: served.app.state.context.replies.active == 1)
        busy = _post(ann, {"message": "two"})  # the session's reply still runs
        assert _in_band(busy)["code"] == "TURN_IN_PROGRESS" and _in_band(busy)["status"] == 409
        other = ann.post("/sessions", json={}).json()["id"]
        limited = _post(ann, {"message": "three", "session_id": other})
        assert _in_band(limited)["code"] == "RATE_LIMITED"
        assert int(limited.headers["retry-after"]) >= 1
        running.join(10)
        # A resume after the end: nothing left, a stream that ends at once (not a 204
        # the hook would retry).
        last_id = [ln for ln in done[0].read().decode().split("\n") if ln.startswith("id: ")][-1]
        again = _post(ann, {"message": "one"}, **{"Last-Event-ID": last_id[4:]})
        assert again.status_code == 200 and again.read() == b""
        gone = _post(ann, {"message": "one"}, **{"Last-Event-ID": "nope:3"})
        assert _in_band(gone)["code"] == "NOT_FOUND"


def test_a_new_message_stops_a_reply_nobody_follows(serve: Serve) -> None:
    # The hook's Stop (or a reload) only closes the connection: the reply runs on for
    # the grace period, but the user's next message must not meet a 409 for it.
    model = ScriptedModel(pieces=["x"] * 500, delay=0.01)
    client = serve(create_app(model)).client
    with client.stream("POST", PATH, json={"message": "long one"}) as first:
        next(first.iter_bytes())  # read a little, then leave
    session_id = first.headers["x-session-id"]
    events = check_blocks(_post(client, {"message": "next"}).read())
    assert events[-1]["done"] is True
    stored = _messages(client, session_id)
    assert [(m["role"], m["content"][:8]) for m in stored][::2] == [
        ("user", "long one"),
        ("user", "next"),
    ]
    assert stored[1]["status"] == "stopped"
    assert "a new message was sent" in stored[1]["error"]["message"]


def test_a_wrong_method_is_answered_in_band(serve: Serve) -> None:
    client = serve(create_app(ScriptedModel())).client
    answer = client.get(PATH)
    assert answer.status_code == 200 and answer.headers["content-type"] == "text/event-stream"
    assert check_blocks(answer.read())[0]["code"] == "METHOD_NOT_ALLOWED"


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


def test_a_reply_nobody_follows_is_stopped(serve: Serve, monkeypatch: pytest.MonkeyPatch) -> None:
    from nbchat.server import sessions_api

    monkeypatch.setattr(sessions_api, "FOLLOW_WINDOW_S", 0.2)
    model = ScriptedModel(pieces=["x"] * 400, delay=0.01)
    client = serve(create_app(model, grace=0.0)).client
    session = client.post("/sessions", json={}).json()["id"]
    assert client.post(f"/sessions/{session}/messages", json={"message": "hi"}).is_success

    def stopped() -> bool:
        return bool(_messages(client, session)[-1]["status"] == "stopped")

    wait_until(stopped, timeout=5)
    error = _messages(client, session)[-1]["error"]
    assert error["code"] == "CLIENT_GONE"
    assert f"started by POST /sessions/{session}/messages within 0.2 s" in error["message"]
    assert model.produced < 200


def test_with_no_grace_a_started_reply_still_waits_for_its_follower(serve: Serve) -> None:
    client = serve(create_app(ScriptedModel(pieces=["a", "b"]), grace=0.0)).client
    session = client.post("/sessions", json={}).json()["id"]
    client.post(f"/sessions/{session}/messages", json={"message": "hi"})
    with client.stream("GET", f"/sessions/{session}/stream") as response:
        events = check_blocks(response.read())
    assert events[-1]["type"] == "complete" and events[-1]["content"] == "ab"


def test_the_same_words_after_a_stopped_reply_are_a_new_turn(serve: Serve) -> None:
    client = serve(create_app(ScriptedModel(pieces=["x"] * 200, delay=0.01))).client
    session = client.post("/sessions", json={}).json()["id"]
    client.post(f"/sessions/{session}/messages", json={"message": "hi"})
    assert client.post(f"/sessions/{session}/stop").json()["status"] == "stopped"
    again = client.post(f"/sessions/{session}/messages", json={"message": "hi"})
    assert again.status_code == 202
    roles = [(m["role"], m["status"]) for m in _messages(client, session)]
    assert roles[:2] == [("user", "done"), ("assistant", "stopped")] and len(roles) == 4


def test_a_body_not_declared_json_is_refused(serve: Serve) -> None:
    # A page on another origin can send text/plain without asking first: never a turn.
    client = serve(create_app(ScriptedModel())).client
    plain = {"content-type": "text/plain"}
    body = b'{"message": "hi"}'
    refused = client.post("/sessions", content=body, headers=plain)
    assert refused.status_code == 415
    assert "application/json" in refused.json()["error"]["message"]
    v1 = client.post("/v1/chat/completions", content=body, headers=plain)
    assert v1.status_code == 415 and v1.json()["error"]["code"] == "unsupported_media_type"
    in_band = _in_band(client.post(PATH, content=body, headers=plain))
    assert in_band["code"] == "UNSUPPORTED_MEDIA_TYPE" and in_band["status"] == 415
    assert client.get("/sessions").json()["sessions"] == []
    assert client.post("/sessions").status_code == 201  # no body: nothing to declare
    assert client.post("/sessions", json={}, headers={"content-type": "application/vnd.x+json"})


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
    assert all(h in allowed for h in ("authorization", "content-type", "last-event-id"))
    denied = httpx.post(served.url + "/sessions", headers={"Origin": ORIGIN})
    assert denied.status_code == 401  # the page can read why
    assert denied.headers["access-control-allow-origin"] == ORIGIN
    with served.client.stream(
        "POST", PATH, json={"message": "hi"}, headers={"Origin": ORIGIN}
    ) as r:
        r.read()
    exposed = r.headers["access-control-expose-headers"].lower()
    assert "x-session-id" in exposed and "location" in exposed
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
    with pytest.raises(ConfigurationError, match="without tokens"):
        create_app(ScriptedModel(), cors_origins=["*"])
    anyone = serve(create_app(ScriptedModel(), cors_origins=["*"], users={"a": "a-token-1"}))
    answer = httpx.get(anyone.url + "/health", headers={"Origin": "http://any.example"})
    assert answer.headers["access-control-allow-origin"] == "*"
    sdk = httpx.options(  # an SDK's own headers pass the preflight
        anyone.url + "/v1/chat/completions",
        headers={
            "Origin": "http://any.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,x-stainless-os,user-agent",
        },
    )
    assert sdk.status_code == 200
