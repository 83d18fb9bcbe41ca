"""Dialects beyond the recordings: spec event streams, progress, truncation, malformed
input, impossible orders, request shapes, line decoding and user dialects."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest

from nbchat import dialects as registry
from nbchat.accumulate import Reply
from nbchat.config import Endpoint
from nbchat.dialects import Dialect, HttpRequest, get_dialect, register_dialect
from nbchat.dialects.progress import progress_url
from nbchat.errors import ProtocolError
from nbchat.events import Finished, Progress, Result, StreamEvent, TextDelta
from nbchat.parse import parse_stream
from nbchat.stream.base import decoder_for
from nbchat.stream.lines import LineDecoder
from nbchat.stream.sse import ServerSentEvent, SSEDecoder
from nbchat.wire import ChatMessageParam
from tests.conftest import FIXTURES
from tests.test_fixtures import DIALECTS, TRANSCRIPTS

BUILT_IN = ["ai-sdk", "ai-sdk-v4", "anthropic", "events", "openai-chat", "openai-responses"]
ALL = [*BUILT_IN, "progress"]


def sse(*events: tuple[str | None, Any]) -> bytes:
    """An event stream: each item is (event name or None, JSON value or raw str)."""
    out = []
    for name, data in events:
        text = data if isinstance(data, str) else json.dumps(data)
        head = f"event: {name}\n" if name else ""
        out.append(f"{head}data: {text}\n\n")
    return "".join(out).encode()


def one_byte(body: bytes) -> list[bytes]:
    return [body[i : i + 1] for i in range(len(body))]


# --- events: spec 001 ---------------------------------------------------------------


@pytest.mark.parametrize("style", ["both", "event-field", "type-field"])
def test_spec001_chunks_then_complete_never_doubles_text(style: str) -> None:
    def ev(kind: str, **data: Any) -> tuple[str | None, Any]:
        body = data if style == "event-field" else {"type": kind, **data}
        return (None if style == "type-field" else kind, body)

    body = sse(
        ev("chunk", content="Hel"), ev("chunk", content="lo"), ev("complete", content="Hello")
    )
    for chunks in ([body], one_byte(body)):
        reply = parse_stream(chunks, "events", "text/event-stream")
        assert reply.text == "Hello" and reply.error is None
        assert (reply.finish_reason, reply.native_finish_reason) == ("stop", "complete")


def test_spec001_complete_without_chunks_gives_the_text() -> None:
    reply = parse_stream(sse(("complete", {"type": "complete", "content": "All of it"})), "events")
    assert reply.text == "All of it" and reply.text_deltas == 1 and reply.finished


def test_spec001_complete_adds_only_the_missing_tail() -> None:
    body = sse(
        (None, {"type": "chunk", "content": "Hel"}),
        (None, {"type": "complete", "content": "Hello"}),
    )
    assert parse_stream(body, "events").text == "Hello"


def test_spec001_complete_with_a_result_object() -> None:
    body = sse(("complete", {"type": "complete", "result": {"score": 3}}))
    reply = parse_stream(body, "events")
    assert reply.result == {"score": 3} and reply.text == "" and reply.finished


def test_spec001_error_event() -> None:
    body = sse(
        ("chunk", {"type": "chunk", "content": "partial"}),
        ("error", {"type": "error", "error": {"message": "model overloaded", "code": "AI_ERROR"}}),
    )
    reply = parse_stream(body, "events")
    assert reply.text == "partial" and reply.finish_reason == "error"
    assert reply.error is not None and reply.error.code == "PROVIDER_ERROR"
    assert reply.error.message == "AI_ERROR: model overloaded"


# --- events: spec 002 ---------------------------------------------------------------


def spec002_body() -> bytes:
    return sse(
        ("start", {"conversation_id": "c1", "mode": "green"}),
        ("message", {"delta": "Looking ", "role": "assistant"}),
        ("tool_started", {"tool_name": "get_prices", "arguments": {"ticker": "AAPL"}}),
        ("tool_started", {"tool_name": "get_news"}),
        ("tool_finished", {"tool_name": "get_news", "duration_ms": 40, "result": ["n1"]}),
        ("tool_finished", {"tool_name": "get_prices", "duration_ms": 1250, "result": {"p": 1}}),
        ("tool_started", {"tool_name": "get_prices"}),
        ("tool_finished", {"tool_name": "get_prices", "duration_ms": 5, "result": 2}),
        ("message", {"delta": "done.", "role": "assistant"}),
        ("done", {"tool_calls_count": 3}),
    )


@pytest.mark.parametrize("chunking", ["whole", "bytes"])
def test_spec002_message_tools_done(chunking: str) -> None:
    body = spec002_body()
    reply = parse_stream([body] if chunking == "whole" else one_byte(body), "events")
    assert reply.text == "Looking done." and reply.error is None
    assert (reply.finish_reason, reply.native_finish_reason) == ("stop", "done")
    calls = [(c.index, c.name, c.input, c.result, c.duration_s) for c in reply.tool_calls]
    assert calls == [
        (0, "get_prices", {"ticker": "AAPL"}, {"p": 1}, 1.25),
        (1, "get_news", {}, ["n1"], 0.04),
        (2, "get_prices", {}, 2, 0.005),
    ]
    assert reply.tool_calls[0].arguments == '{"ticker": "AAPL"}'
    assert all(c.finished for c in reply.tool_calls)


def test_spec002_default_message_event_with_no_type() -> None:
    # `data:` only: the SSE default name "message" is spec 002's text event
    body = sse((None, {"delta": "hi"}), (None, {"type": "done"}))
    reply = parse_stream(body, "events")
    assert reply.text == "hi" and reply.finish_reason == "stop"


def test_spec002_error_event_with_top_level_message() -> None:
    body = sse(("message", {"delta": "a"}), ("error", {"message": "rate limited"}))
    reply = parse_stream(body, "events")
    assert reply.error is not None and reply.error.code == "PROVIDER_ERROR"
    assert reply.error.message == "rate limited" and reply.text == "a"


def test_spec002_unfinished_tool_is_finished_by_done() -> None:
    body = sse(("tool_started", {"tool_name": "t"}), ("done", {}))
    reply = parse_stream(body, "events")
    assert reply.tool_calls[0].finished and reply.tool_calls[0].result is None


def test_spec002_usage_is_read_when_present() -> None:
    body = sse(("done", {"usage": {"prompt_tokens": 3, "completion_tokens": 4}}))
    usage = parse_stream(body, "events").usage
    assert usage is not None and usage.total_tokens == 7


# --- progress (spec 004) ---------------------------------------------------------------


def progress_body() -> bytes:
    stages = [
        ("started", 5, 9000),
        ("fetching-exercises", 15, 8000),
        ("generating", 40, 5000),
        ("validating", 70, 1500),
        ("storing", 85, 500),
        ("complete", 100, 0),
    ]
    events: list[tuple[str | None, Any]] = [
        (None, {"stage": s, "progress": p, "message": f"{s}...", "estimatedTimeRemaining": eta})
        for s, p, eta in stages
    ]
    events.append((None, {"type": "result", "data": {"exercises": [1, 2]}}))
    return sse(*events)


def test_progress_stages_eta_and_result() -> None:
    dialect = get_dialect("progress")
    events: list[StreamEvent] = []
    for message in SSEDecoder().feed(progress_body()):
        events.extend(dialect.feed(message))
    progress = [e for e in events if isinstance(e, Progress)]
    assert [p.stage for p in progress][:2] == ["started", "fetching-exercises"]
    assert progress[2] == Progress("generating", 40.0, "generating...", 5.0)
    assert events[-2:] == [Result({"exercises": [1, 2]}), Finished("stop", "result")]
    assert dialect.end() == []


def test_progress_reply_keeps_last_step_and_result() -> None:
    reply = parse_stream(one_byte(progress_body()), "progress", "text/event-stream")
    assert reply.error is None and reply.finished
    assert reply.progress == Progress("complete", 100.0, "complete...", 0.0)
    assert reply.result == {"exercises": [1, 2]}


def test_progress_clamps_percent_and_tolerates_missing_fields() -> None:
    body = sse(
        (None, {"stage": "x", "progress": 140}), (None, {"stage": "y"}), ("result", {"data": 1})
    )
    reply = parse_stream(body, "progress")
    assert reply.progress == Progress("y", None, "", None)
    assert reply.result == 1  # the SSE event name is enough to mark the result


def test_progress_error_names_code_and_message() -> None:
    body = sse(
        (None, {"stage": "generating", "progress": 40}),
        (None, {"stage": "generating", "message": "OpenAI timed out", "error": "OPENAI_API_ERROR"}),
    )
    reply = parse_stream(body, "progress")
    assert reply.error is not None and reply.error.code == "OPENAI_API_ERROR"
    assert reply.error.message == "OpenAI timed out (at stage generating)"
    assert reply.progress is not None and reply.progress.percent == 40.0


def test_progress_complete_stage_without_result_is_done_not_interrupted() -> None:
    # The job said it is complete: asking again would start it a second time.
    body = progress_body()
    body = body[: body.index(b'data: {"type": "result"')]
    reply = parse_stream(body, "progress")
    assert reply.error is None and reply.finish_reason == "stop" and reply.result is None
    assert reply.progress is not None and reply.progress.stage == "complete"


def test_progress_that_ends_before_complete_is_interrupted() -> None:
    body = sse((None, {"stage": "generating", "progress": 40}))
    reply = parse_stream(body, "progress")
    assert reply.error is not None and reply.error.code == "INTERRUPTED"
    assert "result" in reply.error.message


@pytest.mark.parametrize("value", [-5, 1e12, "1000", None, float("nan")])
def test_a_nonsense_progress_eta_is_hidden(value: object) -> None:
    body = sse((None, {"stage": "generating", "progress": 40, "estimatedTimeRemaining": value}))
    reply = parse_stream(body, "progress")
    assert reply.progress is not None and reply.progress.eta_s is None


# --- truncation of every dialect -------------------------------------------------------

#: where each dialect's end marker starts in a body
MARKERS = {
    "openai-chat": b"data: [DONE]",
    "anthropic": b"event: message_stop",
    "openai-responses": b"event: response.completed",
    "ai-sdk": b"data: [DONE]",
    "ai-sdk-v4": b"d:{",
}
CLEAN = sorted(n for n, t in TRANSCRIPTS.items() if t["expected"]["error"] is None)


@pytest.mark.parametrize("name", CLEAN, ids=CLEAN)
def test_cut_before_end_marker_is_interrupted(name: str) -> None:
    transcript = TRANSCRIPTS[name]
    dialect = DIALECTS[transcript["dialect"]]
    body = (FIXTURES / name).read_bytes()
    cut = body[: body.rindex(MARKERS[dialect])]
    reply = parse_stream(cut, dialect, transcript["content_type"])
    assert reply.error is not None and reply.error.code == "INTERRUPTED"
    assert get_dialect(dialect).end_marker in reply.error.message
    assert reply.text == transcript["expected"]["text"]  # text so far is kept
    assert reply.finish_reason == "error"


@pytest.mark.parametrize("name", CLEAN, ids=CLEAN)
def test_cut_anywhere_keeps_a_prefix_and_is_interrupted(name: str) -> None:
    transcript = TRANSCRIPTS[name]
    dialect = DIALECTS[transcript["dialect"]]
    body = (FIXTURES / name).read_bytes()
    for end in range(1, len(body) - 2, max(1, len(body) // 37)):
        reply = parse_stream(body[:end], dialect)
        assert reply.error is not None and reply.error.code == "INTERRUPTED", end
        assert transcript["expected"]["text"].startswith(reply.text)


def test_spec_events_and_progress_truncated() -> None:
    cut = spec002_body()[: spec002_body().index(b"event: done")]
    reply = parse_stream(cut, "events")
    assert reply.error is not None and reply.error.code == "INTERRUPTED"
    assert "complete or done" in reply.error.message and reply.text == "Looking done."


# --- malformed JSON and impossible orders -----------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_malformed_json_is_a_protocol_error_with_excerpt(name: str) -> None:
    data = '0:{"oops' if name == "ai-sdk-v4" else '{"type": "x", oops'
    body = f'{data}\n0:"more"\n'.encode() if name == "ai-sdk-v4" else sse((None, data))
    reply = parse_stream(body, name)
    assert reply.error is not None and reply.error.code == "PROTOCOL_ERROR"
    assert "oops" in reply.error.message and "JSONDecodeError" not in reply.error.message
    assert name in reply.error.message


@pytest.mark.parametrize("name", [n for n in ALL if n not in ("ai-sdk-v4", "openai-chat")])
def test_json_that_is_not_an_object_is_a_protocol_error(name: str) -> None:
    reply = parse_stream(sse((None, "[1, 2]")), name)
    assert reply.error is not None and reply.error.code == "PROTOCOL_ERROR"


IMPOSSIBLE: list[tuple[str, bytes]] = [
    (
        "anthropic",
        sse(("content_block_delta", {"type": "content_block_delta", "index": 3,
                                     "delta": {"type": "text_delta", "text": "x"}})),
    ),
    (
        "anthropic",
        sse(
            ("content_block_start", {"type": "content_block_start", "index": 0,
                                     "content_block": {"type": "text", "text": ""}}),
            ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                     "delta": {"type": "input_json_delta", "partial_json": "{"}}),
        ),
    ),
    ("anthropic", sse(("content_block_stop", {"type": "content_block_stop", "index": 0}))),
    (
        "openai-responses",
        sse((None, {"type": "response.function_call_arguments.delta", "item_id": "fc_1",
                    "output_index": 0, "delta": "{"})),
    ),
    ("ai-sdk", sse((None, {"type": "text-delta", "id": "t9", "delta": "x"}))),
    ("ai-sdk", sse((None, {"type": "tool-input-delta", "toolCallId": "c9",
                           "inputTextDelta": "{"}))),
    ("ai-sdk", sse((None, {"type": "tool-output-available", "toolCallId": "c9", "output": 1}))),
    ("ai-sdk-v4", b'c:{"toolCallId":"c9","argsTextDelta":"{"}\n'),
    ("ai-sdk-v4", b'a:{"toolCallId":"c9","result":1}\n'),
    ("events", sse(("tool_finished", {"tool_name": "never_started", "result": 1}))),
]  # fmt: skip


@pytest.mark.parametrize(("name", "body"), IMPOSSIBLE)
def test_impossible_order_is_a_protocol_error(name: str, body: bytes) -> None:
    reply = parse_stream(body, name)
    assert reply.error is not None and reply.error.code == "PROTOCOL_ERROR", reply.error


def test_v4_line_that_is_not_type_json() -> None:
    reply = parse_stream(b'0:"a"\n<html>oops</html>\n0:"b"\n', "ai-sdk-v4")
    assert reply.error is not None and reply.error.code == "PROTOCOL_ERROR"
    assert "<html>oops" in reply.error.message and reply.text == "a"


def test_v4_cut_mid_line_is_interrupted_not_malformed() -> None:
    reply = parse_stream(b'0:"Hello"\n0:"wor', "ai-sdk-v4", "text/plain; charset=utf-8")
    assert reply.error is not None and reply.error.code == "INTERRUPTED"
    assert reply.text == "Hello"


# --- dialect details ---------------------------------------------------------------------


def test_invalid_tool_arguments_keep_raw_text_and_empty_input() -> None:
    body = sse(
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "tool_use", "id": "t1", "name": "f"}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "input_json_delta", "partial_json": "{bad"}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_stop", {"type": "message_stop"}),
    )  # fmt: skip
    reply = parse_stream(body, "anthropic")
    assert reply.error is None
    assert (reply.tool_calls[0].arguments, reply.tool_calls[0].input) == ("{bad", {})


@pytest.mark.parametrize(
    ("stop_reason", "normalized"),
    [("max_tokens", "length"), ("refusal", "refusal"), ("stop_sequence", "stop")],
)
def test_anthropic_thinking_and_stop_reasons(stop_reason: str, normalized: str) -> None:
    body = sse(
        ("message_start", {"type": "message_start", "message": {"usage": {"input_tokens": 5}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "thinking", "thinking": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "thinking_delta", "thinking": "Hmm."}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "signature_delta", "signature": "sig"}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop_reason},
                           "usage": {"output_tokens": 9}}),
        ("message_stop", {"type": "message_stop"}),
    )  # fmt: skip
    reply = parse_stream(body, "anthropic")
    assert reply.reasoning == "Hmm." and reply.text == ""
    assert (reply.finish_reason, reply.native_finish_reason) == (normalized, stop_reason)
    assert (reply.input_tokens, reply.output_tokens) == (5, 9)


def test_responses_reasoning_incomplete_and_failed() -> None:
    body = sse(
        (None, {"type": "response.reasoning_summary_text.delta", "delta": "Think."}),
        (None, {"type": "response.output_text.delta", "delta": "Ans"}),
        (None, {"type": "response.incomplete", "response": {
            "status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"},
            "usage": {"input_tokens": 4, "output_tokens": 8}}}),
    )  # fmt: skip
    reply = parse_stream(body, "openai-responses")
    assert (reply.reasoning, reply.text, reply.error) == ("Think.", "Ans", None)
    assert (reply.finish_reason, reply.native_finish_reason) == ("length", "incomplete")
    failed = sse(
        (None, {"type": "response.failed", "response": {
            "status": "failed", "error": {"code": "server_error", "message": "boom"}}}),
    )  # fmt: skip
    reply = parse_stream(failed, "openai-responses")
    assert reply.error is not None and reply.error.message == "server_error: boom"
    assert (reply.finish_reason, reply.native_finish_reason) == ("error", "failed")


def test_responses_error_event_with_top_level_fields() -> None:
    body = sse(("error", {"type": "error", "code": "rate_limit_exceeded", "message": "slow"}))
    reply = parse_stream(body, "openai-responses")
    assert reply.error is not None and reply.error.message == "rate_limit_exceeded: slow"


def test_ai_sdk_v5_reasoning_tool_error_client_tool_and_finish_reason() -> None:
    body = sse(
        (None, {"type": "reasoning-start", "id": "r"}),
        (None, {"type": "reasoning-delta", "id": "r", "delta": "plan"}),
        (None, {"type": "reasoning-end", "id": "r"}),
        (None, {"type": "tool-input-available", "toolCallId": "a", "toolName": "f",
                "input": {"x": 1}}),
        (None, {"type": "tool-output-error", "toolCallId": "a", "errorText": "nope"}),
        (None, {"type": "tool-input-start", "toolCallId": "b", "toolName": "ask_user"}),
        (None, {"type": "tool-input-delta", "toolCallId": "b", "inputTextDelta": "{}"}),
        (None, {"type": "tool-input-available", "toolCallId": "b", "toolName": "ask_user",
                "input": {}}),
        (None, {"type": "finish-step"}),
        (None, {"type": "finish", "finishReason": "tool-calls"}),
        (None, "[DONE]"),
    )  # fmt: skip
    reply = parse_stream(body, "ai-sdk", "text/event-stream")
    assert reply.reasoning == "plan" and reply.error is None
    a, b = reply.tool_calls
    assert (a.id, a.input, a.arguments, a.result) == ("a", {"x": 1}, '{"x": 1}', {"error": "nope"})
    assert (b.name, b.finished, b.result) == ("ask_user", True, None)
    assert (reply.finish_reason, reply.native_finish_reason) == ("tool_calls", "tool-calls")


def test_ai_sdk_v5_abort_is_interrupted() -> None:
    body = sse(
        (None, {"type": "text-start", "id": "t"}),
        (None, {"type": "text-delta", "id": "t", "delta": "x"}),
        (None, {"type": "abort"}),
    )
    reply = parse_stream(body, "ai-sdk")
    assert reply.error is not None and reply.error.code == "INTERRUPTED" and reply.text == "x"


def test_ai_sdk_v4_reasoning_whole_tool_call_and_nan_usage() -> None:
    body = (
        b'g:"why"\n'
        b'9:{"toolCallId":"c1","toolName":"f","args":{"q":1}}\n'
        b'a:{"toolCallId":"c1","result":[1]}\n'
        b'2:[{"some":"data"}]\n8:[{"note":1}]\n'
        b'd:{"finishReason":"length","usage":{"promptTokens":NaN,"completionTokens":7}}'
    )
    reply = parse_stream(body, "ai-sdk-v4")
    assert reply.reasoning == "why" and reply.error is None
    (call,) = reply.tool_calls
    assert (call.id, call.name, call.arguments, call.input, call.result) == (
        "c1", "f", '{"q": 1}', {"q": 1}, [1]
    )  # fmt: skip
    assert (reply.input_tokens, reply.output_tokens) == (None, 7)
    assert reply.finish_reason == "length"


# --- build_request ----------------------------------------------------------------------

MESSAGES: list[ChatMessageParam] = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello"},
    {"role": "user", "content": "Weather?"},
]


def request(name: str, base_url: str, key: str | None = "sk-secret") -> HttpRequest:
    endpoint = Endpoint(base_url, "m-1", api_key=key, dialect=name, headers=(("X-A", "b"),))
    built = get_dialect(name).build_request(endpoint, MESSAGES)
    assert "sk-secret" not in repr(built) and "sk-secret" not in repr(endpoint)
    assert built.method == "POST" and built.headers["X-A"] == "b"
    return built


def test_request_openai_responses() -> None:
    built = request("openai-responses", "https://api.openai.com/v1/")
    assert built.url == "https://api.openai.com/v1/responses"
    assert built.headers["Authorization"] == "Bearer sk-secret"
    assert built.json == {
        "model": "m-1",
        "instructions": "Be brief.",
        "input": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello"},
            {"role": "user", "content": "Weather?"},
        ],
        "stream": True,
    }


def test_request_anthropic() -> None:
    built = request("anthropic", "https://api.anthropic.com/v1")
    assert built.url == "https://api.anthropic.com/v1/messages"
    assert built.headers["x-api-key"] == "sk-secret"
    assert built.headers["anthropic-version"] == "2023-06-01"
    assert "Authorization" not in built.headers
    assert built.json == {
        "model": "m-1",
        "max_tokens": 4096,
        "stream": True,
        "system": "Be brief.",
        "messages": [m for m in MESSAGES if m["role"] != "system"],
    }


@pytest.mark.parametrize("name", ["ai-sdk", "ai-sdk-v4"])
def test_request_ai_sdk(name: str) -> None:
    built = request(name, "https://host/api/chat")
    assert built.url == "https://host/api/chat"
    assert built.headers["Authorization"] == "Bearer sk-secret"
    messages = built.json["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[3]["parts"] == [{"type": "text", "text": "Weather?"}]
    assert messages[3]["content"] == "Weather?"
    assert len({m["id"] for m in messages}) == 4


@pytest.mark.parametrize(
    ("base_url", "url"),
    [("http://h/sessions/s1", "http://h/sessions/s1/chat"), ("http://h/sessions/s1/chat/", "http://h/sessions/s1/chat")],
)  # fmt: skip
def test_request_events(base_url: str, url: str) -> None:
    built = request("events", base_url)
    assert built.url == url and built.json == {"message": "Weather?"}
    assert built.headers["Authorization"] == "Bearer sk-secret"
    assert "Authorization" not in request("events", base_url, key=None).headers


@pytest.mark.parametrize(
    ("base_url", "url"),
    [
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000/api/generate-stream"),
        ("http://127.0.0.1:8000/v1", "http://127.0.0.1:8000/api/generate-stream"),
        ("https://h/api/generate-stream", "https://h/api/generate-stream"),
        ("https://h/custom/route", "https://h/custom/route"),
    ],
)
def test_request_progress(base_url: str, url: str) -> None:
    assert progress_url(base_url) == url
    built = request("progress", base_url)
    assert built.url == url and built.json == {"prompt": "Weather?"}
    assert built.headers["Authorization"] == "Bearer sk-secret"


def test_registry_and_framing() -> None:
    assert set(ALL) <= set(registry.dialect_names())
    for name in ALL:
        dialect = get_dialect(name)
        assert dialect.name == name and dialect.end_marker
        want = LineDecoder if name == "ai-sdk-v4" else SSEDecoder
        assert type(decoder_for(dialect.framing)) is want


# --- parse_stream ------------------------------------------------------------------------


def test_wrong_content_type_for_an_sse_dialect() -> None:
    body = (FIXTURES / "anthropic-text.sse").read_bytes()
    reply = parse_stream(body, "anthropic", "application/json")
    assert reply.error is not None and reply.error.code == "PROTOCOL_ERROR"
    assert "application/json" in reply.error.message and reply.text == ""
    assert parse_stream(body, "anthropic", "Text/Event-Stream; charset=latin-1").text


def test_line_dialect_accepts_any_content_type() -> None:
    reply = parse_stream(b'0:"x"\nd:{"finishReason":"stop"}\n', "ai-sdk-v4", "text/plain")
    assert (reply.text, reply.error, reply.finish_reason) == ("x", None, "stop")


def test_parse_stream_takes_a_dialect_instance_and_chunks() -> None:
    reply = parse_stream(iter([b'data: {"choices":[{"delta":{"content":"Hi"}}]}\n\n',
                               b"data: [DONE]\n\n"]), get_dialect("openai-chat"))  # fmt: skip
    assert (reply.text, reply.finish_reason) == ("Hi", "stop")


def test_a_too_long_line_becomes_a_protocol_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("nbchat.stream.lines.MAX_LINE", 1000)
    reply = parse_stream(one_byte(b'0:"' + b"x" * 2000), "ai-sdk-v4")
    assert reply.error is not None and reply.error.code == "PROTOCOL_ERROR"
    assert "1000" in reply.error.message


class ShoutDialect(Dialect):
    """A user's own dialect: each line of a plain-text body, upper-cased, ends with END."""

    name = "shout"
    end_marker = "an END line"
    framing = "lines"

    def build_request(
        self, endpoint: Endpoint, messages: Sequence[ChatMessageParam]
    ) -> HttpRequest:
        return HttpRequest("POST", endpoint.base_url, {"say": messages[-1]["content"]})

    def feed(self, event: ServerSentEvent) -> list[StreamEvent]:
        if event.data == "END":
            self.finished = True
            return [Finished("stop", "END")]
        return [TextDelta(event.data.upper() + " ")]


