"""The sessions API over real loopback HTTP: statuses, bodies, persistence, resume, grace."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import httpx
import pytest

from nbchat.errors import InterruptedStream
from nbchat.server import DemoModel, SqliteSessionStore, create_app
from nbchat.server.model import ModelSetupError
from nbchat.server.session_store import StoreError
from nbchat.server.sqlite_sessions import MIGRATIONS
from nbchat.wire import ChatMessageParam
from tests.server_fixtures import (
    Event,
    EventReader,
    ScriptedModel,
    Serve,
    decode,
    read_events,
    serve,
    text_of,
    upstream_failure,
    wait_until,
)

__all__ = ["serve"]  # the fixture, imported for pytest

NOT_FOUND = {"success": False, "error": {"message": "Session not found", "code": "NOT_FOUND"}}


def new_session(client: httpx.Client, **body: str) -> str:
    response = client.post("/sessions", json=body)
    assert response.status_code == 201, response.text
    session_id: str = response.json()["id"]
    return session_id


def chat(client: httpx.Client, session_id: str, message: str) -> tuple[httpx.Response, list[Event]]:
    with client.stream("POST", f"/sessions/{session_id}/chat", json={"message": message}) as r:
        if r.status_code != 200:
            r.read()
            return r, []
        return r, read_events(r)


def messages(client: httpx.Client, session_id: str) -> list[dict[str, object]]:
    response = client.get(f"/sessions/{session_id}")
    assert response.status_code == 200
    found: list[dict[str, object]] = response.json()["messages"]
    return found


def assistant(client: httpx.Client, session_id: str) -> dict[str, object]:
    return [m for m in messages(client, session_id) if m["role"] == "assistant"][-1]


# -- CRUD --------------------------------------------------------------------------------


def test_session_crud_statuses_and_bodies(serve: Serve) -> None:
    client = serve(create_app()).client
    created = client.post("/sessions", json={"title": "Week 1", "system_prompt": "Be brief."})
    assert created.status_code == 201
    body = created.json()
    assert set(body) == {"id", "title", "system_prompt", "created_at", "updated_at"}
    assert (body["title"], body["system_prompt"]) == ("Week 1", "Be brief.")
    # An empty body is a session without title or system prompt.
    bare = client.post("/sessions")
    assert bare.status_code == 201
    assert bare.json()["title"] == ""

    listed = client.get("/sessions").json()["sessions"]
    assert {s["id"] for s in listed} == {body["id"], bare.json()["id"]}

    one = client.get(f"/sessions/{body['id']}")
    assert one.status_code == 200
    assert one.json()["messages"] == []
    assert one.json()["title"] == "Week 1"

    assert client.delete(f"/sessions/{body['id']}").status_code == 204
    assert client.get(f"/sessions/{body['id']}").json() == NOT_FOUND
    assert client.get(f"/sessions/{body['id']}").status_code == 404
    gone = client.delete(f"/sessions/{body['id']}")
    assert (gone.status_code, gone.json()) == (404, NOT_FOUND)
    assert [s["id"] for s in client.get("/sessions").json()["sessions"]] == [bare.json()["id"]]


@pytest.mark.parametrize(
    ("body", "names"),
    [
        (b"{oops", "not valid JSON"),
        (b"[1]", "JSON object"),
        (b'{"title": 5}', "'title'"),
        (b'{"system_prompt": []}', "'system_prompt'"),
        (b'{"title": "' + b"x" * 201 + b'"}', "'title'"),
    ],
)
def test_create_session_rejects_bad_bodies(serve: Serve, body: bytes, names: str) -> None:
    client = serve(create_app()).client
    response = client.post("/sessions", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400
    error = response.json()
    assert error["success"] is False
    assert error["error"]["code"] == "VALIDATION_ERROR"
    assert names in error["error"]["message"]


def test_unknown_sessions_routes_answer_in_spec_shape(serve: Serve) -> None:
    client = serve(create_app()).client
    for method, path in [
        ("GET", "/sessions/nope"),
        ("DELETE", "/sessions/nope"),
        ("GET", "/sessions/nope/stream"),
        ("POST", "/sessions/nope/stop"),
    ]:
        response = client.request(method, path)
        assert (response.status_code, response.json()) == (404, NOT_FOUND), (method, path)
    wrong = client.put("/sessions")
    assert wrong.status_code == 405
    assert wrong.json()["error"]["code"] == "METHOD_NOT_ALLOWED"
    assert client.get("/sessions/a/b/c").json()["error"]["code"] == "NOT_FOUND"


# -- chat: validation and setup errors --------------------------------------------------


@pytest.mark.parametrize(
    ("body", "names"),
    [
        (b"", "empty"),
        (b"{not json", "not valid JSON"),
        (b'"hello"', "JSON object"),
        (b"{}", "'message' is required"),
        (b'{"message": 3}', "'message' must be a string"),
        (b'{"message": ""}', "'message' must not be empty"),
        (b'{"message": null}', "'message' is required"),
    ],
)
def test_chat_rejects_bad_bodies_before_looking_up_the_session(
    serve: Serve, body: bytes, names: str
) -> None:
    client = serve(create_app()).client
    session_id = new_session(client)
    for target in (session_id, "unknown"):
        response = client.post(
            f"/sessions/{target}/chat", content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == 400
        assert response.json()["success"] is False
        assert response.json()["error"]["code"] == "VALIDATION_ERROR"
        assert names in response.json()["error"]["message"]
    assert messages(client, session_id) == []


def test_chat_on_an_unknown_session_is_404(serve: Serve) -> None:
    client = serve(create_app()).client
    response = client.post("/sessions/does-not-exist/chat", json={"message": "hi"})
    assert (response.status_code, response.json()) == (404, NOT_FOUND)


@pytest.mark.parametrize("code", ["CONFIG_ERROR", "API_KEY_MISSING"])
def test_setup_errors_are_json_and_save_nothing(serve: Serve, code: str) -> None:
    model = ScriptedModel(check_error=ModelSetupError(f"cannot start: {code}", code=code))
    client = serve(create_app(model)).client
    session_id = new_session(client)
    response = client.post(f"/sessions/{session_id}/chat", json={"message": "hi"})
    assert response.status_code == 500
    assert response.json() == {
        "success": False,
        "error": {"message": f"cannot start: {code}", "code": code},
    }
    assert messages(client, session_id) == []
    assert model.calls == []


def test_model_failing_before_replying_is_502_ai_error_and_leaves_no_turn(serve: Serve) -> None:
    model = ScriptedModel(fail_before_open=upstream_failure("could not connect to upstream X"))
    client = serve(create_app(model)).client
    session_id = new_session(client)
    response = client.post(f"/sessions/{session_id}/chat", json={"message": "hi"})
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["code"] == "AI_ERROR"
    assert "could not connect to upstream X" in error["message"]
    assert len(model.calls) == 1  # the model was called...
    assert messages(client, session_id) == []  # ...and a retry will not duplicate the turn
    # The session is free again: the next turn works.
    model.fail_before_open = None
    _, events = chat(client, session_id, "hi")
    assert events[-1].event == "complete"


# -- chat: streaming and persistence ----------------------------------------------------


def test_chat_streams_chunks_with_ids_then_complete(serve: Serve) -> None:
    client = serve(create_app(tokens_per_second=2000)).client
    session_id = new_session(client)
    with client.stream(
        "POST", f"/sessions/{session_id}/chat", json={"message": "Explain pandas groupby"}
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        body = response.read()
    assert body.startswith(b"retry: ")
    events = decode(body)
    *chunks, complete = events
    expected = DemoModel().reply([{"role": "user", "content": "Explain pandas groupby"}])
    assert all(e.event == "chunk" and e.data["type"] == "chunk" for e in chunks)
    assert text_of(chunks) == expected
    assert complete.event == "complete"
    assert complete.data["type"] == "complete"
    assert complete.data["content"] == expected
    assert complete.data["finish_reason"] == "stop"
    reply_id = complete.data["message_id"]
    numbers = [int(e.id.split(":")[1]) for e in events]
    assert all(e.id.startswith(reply_id + ":") for e in events)
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)

    stored = messages(client, session_id)
    assert [(m["role"], m["status"]) for m in stored] == [("user", "done"), ("assistant", "done")]
    assert stored[0]["content"] == "Explain pandas groupby"
    assert stored[1]["content"] == expected
    assert stored[1]["id"] == reply_id
    assert stored[1]["error"] is None


def test_history_and_system_prompt_go_to_the_model(serve: Serve) -> None:
    model = ScriptedModel(pieces=["ok"])
    client = serve(create_app(model)).client
    session_id = new_session(client, system_prompt="You are terse.")
    chat(client, session_id, "first")
    model.pieces = ["second answer"]
    chat(client, session_id, "second")
    chat(client, session_id, "third")
    expected: list[ChatMessageParam] = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "second"},
        {"role": "assistant", "content": "second answer"},
        {"role": "user", "content": "third"},
    ]
    assert model.calls[0] == expected[:2]
    assert model.calls[2] == expected


def test_user_message_is_saved_before_the_model_and_reply_before_complete(serve: Serve) -> None:
    store = SqliteSessionStore(":memory:")
    seen: list[list[tuple[str, str, str]]] = []

    async def snapshot(_messages: list[ChatMessageParam]) -> None:
        (session,) = await store.list_sessions("")
        rows = await store.messages(session.id)
        seen.append([(m.role, m.status, m.content) for m in rows])

    model = ScriptedModel(on_call=snapshot, delay=0.01)
    client = serve(create_app(model, store=store)).client
    session_id = new_session(client)
    with client.stream("POST", f"/sessions/{session_id}/chat", json={"message": "hi"}) as r:
        events = read_events(r, stop_after=len(model.pieces) + 1)
        # The instant `complete` arrives, the reply is saved (no sleep, no retry).
        assert events[-1].event == "complete"
        final = messages(client, session_id)
    # When the model was called: the user message saved, the reply only announced.
    assert seen == [[("user", "done", "hi"), ("assistant", "streaming", "")]]
    assert [(m["role"], m["status"], m["content"]) for m in final] == [
        ("user", "done", "hi"),
        ("assistant", "done", "Hello, world!"),
    ]
    asyncio.run(store.close())


def test_a_reply_in_progress_shows_its_text_so_far(serve: Serve) -> None:
    model = ScriptedModel(pieces=[f"w{i} " for i in range(40)], delay=0.05)
    client = serve(create_app(model)).client
    session_id = new_session(client)
    with client.stream("POST", f"/sessions/{session_id}/chat", json={"message": "hi"}) as r:
        reader = EventReader(r)
        reader.take(3)
        live = assistant(client, session_id)
        assert live["status"] == "streaming"
        assert str(live["content"]).startswith("w0 w1 w2 ")
        # One reply at a time per session.
        busy = client.post(f"/sessions/{session_id}/chat", json={"message": "again"})
        assert busy.status_code == 409
        assert busy.json()["error"]["code"] == "TURN_IN_PROGRESS"
        stopped = client.post(f"/sessions/{session_id}/stop")
        assert stopped.status_code == 200
        assert stopped.json()["status"] == "stopped"
        rest = reader.take()
    assert rest[-1].event == "error"
    assert rest[-1].data == {
        "type": "error",
        "error": {"message": "the reply was stopped by a client", "code": "STOPPED"},
    }
    final = assistant(client, session_id)
    assert final["status"] == "stopped"
    assert final["error"] == {"code": "STOPPED", "message": "the reply was stopped by a client"}
    assert final["content"] == stopped.json()["content"]
    assert 3 <= len(str(final["content"]).split()) < 40


def test_midstream_failure_is_an_error_event_and_the_partial_is_saved(serve: Serve) -> None:
    failure = InterruptedStream("the connection to upstream closed mid-reply")
    model = ScriptedModel(pieces=["a", "b", "c", "d"], fail_at=2, fail_with=failure)
    client = serve(create_app(model)).client
    session_id = new_session(client)
    response, events = chat(client, session_id, "hi")
    assert response.status_code == 200
    assert text_of(events) == "ab"
    assert events[-1].event == "error"
    assert events[-1].data["error"]["code"] == "AI_ERROR"
    assert "closed mid-reply" in events[-1].data["error"]["message"]
    stored = assistant(client, session_id)
    assert (stored["status"], stored["content"]) == ("error", "ab")
    assert stored["error"]["code"] == "AI_ERROR"  # type: ignore[index]


# -- disconnects, grace, resume ---------------------------------------------------------


def test_disconnect_without_grace_saves_the_partial_as_stopped(serve: Serve) -> None:
    model = ScriptedModel(pieces=[f"t{i} " for i in range(200)], delay=0.02)
    client = serve(create_app(model, grace=0)).client
    session_id = new_session(client)
    with client.stream("POST", f"/sessions/{session_id}/chat", json={"message": "hi"}) as r:
        received = text_of(read_events(r, stop_after=3))
    wait_until(lambda: assistant(client, session_id)["status"] == "stopped")
    assert model.closed.wait(5)  # the model's stream was closed, not left running
    stored = assistant(client, session_id)
    content = str(stored["content"])
    assert content.startswith(received)
    assert len(content) < len(model.text)
    assert stored["error"]["code"] == "CLIENT_GONE"  # type: ignore[index]
    produced = model.produced
    time.sleep(0.1)
    assert model.produced == produced


def test_grace_keeps_generating_then_stops_when_nobody_resumes(serve: Serve) -> None:
    model = ScriptedModel(pieces=[f"t{i} " for i in range(300)], delay=0.01)
    client = serve(create_app(model, grace=0.5)).client
    session_id = new_session(client)
    with client.stream("POST", f"/sessions/{session_id}/chat", json={"message": "hi"}) as r:
        received = text_of(read_events(r, stop_after=2))
    time.sleep(0.25)
    assert assistant(client, session_id)["status"] == "streaming"  # still going
    wait_until(lambda: assistant(client, session_id)["status"] == "stopped", timeout=5)
    stored = assistant(client, session_id)
    content = str(stored["content"])
    # It went on during the grace period, and stopped well before the end.
    assert len(content.split()) > len(received.split()) + 10
    assert len(content) < len(model.text)
    assert stored["error"]["code"] == "CLIENT_GONE"  # type: ignore[index]


@pytest.mark.parametrize("how", ["get-stream", "post-again"])
def test_resume_after_a_forced_drop_gives_the_full_text_exactly_once(
    serve: Serve, how: str
) -> None:
    model = ScriptedModel(pieces=[f"p{i} " for i in range(120)], delay=0.005)
    client = serve(create_app(model, grace=10)).client
    session_id = new_session(client)
    body = {"message": "hi"}
    with client.stream("POST", f"/sessions/{session_id}/chat", json=body) as r:
        first = read_events(r, stop_after=10)
    last_id = first[-1].id
    headers = {"Last-Event-ID": last_id}
    if how == "get-stream":
        request = client.build_request("GET", f"/sessions/{session_id}/stream", headers=headers)
    else:
        request = client.build_request(
            "POST", f"/sessions/{session_id}/chat", json=body, headers=headers
        )
    response = client.send(request, stream=True)
    try:
        assert response.status_code == 200
        rest = read_events(response)
    finally:
        response.close()
    assert text_of(first) + text_of(rest) == model.text
    ids = [e.id for e in first + rest]
    assert len(ids) == len(set(ids))
    assert rest[-1].event == "complete"
    assert rest[-1].data["content"] == model.text
    assert len(model.calls) == 1  # resuming never asked the model again
    stored = messages(client, session_id)
    assert [(m["role"], m["status"]) for m in stored] == [("user", "done"), ("assistant", "done")]
    assert stored[1]["content"] == model.text


def test_resume_edge_cases(serve: Serve) -> None:
    model = ScriptedModel()
    client = serve(create_app(model)).client
    session_id = new_session(client)
    nothing = client.get(f"/sessions/{session_id}/stream")
    assert nothing.status_code == 404
    assert nothing.json()["error"]["code"] == "NOT_FOUND"
    _, events = chat(client, session_id, "hi")
    # No Last-Event-ID: the latest reply from its start (finished, still retained).
    replay = client.get(f"/sessions/{session_id}/stream")
    assert replay.status_code == 200
    assert decode(replay.content) == events
    # Already at the end: 204, which also tells an EventSource to stop reconnecting.
    done = client.get(f"/sessions/{session_id}/stream", headers={"Last-Event-ID": events[-1].id})
    assert done.status_code == 204
    query = client.get(f"/sessions/{session_id}/stream", params={"last_event_id": events[1].id})
    assert decode(query.content) == events[2:]
    for bad in ("garbage", "abc:x", ":3"):
        response = client.get(f"/sessions/{session_id}/stream", headers={"Last-Event-ID": bad})
        assert response.status_code == 400, bad
        assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    for unknown in ("0123:1", events[0].id.split(":")[0] + ":999"):
        response = client.get(f"/sessions/{session_id}/stream", headers={"Last-Event-ID": unknown})
        assert response.status_code == 404, unknown
    # A reply of another session cannot be resumed through this one.
    other = new_session(client)
    response = client.get(f"/sessions/{other}/stream", headers={"Last-Event-ID": events[0].id})
    assert response.status_code == 404
    # Stopping a finished reply reports how it ended.
    stopped = client.post(f"/sessions/{session_id}/stop")
    assert stopped.json() == {"id": events[-1].data["message_id"], "status": "done",
                              "content": "Hello, world!"}  # fmt: skip
    assert client.post(f"/sessions/{other}/stop").status_code == 404


def test_deleting_a_session_stops_its_reply(serve: Serve) -> None:
    model = ScriptedModel(pieces=[f"t{i} " for i in range(300)], delay=0.01)
    client = serve(create_app(model)).client
    session_id = new_session(client)
    with client.stream("POST", f"/sessions/{session_id}/chat", json={"message": "hi"}) as r:
        reader = EventReader(r)
        reader.take(2)
        assert client.delete(f"/sessions/{session_id}").status_code == 204
        rest = reader.take()
    assert rest[-1].event == "error"
    assert rest[-1].data["error"]["code"] == "STOPPED"
    assert model.closed.wait(5)
    assert client.get(f"/sessions/{session_id}").status_code == 404


def test_shutdown_stops_in_flight_replies_and_saves_them(serve: Serve) -> None:
    store = SqliteSessionStore(":memory:")
    model = ScriptedModel(pieces=[f"t{i} " for i in range(300)], delay=0.01)
    served = serve(create_app(model, store=store))
    client = served.client
    session_id = new_session(client)
    with client.stream("POST", f"/sessions/{session_id}/chat", json={"message": "hi"}) as r:
        reader = EventReader(r)
        reader.take(2)
        started = time.monotonic()
        served.thread.stop()
        assert time.monotonic() - started < 2
        rest = reader.take()
    assert rest[-1].event == "error"
    assert rest[-1].data["error"]["code"] == "SERVER_SHUTDOWN"
    rows = asyncio.run(store.messages(session_id))
    assert rows[-1].status == "stopped"
    assert rows[-1].error_code == "SERVER_SHUTDOWN"
    assert rows[-1].content.startswith("t0 t1 ")
    asyncio.run(store.close())


# -- the SQLite store ---------------------------------------------------------------------


def test_sessions_survive_a_restart_in_a_database_file(serve: Serve, tmp_path: Path) -> None:
    db = tmp_path / "sessions.sqlite3"
    first = serve(create_app(ScriptedModel(), db=db))
    session_id = new_session(first.client, title="kept")
    chat(first.client, session_id, "remember me")
    first.thread.stop()
    again = serve(create_app(ScriptedModel(), db=db)).client
    stored = messages(again, session_id)
    assert [(m["role"], m["content"]) for m in stored] == [
        ("user", "remember me"),
        ("assistant", "Hello, world!"),
    ]
    with sqlite3.connect(db) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        applied = [r[0] for r in raw.execute("SELECT name FROM _migrations")]
    assert applied == [name for name, _ in MIGRATIONS]


def test_store_recovers_replies_left_streaming_and_refuses_newer_files(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite3"

    async def scenario() -> None:
        store = SqliteSessionStore(db)
        session = await store.create_session(owner="ann", title="", system_prompt="")
        await store.add_message(session.id, role="user", content="q", status="done")
        await store.add_message(session.id, role="assistant", content="", status="streaming")
        assert await store.get_session(session.id, "bob") is None
        assert not await store.delete_session(session.id, "bob")
        assert await store.recover() == 1
        rows = await store.messages(session.id)
        assert (rows[1].status, rows[1].error_code) == ("stopped", "SERVER_SHUTDOWN")
        assert await store.delete_session(session.id, "ann")
        assert await store.messages(session.id) == []  # cascaded
        await store.close()
        with pytest.raises(StoreError, match="closed"):
            await store.list_sessions("ann")

    asyncio.run(scenario())
    with sqlite3.connect(db) as raw:
        raw.execute("INSERT INTO _migrations VALUES ('9999_future', 0)")
    with pytest.raises(StoreError, match="newer nbchat"):
        SqliteSessionStore(db)
    (tmp_path / "junk.sqlite3").write_bytes(b"not a database at all" * 100)
    with pytest.raises(StoreError, match="junk"):
        SqliteSessionStore(tmp_path / "junk.sqlite3")
