"""Unit tests of pure logic: batching, metrics, accumulation, error bodies, config."""

from __future__ import annotations

import json

from nbchat.accumulate import Reply
from nbchat.batching import DeltaBatcher
from nbchat.config import redact_url
from nbchat.events import Finished, StreamError, TextDelta, Usage
from nbchat.metrics import ReplyTimer
from nbchat.stream.error_body import summarize_body
from tests.fake_clock import FakeClock


def test_batcher_merges_and_numbers() -> None:
    batcher = DeltaBatcher()
    assert batcher.flush() is None
    assert batcher.add("a", "Hel") is True
    assert batcher.add("a", "lo") is False
    batcher.add("b", "x")
    batcher.add("", "")
    assert batcher.flush() == {
        "type": "batch",
        "seq": 1,
        "ops": [{"op": "text", "id": "a", "text": "Hello"}, {"op": "text", "id": "b", "text": "x"}],
    }
    assert batcher.flush() is None
    batcher.add("a", "y")
    batcher.discard()
    assert batcher.flush() is None and batcher.seq == 1
    batcher.add("a", "z")
    assert batcher.flush()["seq"] == 2  # type: ignore[index]


def test_batch_bytes_grow_with_text_not_token_count() -> None:
    batcher = DeltaBatcher()
    for _ in range(1000):
        batcher.add("m", "ab")
    size = len(json.dumps(batcher.flush()))
    assert 2000 <= size < 2100


def test_timer_metrics() -> None:
    clock = FakeClock()
    timer = ReplyTimer(clock)
    clock.now += 0.5
    assert timer.token() is True
    for _ in range(10):
        clock.now += 0.1
        assert timer.token() is False
    clock.now += 0.2
    timer.stop()
    info = timer.info()
    assert info["ttft_s"] == 0.5
    assert info["tokens_per_s"] == 10.0  # 10 tokens after the first, over 1.0 s
    assert info["duration_s"] == 1.7
    assert info["output_tokens"] == 11
    reported = Reply()
    reported.output_tokens = 21  # the provider's count wins
    assert timer.info(reported)["tokens_per_s"] == 20.0


def test_timer_without_tokens() -> None:
    timer = ReplyTimer(FakeClock())
    timer.stop()
    assert timer.info() == {"duration_s": 0.0}


def test_reply_first_error_wins_and_finish_after_error_keeps_error() -> None:
    reply = Reply()
    for event in [
        TextDelta("a"),
        Usage(3, None),
        Usage(None, 5),
        StreamError("PROVIDER_ERROR", "x"),
        StreamError("INTERRUPTED", "y"),
        Finished("stop", "stop"),
    ]:
        reply.apply(event)
    assert reply.text == "a" and reply.error is not None and reply.error.code == "PROVIDER_ERROR"
    assert reply.finish_reason == "error"
    assert reply.usage == Usage(3, 5)


def test_error_bodies() -> None:
    assert summarize_body(
        b'{"error": {"message": "m", "type": "t", "code": "c"}}', "application/json"
    ) == ("c", "m")
    assert summarize_body(
        b'{"success": false, "error": {"message": "Session not found", "code": "NOT_FOUND"}}', None
    ) == ("NOT_FOUND", "Session not found")
    assert summarize_body(
        b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}', None
    ) == (
        "overloaded_error",
        "Overloaded",
    )
    assert summarize_body(b'{"error": "model not found"}', "application/json") == (
        None,
        "model not found",
    )
    assert summarize_body(b'{"detail": [{"loc": ["body"], "msg": "x"}]}', None)[1].startswith("[{")
    assert summarize_body(b"", None) == (None, "(empty body)")
    page = b"<html><head><script>evil()</script></head>"
    page += b"<body><h1>Oops</h1> <p>it broke</p></body></html>"
    assert summarize_body(page, "text/html") == (None, "HTML page: Oops it broke")
    long = summarize_body(b"x" * 5000, "text/plain")[1]
    assert len(long) == 200 and long.endswith("…")
    assert summarize_body(b"\xff\xfe oops", None)[1].endswith("oops")


def test_redact_url() -> None:
    assert redact_url("https://user:pw@host:1/v1?key=secret#x") == "https://host:1/v1"
    assert redact_url("http://h/v1") == "http://h/v1"


def test_a_tool_call_remembers_where_in_the_text_it_started() -> None:
    from nbchat.accumulate import ToolCall
    from nbchat.events import ToolCallFinished, ToolCallStarted

    reply = Reply()
    reply.apply(ToolCallStarted(0, "t0", "early"))
    reply.apply(TextDelta("Let me check."))
    reply.apply(ToolCallStarted(1, "t1", "weather"))
    reply.apply(ToolCallFinished(1, {"city": "Paris"}))
    reply.apply(TextDelta(" Sunny."))
    early, weather = reply.tool_call_infos()
    assert "at" not in early  # before any text: shown above it
    assert weather["at"] == len("Let me check.")
    again = ToolCall.from_info(1, dict(weather))
    assert again.at == weather["at"] and again.info() == weather


def test_progress_remembers_where_in_the_text_it_started() -> None:
    from nbchat.events import Progress

    reply = Reply()
    reply.apply(TextDelta("Planning your workout."))
    reply.apply(Progress("started", 5.0, "Setting up", None))
    reply.apply(Progress("fetching", 40.0, "Loading", 12.0))
    info = reply.progress_info()
    assert info is not None and info["at"] == len("Planning your workout.")
    assert info["stage"] == "fetching"
    again = Reply.restore(text="Planning your workout.", progress=dict(info))
    assert again.progress_info() == info
    plain = Reply()
    plain.apply(Progress("started", 1.0, "", None))
    info = plain.progress_info()
    assert info is not None and "at" not in info  # before any text: shown above it


def test_reasoning_remembers_where_in_the_text_it_started() -> None:
    from nbchat.events import ReasoningDelta
    from nbchat.message import Message

    reply = Reply()
    reply.apply(TextDelta("First part."))
    reply.apply(ReasoningDelta("Let me "))
    reply.apply(ReasoningDelta("think."))
    assert reply.reasoning_at == len("First part.") and reply.reasoning == "Let me think."
    message = Message("assistant", reply=reply)
    assert message.to_info()["reasoning_at"] == 11
    again = Message.from_record(message.to_record(finished_at=1.0))
    assert again.reply.reasoning_at == 11 and again.reasoning == "Let me think."
