"""The controller over real loopback: streaming, Stop, errors, history, ask()."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from nbchat import (
    ChatController,
    ConfigurationError,
    InterruptedStream,
    Phase,
    TurnInProgressError,
)
from nbchat.changes import MessageAdded, MessageUpdated, PhaseChanged, TextAppended
from nbchat.config import Timeouts
from nbchat.errors import HistoryError
from nbchat.history import MemoryHistory, MessageRecord, SqliteHistory
from nbchat.server import DemoModel
from tests.conftest import DemoServer, FaultServer


def demo_chat(server: DemoServer, tmp_path: Path, **kw: object) -> ChatController:
    return ChatController(
        server.base_url, model="demo", history=tmp_path / "h.sqlite3", name="t", **kw
    )


async def test_streams_the_demo_reply(demo_server: DemoServer, tmp_path: Path) -> None:
    chat = demo_chat(demo_server, tmp_path)
    changes: list[object] = []
    chat.subscribe(changes.append)
    turn = chat.send("Explain pandas groupby")
    assert chat.state is Phase.CONNECTING
    assert chat.messages[-1] is turn.message and turn.message.status == "streaming"
    message = await turn
    expected = DemoModel().reply([{"role": "user", "content": "Explain pandas groupby"}])
    assert message.content == expected
    assert message.status == "done" and message.error is None
    assert chat.state is Phase.DONE
    assert message.metrics["ttft_s"] > 0
    assert message.metrics["tokens_per_s"] > 0
    assert message.metrics["output_tokens"] > 10
    deltas = [c for c in changes if isinstance(c, TextAppended)]
    assert "".join(d.text for d in deltas) == expected
    assert len(deltas) > 10
    phases = [c.phase for c in changes if isinstance(c, PhaseChanged)]
    assert phases == [Phase.CONNECTING, Phase.STREAMING, Phase.DONE]
    structure = [c for c in changes if isinstance(c, (MessageAdded, MessageUpdated))]
    assert structure == [
        MessageAdded(turn.user_message.id),
        MessageAdded(message.id),
        MessageUpdated(message.id),  # the end: status, metrics
    ]


async def test_send_returns_before_the_reply(slow_demo_server: DemoServer, tmp_path: Path) -> None:
    chat = demo_chat(slow_demo_server, tmp_path)
    started = time.monotonic()
    turn = chat.send("hello")
    assert time.monotonic() - started < 0.05
    assert not turn.done()
    chat.stop()
    await turn


async def test_conversation_history_goes_to_the_model(
    demo_server: DemoServer, tmp_path: Path
) -> None:
    chat = demo_chat(demo_server, tmp_path, system="Be brief.")
    first = await chat.send("first question")
    await chat.send("second question")
    sent = demo_server.stats.last_request
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": first.content},
        {"role": "user", "content": "second question"},
    ]
    assert sent["stream"] is True and sent["model"] == "demo"


async def test_stop_mid_stream_keeps_partial_text(
    slow_demo_server: DemoServer, tmp_path: Path
) -> None:
    chat = demo_chat(slow_demo_server, tmp_path)
    turn = chat.send("a question to stop")
    while len(turn.message.content) < 20:
        await asyncio.sleep(0.01)
    chat.stop()
    message = await turn
    assert message.status == "stopped" and chat.state is Phase.STOPPED
    partial = message.content
    assert partial and len(partial) < len(
        DemoModel().reply([{"role": "user", "content": "a question to stop"}])
    )
    assert slow_demo_server.stats.disconnected.wait(5), "the server never saw the disconnect"
    stored = SqliteHistory(tmp_path / "h.sqlite3")
    records = stored.load("t")
    stored.close()
    assert [(r.role, r.status) for r in records] == [("user", "done"), ("assistant", "stopped")]
    assert records[1].content == partial


async def test_stop_while_connecting(fault_server: FaultServer, tmp_path: Path) -> None:
    chat = ChatController(fault_server.base("silent"), model="m", history=None)
    turn = chat.send("hi")
    await asyncio.sleep(0.05)
    turn.cancel()
    message = await turn
    assert message.status == "stopped" and message.content == ""


async def test_send_while_streaming_is_refused(
    slow_demo_server: DemoServer, tmp_path: Path
) -> None:
    chat = demo_chat(slow_demo_server, tmp_path)
    turn = chat.send("one")
    with pytest.raises(TurnInProgressError, match="still streaming"):
        chat.send("two")
    chat.stop()
    await turn
    assert [m.role for m in chat.messages] == ["user", "assistant"]


async def test_eof_without_done_is_interrupted(fault_server: FaultServer) -> None:
    chat = ChatController(fault_server.base("eof"), model="m", history=None)
    message = await chat.send("hi")
    assert message.status == "interrupted" and chat.state is Phase.INTERRUPTED
    assert message.content == "Half a reply"
    assert message.error is not None and message.error["code"] == "INTERRUPTED"
    assert "[DONE]" in message.error["message"]


async def test_ok_stream_with_key(fault_server: FaultServer) -> None:
    chat = ChatController(fault_server.base("ok"), api_key="sk-test-123456789", model="m")
    message = await chat.send("hi")
    assert message.content == "Hello world" and message.status == "done"
    assert fault_server.log.headers[-1]["authorization"] == "Bearer sk-test-123456789"
    assert fault_server.log.headers[-1]["accept"] == "text/event-stream"


@pytest.mark.parametrize(
    ("case", "code", "words"),
    [
        ("401", "AUTHENTICATION_ERROR", ["HTTP 401", "invalid_api_key", "Incorrect API key"]),
        ("404-spec", "NOT_FOUND", ["HTTP 404", "NOT_FOUND", "Session not found"]),
        ("429", "RATE_LIMITED", ["HTTP 429", "Rate limit reached"]),
        ("500-html", "SERVER_ERROR", ["HTTP 500", "HTML page", "502 Bad Gateway"]),
        ("503-empty", "SERVER_ERROR", ["HTTP 503", "(empty body)"]),
        ("400-anthropic", "VALIDATION_ERROR", ["HTTP 400", "invalid_request_error: bad"]),
        ("json-200", "PROTOCOL_ERROR", ["expected text/event-stream", "application/json"]),
        ("json-error-200", "PROVIDER_ERROR", ["quota exceeded"]),
        ("html-200", "PROTOCOL_ERROR", ["text/html", "Sign in - Corp SSO"]),
        ("no-content-type", "PROTOCOL_ERROR", ["no Content-Type"]),
        ("malformed", "PROTOCOL_ERROR", ["malformed JSON", "{not json"]),
        ("midstream-error", "PROVIDER_ERROR", ["overloaded: upstream overloaded"]),
    ],
)
async def test_errors_name_their_cause(
    fault_server: FaultServer, tmp_path: Path, case: str, code: str, words: list[str]
) -> None:
    chat = ChatController(
        fault_server.base(case), model="m", history=tmp_path / "h.sqlite3", name="e"
    )
    message = await chat.send("hi")
    assert message.status == "error", message.error
    assert message.error is not None and message.error["code"] == code
    for word in words:
        assert word in message.error["message"]
    assert message.error["hint"]
    stored = SqliteHistory(tmp_path / "h.sqlite3")
    records = stored.load("e")
    stored.close()
    assert [r.status for r in records] == ["done", "error"]
    assert records[1].error_code == code


async def test_partial_text_survives_an_error(fault_server: FaultServer) -> None:
    chat = ChatController(fault_server.base("midstream-error"), model="m", history=None)
    message = await chat.send("hi")
    assert message.content == "Partial"


async def test_key_never_appears_in_errors(fault_server: FaultServer) -> None:
    key = "sk-very-secret-key-0000"
    chat = ChatController(fault_server.base("echo-key"), api_key=key, model="m", history=None)
    message = await chat.send("hi")
    assert message.error is not None
    assert key not in message.error["message"] and "***" in message.error["message"]
    assert key not in repr(chat.endpoint)


async def test_connection_refused_names_the_url() -> None:
    chat = ChatController("http://127.0.0.1:9/v1", model="m", history=None)
    message = await chat.send("hi")
    assert message.error is not None and message.error["code"] == "CONNECTION_ERROR"
    assert "http://127.0.0.1:9/v1/chat/completions" in message.error["message"]


async def test_stall_is_reported(fault_server: FaultServer) -> None:
    chat = ChatController(
        fault_server.base("silent"), model="m", history=None, timeouts=Timeouts(read=0.5)
    )
    message = await chat.send("hi")
    assert message.error is not None and message.error["code"] == "STALLED"
    assert "0.5 s" in message.error["message"]


async def test_history_restores_in_a_new_controller(
    demo_server: DemoServer, tmp_path: Path
) -> None:
    first = demo_chat(demo_server, tmp_path)
    reply = await first.send("remember me")
    again = demo_chat(demo_server, tmp_path)
    assert [(m.role, m.content, m.status) for m in again.messages] == [
        ("user", "remember me", "done"),
        ("assistant", reply.content, "done"),
    ]
    assert again.messages[1].metrics == reply.metrics
    other = ChatController(
        demo_server.base_url, model="demo", history=tmp_path / "h.sqlite3", name="other"
    )
    assert other.messages == []


async def test_user_message_is_saved_before_the_request(
    fault_server: FaultServer, tmp_path: Path
) -> None:
    path = tmp_path / "h.sqlite3"
    chat = ChatController(fault_server.base("slow"), model="m", history=path, name="b")
    turn = chat.send("saved first")
    reader = SqliteHistory(path)
    try:
        assert [(r.role, r.content) for r in reader.load("b")] == [("user", "saved first")]
    finally:
        reader.close()
    chat.stop()
    await turn


def test_send_without_a_loop_points_to_ask(demo_server: DemoServer) -> None:
    chat = ChatController(demo_server.base_url, model="demo", history=None)
    with pytest.raises(ConfigurationError, match=r"chat\.ask"):
        chat.send("hi")


def test_bad_arguments_fail_before_any_request() -> None:
    with pytest.raises(ConfigurationError, match="http"):
        ChatController("localhost:8000", model="m", history=None)
    with pytest.raises(ConfigurationError, match="model is required"):
        ChatController("http://127.0.0.1:1/v1", history=None)
    with pytest.raises(ConfigurationError, match="unknown dialect"):
        ChatController("http://127.0.0.1:1/v1", model="m", history=None, dialect="nope")


def test_api_key_defaults_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    chat = ChatController("http://127.0.0.1:1/v1", model="m", history=None)
    assert chat.endpoint.api_key == "sk-from-env"
    assert "sk-from-env" not in repr(chat.endpoint)


def test_ask_returns_the_text(demo_server: DemoServer) -> None:
    chat = ChatController(demo_server.base_url, model="demo", history=None)
    text = chat.ask("hello there")
    assert text == DemoModel().reply([{"role": "user", "content": "hello there"}])
    assert chat.messages[-1].status == "done"


def test_ask_raises_the_typed_error(fault_server: FaultServer) -> None:
    chat = ChatController(fault_server.base("eof"), model="m", history=None)
    with pytest.raises(InterruptedStream, match=r"\[DONE\]"):
        chat.ask("hi")
    assert chat.messages[-1].content == "Half a reply"


def test_keyboard_interrupt_in_ask_stops_and_keeps_text(
    fault_server: FaultServer, tmp_path: Path
) -> None:
    import _thread

    path = tmp_path / "h.sqlite3"
    chat = ChatController(fault_server.base("slow"), model="m", history=path, name="k")
    timer = threading.Timer(0.4, _thread.interrupt_main)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            chat.ask("go")
    finally:
        timer.cancel()
    reply = chat.messages[-1]
    assert reply.status == "stopped" and reply.content.startswith("tok0 ")
    assert fault_server.log.disconnected.wait(5)
    reader = SqliteHistory(path)
    try:
        assert reader.load("k")[-1].status == "stopped"
    finally:
        reader.close()


class FailingHistory(MemoryHistory):
    """A store whose disk fills up after ``ok`` saves."""

    def __init__(self, ok: int) -> None:
        super().__init__()
        self.ok = ok

    def save(self, conversation: str, record: MessageRecord) -> None:
        if self.ok <= 0:
            raise HistoryError("cannot write history file /x/h.db: database or disk is full")
        self.ok -= 1
        super().save(conversation, record)


async def test_full_disk_before_the_request_sends_nothing(fault_server: FaultServer) -> None:
    chat = ChatController(fault_server.base("ok"), model="m", history=FailingHistory(0))
    with pytest.raises(HistoryError, match="disk is full"):
        chat.send("hi")
    assert chat.messages == [] and fault_server.log.requests == []


async def test_full_disk_at_the_end_keeps_the_reply_and_says_so(
    fault_server: FaultServer,
) -> None:
    chat = ChatController(fault_server.base("ok"), model="m", history=FailingHistory(1))
    message = await chat.send("hi")
    assert message.content == "Hello world" and message.status == "done"
    assert message.error is not None and message.error["code"] == "HISTORY_ERROR"
    assert "reply not saved" in message.error["message"]
