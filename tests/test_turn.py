"""A turn's lifecycle on an in-process transport: no socket, no file.

Phases, the ledger, Stop at every point, whose cancellation is whose, failures,
finalize exactly once, and the recording wrapper around any transport.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path

import pytest

from nbchat import (
    ChatController,
    ConnectionFailed,
    HistoryError,
    InterruptedStream,
    Phase,
    RateLimitedError,
    RetryPolicy,
    Timeouts,
)
from nbchat.changes import MessageUpdated, PhaseChanged, TextAppended
from nbchat.history import MemoryHistory, MessageRecord
from nbchat.stream import ReplayTransport
from tests.memory_transport import MemoryTransport, openai_body


def memory_chat(transport: MemoryTransport, **kw: object) -> ChatController:
    kw.setdefault("history", None)
    return ChatController("http://model.test/v1", model="m", transport=transport, **kw)


async def test_a_reply_streams_through_an_injected_transport() -> None:
    transport = MemoryTransport(openai_body("Hel", "lo", "!"))
    chat = memory_chat(transport)
    changes: list[object] = []
    chat.subscribe(changes.append)
    message = await chat.send("hi")
    assert message.status == "done" and message.content == "Hello!"
    assert message.reply.finish_reason == "stop" and message.finish_reason == "stop"
    assert message.metrics["output_tokens"] == 3
    (request,) = transport.requests
    assert request.url == "http://model.test/v1/chat/completions" and request.framing == "sse"
    assert request.dialect == "openai-chat" and request.model == "m"
    assert request.json["messages"] == [{"role": "user", "content": "hi"}]
    assert transport.closed == 1
    phases = [c.phase for c in changes if isinstance(c, PhaseChanged)]
    assert phases == [Phase.CONNECTING, Phase.STREAMING, Phase.DONE]
    assert "".join(c.text for c in changes if isinstance(c, TextAppended)) == "Hello!"
    assert chat.where == "memory:http://model.test/v1"


async def test_stop_before_the_first_step_sends_nothing() -> None:
    transport = MemoryTransport(openai_body("never"))
    chat = memory_chat(transport)
    turn = chat.send("hi")
    chat.stop()  # the task has not run yet
    message = await turn
    assert message.status == "stopped" and message.content == ""
    assert transport.requests == [] and chat.state is Phase.STOPPED


async def test_stop_mid_stream_keeps_the_partial_and_ends_the_task_normally() -> None:
    transport = MemoryTransport(openai_body(*"abcdefghij"), pause=0.02)
    chat = memory_chat(transport)
    turn = chat.send("hi")
    while len(turn.message.content) < 3:
        await asyncio.sleep(0.005)
    chat.stop()
    message = await turn  # Stop's cancellation is absorbed by the turn
    assert message.status == "stopped" and 3 <= len(message.content) < 10
    assert turn.done() and not turn._task.cancelled()  # type: ignore[union-attr]
    assert transport.closed == 1 and message.error is None


async def test_a_cancellation_that_is_not_stop_finalizes_and_propagates() -> None:
    chat = memory_chat(MemoryTransport(openai_body(*"abcdefghij"), pause=0.02))
    turn = chat.send("hi")
    while not turn.message.content:
        await asyncio.sleep(0.005)
    turn._task.cancel()  # type: ignore[union-attr]  # e.g. the loop shutting down
    with pytest.raises(asyncio.CancelledError):
        await turn
    assert turn.message.status == "stopped" and turn.message.content
    assert chat.state is Phase.STOPPED


async def test_a_failure_before_any_byte_is_the_replys_error() -> None:
    refused = ConnectionFailed("could not connect to http://model.test/v1: refused")
    chat = memory_chat(MemoryTransport(refused), retry=RetryPolicy(max_retries=0))
    message = await chat.send("hi")
    assert message.status == "error" and message.error is not None
    assert message.error["code"] == "CONNECTION_ERROR" and "refused" in message.error["message"]
    assert message.error["hint"]  # the one error_info builder adds it
    assert chat.state is Phase.ERROR


async def test_an_end_without_the_marker_is_interrupted() -> None:
    chat = memory_chat(MemoryTransport(openai_body("half", done=False)))
    message = await chat.send("hi")
    assert message.status == "interrupted" and message.content == "half"
    assert message.error is not None and "[DONE]" in message.error["message"]


class FailingHistory(MemoryHistory):
    def save(self, conversation: str, record: MessageRecord) -> None:
        if record.role == "assistant":
            raise HistoryError("disk full")
        super().save(conversation, record)


async def test_finalize_runs_once_and_a_failed_save_keeps_the_reply_on_screen() -> None:
    chat = memory_chat(MemoryTransport(openai_body("kept")), history=FailingHistory())
    changes: list[object] = []
    chat.subscribe(changes.append)
    message = await chat.send("hi")
    assert message.content == "kept" and message.status == "done"
    assert message.error is not None and message.error["code"] == "HISTORY_ERROR"
    assert "reply not saved: disk full" in message.error["message"]
    await asyncio.sleep(0)  # the done callback runs: finalize is not repeated
    assert sum(isinstance(c, MessageUpdated) for c in changes) == 1
    assert [c.phase for c in changes if isinstance(c, PhaseChanged)][-1] is Phase.DONE


async def test_the_ledger_round_trips_through_history() -> None:
    body = [
        b'data: {"choices":[{"index":0,"delta":{"content":"Let me check."}}]}\n\n',
        b'data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c1",'
        b'"type":"function","function":{"name":"f","arguments":"{\\"a\\":"}}]}}]}\n\n',
        b'data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,'
        b'"function":{"arguments":"1}"}}]}}]}\n\n',
        b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}\n\n',
        b"data: [DONE]\n\n",
    ]
    store = MemoryHistory()
    chat = memory_chat(MemoryTransport(body), history=store, name="c")
    message = await chat.send("hi")
    (call,) = message.tool_calls
    assert call["name"] == "f" and call["input"] == {"a": 1} and call["status"] == "done"
    assert "duration_s" in call  # measured by the turn when the stream gives none
    again = ChatController(
        "http://model.test/v1", model="m", transport=MemoryTransport(), history=store, name="c"
    )
    restored = again.messages[-1]
    assert restored.to_info() == message.to_info()


async def test_recording_wraps_any_transport(tmp_path: Path) -> None:
    chat = memory_chat(MemoryTransport(openai_body("Hi", " there")))
    path = tmp_path / "rec.jsonl"
    with chat.record(path):
        await chat.send("hi")
    assert type(chat.transport) is MemoryTransport  # unwrapped when the block ends
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[0]["format"] == "nbchat-recording"
    assert lines[1] == {
        "turn": 1,
        "dialect": "openai-chat",
        "model": "m",
        "content_type": "text/event-stream",
    }
    replay = ReplayTransport.from_file(path, speed=100)
    played = ChatController("http://model.test/v1", model="m", transport=replay, history=None)
    assert (await played.send("again")).content == "Hi there"
    assert played.where == f"replay of {path}"


def test_transport_and_its_own_settings_are_not_mixed() -> None:
    with pytest.raises(Exception, match="configure the transport itself"):
        ChatController("http://x/v1", model="m", transport=MemoryTransport(), timeouts=None,
                       http_client=object())  # type: ignore[arg-type]  # fmt: skip


async def test_a_retry_that_fails_keeps_the_old_partial() -> None:
    refused = ConnectionFailed("could not connect to http://model.test/v1: refused")
    store = MemoryHistory()
    transport = MemoryTransport(openai_body("half", done=False), refused)
    chat = memory_chat(transport, history=store, name="c", retry=RetryPolicy(max_retries=0))
    old = await chat.send("hi")
    assert old.status == "interrupted"
    snapshots: list[list[dict[str, object]]] = []
    chat.subscribe(
        lambda c: (
            snapshots.append([dict(m.to_info()) for m in chat.messages])
            if isinstance(c, MessageUpdated)
            else None
        )
    )
    new = await chat.retry()
    assert new.status == "error" and new.error is not None
    assert [m.id for m in chat.messages] == [chat.messages[0].id, old.id, new.id]
    assert old.content == "half" and not old.superseded
    assert snapshots[0][1].get("superseded") is True  # marked while the retry ran
    assert "superseded" not in old.to_info()
    stored = store.load("c")
    assert [(r.id, r.content) for r in stored][1] == (old.id, "half")
    # the retry's request did not carry the reply it retries
    assert transport.requests[-1].json["messages"] == [{"role": "user", "content": "hi"}]


async def test_a_retry_replaces_the_old_reply_once_it_has_output() -> None:
    store = MemoryHistory()
    transport = MemoryTransport(openai_body("half", done=False), openai_body("whole"))
    chat = memory_chat(transport, history=store, name="c")
    old = await chat.send("hi")
    new = await chat.retry()
    assert new.content == "whole" and old not in chat.messages
    assert [r.content for r in store.load("c")] == ["hi", "whole"]


async def test_the_reply_row_exists_from_the_start_and_is_checkpointed() -> None:
    store = MemoryHistory()
    chat = memory_chat(
        MemoryTransport(openai_body(*["word "] * 60), pause=0.05), history=store, name="c"
    )
    turn = chat.send("hi")
    await asyncio.sleep(0.01)
    assert [(r.role, r.status) for r in store.load("c")] == [
        ("user", "done"),
        ("assistant", "streaming"),
    ]
    await asyncio.sleep(1.6)
    row = store.load("c")[-1]
    assert row.status == "streaming" and row.finished_at is None
    assert 0 < len(row.content) <= len(turn.message.content)
    await turn
    assert store.load("c")[-1].status == "done"
    # a row still streaming when a conversation opens was cut by a crash
    cut = dataclasses.replace(row, id="x")
    store.save("d", cut)
    (shown,) = memory_chat(MemoryTransport(), history=store, name="d").messages
    assert shown.status == "interrupted" and shown.content == row.content
    assert shown.error is not None and "kernel stopped" in shown.error["message"]


async def test_a_retry_whose_new_reply_only_fails_keeps_the_old_one() -> None:
    error = b'data: {"error": {"message": "overloaded", "type": "overloaded_error"}}\n\n'
    usage = b'data: {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 0}}\n\n'
    store = MemoryHistory()
    transport = MemoryTransport(openai_body("half", done=False), [usage, error])
    chat = memory_chat(transport, history=store, name="c")
    old = await chat.send("hi")
    new = await chat.retry()
    assert new.status == "error" and new.error is not None and "overloaded" in new.error["message"]
    assert old in chat.messages and old.content == "half" and not old.superseded
    assert [r.content for r in store.load("c")] == ["hi", "half", ""]


async def test_an_accepted_post_is_not_sent_again_even_before_its_first_byte() -> None:
    closed = InterruptedStream("the connection to http://model.test closed mid-reply")
    transport = MemoryTransport([closed], openai_body("second"))
    chat = memory_chat(transport)
    message = await chat.send("hi")
    assert len(transport.requests) == 1  # the server had answered 200: never re-sent
    assert message.status == "interrupted" and message.error is not None
    assert "not sent again" in message.error["message"]


async def test_the_idle_limit_does_not_run_through_a_retry_wait() -> None:
    busy = RateLimitedError("HTTP 429 from http://model.test", status=429, retry_after=1.3)
    transport = MemoryTransport(busy, openai_body("late but fine"))
    chat = memory_chat(
        transport,
        timeouts=Timeouts(idle=0.5),
        retry=RetryPolicy(max_retries=1),
    )
    message = await chat.send("hi")
    assert message.status == "done" and message.content == "late but fine"
    assert len(transport.requests) == 2