def test_register_dialect_works_through_parse_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    register_dialect("shout", ShoutDialect)
    assert "shout" in registry.dialect_names()
    reply = parse_stream(one_byte(b"hello\r\nworld\nEND"), "shout", "text/plain")
    assert (reply.text, reply.native_finish_reason, reply.error) == ("HELLO WORLD ", "END", None)
    reply = parse_stream(b"hello\n", "shout")
    assert reply.error is not None and "an END line" in reply.error.message


# --- LineDecoder ---------------------------------------------------------------------------


def lines(chunks: list[bytes]) -> list[str]:
    decoder = LineDecoder()
    events = [e for chunk in chunks for e in decoder.feed(chunk)] + decoder.close()
    assert all(e.event == "message" for e in events)
    return [e.data for e in events]


def test_lines_crlf_split_across_chunks() -> None:
    assert lines([b'0:"a"\r', b'\n0:"b"\r\n']) == ['0:"a"', '0:"b"']


def test_lines_multibyte_utf8_split_across_chunks() -> None:
    body = '0:"héllo 世界 🎉"\n'.encode()
    assert lines(one_byte(body)) == ['0:"héllo 世界 🎉"']


def test_lines_final_line_without_newline_and_blank_lines() -> None:
    assert lines([b"\n\na\n  \n\r\nb"]) == ["a", "b"]


