"""Access control over loopback: tokens, per-user isolation, 429 limits, 413, access log."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from nbchat.errors import ConfigurationError
from nbchat.server import create_app
from nbchat.server.access import Users, load_users, parse_users
from tests.server_fixtures import EventReader, ScriptedModel, Serve, serve, wait_until

__all__ = ["serve"]  # the fixture, imported for pytest

ALICE = "alice-token-0123456789"
BOB = "bob-token-9876543210"
USERS = {"alice": ALICE, "bob": BOB}
NOT_FOUND = {"success": False, "error": {"message": "Session not found", "code": "NOT_FOUND"}}


def slow_model() -> ScriptedModel:
    return ScriptedModel(pieces=[f"t{i} " for i in range(400)], delay=0.01)


def starts(client: httpx.Client, session_id: str) -> bool:
    """Whether a turn starts streaming in the session (then stopped at once)."""
    with client.stream("POST", f"/sessions/{session_id}/chat", json={"message": "hi"}) as r:
        if r.status_code != 200:
            return False
        EventReader(r).take(1)
        client.post(f"/sessions/{session_id}/stop")
        return True


def test_every_route_but_health_needs_a_token(serve: Serve) -> None:
    served = serve(create_app(users={"default": ALICE}))
    anonymous = served.client
    assert anonymous.get("/health").json() == {"status": "ok"}
    for method, path in [
        ("GET", "/"),
        ("GET", "/sessions"),
        ("POST", "/sessions"),
        ("GET", "/sessions/x"),
        ("POST", "/sessions/x/chat"),
        ("GET", "/sessions/x/stream"),
        ("GET", "/nowhere"),
    ]:
        response = anonymous.request(method, path)
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.json() == {
            "success": False,
            "error": {
                "message": "Authentication required: send 'Authorization: Bearer <token>'.",
                "code": "AUTHENTICATION_ERROR",
            },
        }
    wrong = anonymous.get("/sessions", headers={"Authorization": "Bearer not-the-token"})
    assert wrong.status_code == 401
    assert wrong.json()["error"]["message"] == "Invalid bearer token."
    assert "not-the-token" not in wrong.text
    basic = anonymous.get("/sessions", headers={"Authorization": f"Basic {ALICE}"})
    assert basic.status_code == 401
    # /v1 answers in OpenAI's shape so OpenAI clients raise AuthenticationError.
    v1 = anonymous.get("/v1/models")
    assert v1.status_code == 401
    assert v1.json()["error"]["code"] == "invalid_api_key"
    with served.client_for(ALICE) as client:
        assert client.get("/sessions").status_code == 200
        assert client.get("/v1/models").status_code == 200
        assert client.get("/").json()["auth"] is True


def test_users_see_only_their_own_sessions(serve: Serve) -> None:
    served = serve(create_app(ScriptedModel(), users=USERS))
    with served.client_for(ALICE) as alice, served.client_for(BOB) as bob:
        mine = alice.post("/sessions", json={"title": "alice's"}).json()["id"]
        with alice.stream("POST", f"/sessions/{mine}/chat", json={"message": "hi"}) as r:
            last = EventReader(r).take()[-1]
        assert last.event == "complete"
        for method, path, body in [
            ("GET", f"/sessions/{mine}", None),
            ("DELETE", f"/sessions/{mine}", None),
            ("POST", f"/sessions/{mine}/chat", {"message": "let me in"}),
            ("GET", f"/sessions/{mine}/stream", None),
            ("POST", f"/sessions/{mine}/stop", None),
        ]:
            response = bob.request(method, path, json=body)
            assert (response.status_code, response.json()) == (404, NOT_FOUND), path
        stolen = bob.get(f"/sessions/{mine}/stream", headers={"Last-Event-ID": last.id})
        assert stolen.status_code == 404
        assert bob.get("/sessions").json() == {"sessions": []}
        theirs = bob.post("/sessions").json()["id"]
        assert [s["id"] for s in bob.get("/sessions").json()["sessions"]] == [theirs]
        assert [s["id"] for s in alice.get("/sessions").json()["sessions"]] == [mine]
        assert len(alice.get(f"/sessions/{mine}").json()["messages"]) == 2


def test_concurrency_limit_is_429_with_retry_after_per_token(serve: Serve) -> None:
    model = slow_model()
    served = serve(create_app(model, users=USERS, max_concurrent=1))
    with served.client_for(ALICE) as alice, served.client_for(BOB) as bob:
        first, second = (alice.post("/sessions").json()["id"] for _ in range(2))
        with alice.stream("POST", f"/sessions/{first}/chat", json={"message": "hi"}) as r:
            EventReader(r).take(1)
            refused = alice.post(f"/sessions/{second}/chat", json={"message": "hi"})
            assert refused.status_code == 429
            assert int(refused.headers["retry-after"]) >= 1
            assert refused.json()["success"] is False
            assert refused.json()["error"]["code"] == "RATE_LIMITED"
            assert "limit 1" in refused.json()["error"]["message"]
            v1 = alice.post(
                "/v1/chat/completions", json={"messages": [{"role": "user", "content": "x"}]}
            )
            assert v1.status_code == 429
            assert v1.json()["error"]["code"] == "rate_limit_exceeded"
            assert "retry-after" in v1.headers
            # Another token has its own slots.
            other = bob.post("/sessions").json()["id"]
            with bob.stream("POST", f"/sessions/{other}/chat", json={"message": "hi"}) as b:
                assert b.status_code == 200
                EventReader(b).take(1)
                bob.post(f"/sessions/{other}/stop")
            alice.post(f"/sessions/{first}/stop")
        # The slot is free again once the reply ended.
        assert starts(alice, second)
        # Nothing was saved for the refused turn.
        stored = alice.get(f"/sessions/{second}").json()["messages"]
        assert [m["content"] for m in stored if m["role"] == "user"] == ["hi"]


def test_bodies_over_the_limit_are_413(serve: Serve) -> None:
    served = serve(create_app(ScriptedModel(), max_body=1000))
    client = served.client
    session_id = client.post("/sessions").json()["id"]
    big = {"message": "x" * 2000}
    response = client.post(f"/sessions/{session_id}/chat", json=big)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert "1000 bytes" in response.json()["error"]["message"]

    def chunked() -> Iterator[bytes]:  # no Content-Length: counted while reading
        yield b'{"message": "'
        for _ in range(20):
            yield b"y" * 100
        yield b'"}'

    streamed = client.post(
        f"/sessions/{session_id}/chat",
        content=chunked(),
        headers={"content-type": "application/json"},
    )
    assert streamed.status_code == 413
    v1 = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": big}]})
    assert v1.status_code == 413
    assert "error" in v1.json()
    assert client.get(f"/sessions/{session_id}").json()["messages"] == []
    ok = client.post(f"/sessions/{session_id}/chat", json={"message": "small"})
    assert ok.status_code == 200


def test_access_log_has_one_line_per_request_without_secrets(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="nbchat.server")
    served = serve(create_app(ScriptedModel(), users=USERS))
    with served.client_for(ALICE) as alice:
        session_id = alice.post("/sessions").json()["id"]
        alice.post(f"/sessions/{session_id}/chat", json={"message": "my secret question"})
        alice.get(f"/sessions/{session_id}?q=hidden")
    served.client.get("/sessions")
    wait_until(lambda: len([r for r in caplog.records if hasattr(r, "http_path")]) >= 4)
    lines = [r for r in caplog.records if hasattr(r, "http_path")]
    keys = ("http_method", "http_path", "http_status", "user")
    summary = [tuple(r.__dict__[k] for k in keys) for r in lines]
    assert summary == [
        ("POST", "/sessions", 201, "alice"),
        ("POST", f"/sessions/{session_id}/chat", 200, "alice"),
        ("GET", f"/sessions/{session_id}", 200, "alice"),
        ("GET", "/sessions", 401, "-"),
    ]
    assert f"path=/sessions/{session_id}/chat status=200" in lines[1].getMessage()
    assert all(isinstance(r.__dict__["duration_ms"], float) for r in lines)
    text = caplog.text
    for secret in (ALICE, BOB, "my secret question", "Hello, world", "hidden"):
        assert secret not in text


def test_users_file_format(tmp_path: Path) -> None:
    text = "# classroom\n\nalice: 0123456789abcdef\nbob.smith@school:fedcba9876543210  \n"
    assert parse_users(text) == {
        "alice": "0123456789abcdef",
        "bob.smith@school": "fedcba9876543210",
    }
    path = tmp_path / "users.txt"
    path.write_text(text)
    assert load_users(path)["alice"] == "0123456789abcdef"
    for bad, why in [
        ("alice", "line 1: expected 'name:token'"),
        ("alice:", "line 1: expected 'name:token'"),
        ("al ice:0123456789", "line 1: user name"),
        ("alice:short", "line 1: the token must be at least 8"),
        ("alice:0123456789\nalice:9876543210", "line 2: user 'alice' appears twice"),
    ]:
        with pytest.raises(ConfigurationError, match=why) as info:
            parse_users(bad)
        assert "0123456789" not in str(info.value)
    with pytest.raises(ConfigurationError, match="another user's token"):
        Users({"a": "same-token-1234", "b": "same-token-1234"})
    with pytest.raises(ConfigurationError, match="cannot read"):
        load_users(tmp_path / "missing.txt")
    users = Users({"a": "token-aaaaaaaa", "b": "token-bbbbbbbb"})
    assert users.identify("token-bbbbbbbb") == "b"
    assert users.identify("token-bbbbbbbX") is None
    assert users.names == ["a", "b"]


def test_no_tokens_means_no_authentication(serve: Serve) -> None:
    client = serve(create_app(ScriptedModel())).client
    # A client that sends a key anyway (an OpenAI client always does) is served.
    response = client.get("/sessions", headers={"Authorization": "Bearer sk-anything-at-all"})
    assert response.status_code == 200
    assert client.get("/").json()["auth"] is False


def test_a_reply_over_the_limit_frees_its_slot_when_its_client_leaves(serve: Serve) -> None:
    model = slow_model()
    client = serve(create_app(model, max_concurrent=1, grace=0)).client
    first, second = (client.post("/sessions").json()["id"] for _ in range(2))
    with client.stream("POST", f"/sessions/{first}/chat", json={"message": "hi"}) as r:
        EventReader(r).take(1)
    wait_until(lambda: starts(client, second))


def test_create_app_rejects_bad_limits() -> None:
    with pytest.raises(ConfigurationError, match="max_concurrent"):
        create_app(max_concurrent=0)
    with pytest.raises(ConfigurationError, match="max_body"):
        create_app(max_body=-1)
    with pytest.raises(ConfigurationError, match="grace"):
        create_app(grace=-1)
    with pytest.raises(ConfigurationError, match="at least 8"):
        create_app(users={"a": "short"})