def test_lines_bom_and_invalid_utf8() -> None:
    assert lines([b"\xef\xbb\xbfa\xff\n"]) == ["a\ufffd"]


def test_lines_long_line_in_many_pieces_is_bounded() -> None:
    decoder = LineDecoder(max_line=100)
    assert decoder.feed(b"x" * 60) == []
    with pytest.raises(ProtocolError):
        decoder.feed(b"x" * 60)
    decoder = LineDecoder(max_line=100)
    assert [e.data for e in decoder.feed(b"y" * 90 + b"\n")] == ["y" * 90]


def test_reply_accumulates_progress_and_result() -> None:
    reply = Reply()
    for event in (Progress("a", 10.0), Progress("b", 50.0, "half", 2.0), Result({"ok": True})):
        reply.apply(event)
    assert reply.progress == Progress("b", 50.0, "half", 2.0)
    assert reply.result == {"ok": True} and reply.error is None


def test_sampling_fields_in_each_format() -> None:
    from nbchat.config import Endpoint
    from nbchat.dialects import get_dialect

    anthropic = get_dialect("anthropic")
    request = anthropic.request(Endpoint("http://h/v1", "m", dialect="anthropic"), [])
    sampled = anthropic.with_sampling(request, {"stop": "\n\n", "temperature": 0.1}).json
    assert sampled["stop_sequences"] == ["\n\n"] and sampled["temperature"] == 0.1
    chat = get_dialect("openai-chat")
    request = chat.request(Endpoint("http://h/v1", "m"), [])
    assert chat.with_sampling(request, {"stop": "\n\n"}).json["stop"] == "\n\n"
