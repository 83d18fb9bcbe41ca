"""Every recorded provider stream in tests/fixtures/llm-streams through ``parse_stream``.

Each transcript is parsed whole and in 1-byte chunks, with the content type it is
served with, and compared with its ``expected`` outcome in ``expected.json``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from nbchat.accumulate import Reply
from nbchat.dialects import get_dialect
from nbchat.parse import parse_stream
from nbchat.stream.base import decoder_for
from tests.conftest import FIXTURES

TRANSCRIPTS: dict[str, Any] = json.loads((FIXTURES / "expected.json").read_text())["transcripts"]
NAMES = sorted(TRANSCRIPTS)

#: expected.json's dialect names -> nbchat registry names
DIALECTS = {
    "openai-chat": "openai-chat",
    "openai-responses": "openai-responses",
    "anthropic": "anthropic",
    "vercel-ui-message-stream": "ai-sdk",
    "vercel-data-stream-v4": "ai-sdk-v4",
}


def dialect_of(name: str) -> str:
    return DIALECTS[TRANSCRIPTS[name]["dialect"]]


def chunked(body: bytes, chunking: str) -> list[bytes]:
    return [body] if chunking == "whole" else [body[i : i + 1] for i in range(len(body))]


def test_all_transcripts_are_covered() -> None:
    assert len(NAMES) == 21
    assert {t["dialect"] for t in TRANSCRIPTS.values()} == set(DIALECTS)


@pytest.mark.parametrize("chunking", ["whole", "bytes"])
@pytest.mark.parametrize("name", NAMES, ids=NAMES)
def test_transcript(name: str, chunking: str) -> None:
    transcript = TRANSCRIPTS[name]
    want = transcript["expected"]
    body = (FIXTURES / name).read_bytes()
    reply = parse_stream(chunked(body, chunking), dialect_of(name), transcript["content_type"])

    assert reply.text == want["text"]
    assert reply.reasoning == want["reasoning"]
    assert reply.refusal == want["refusal"]
    assert [(c.id, c.name, c.input) for c in reply.tool_calls] == [
        (c["id"], c["name"], c["input"]) for c in want["tool_calls"]
    ]
    assert [c.arguments for c in reply.tool_calls] == [c["arguments"] for c in want["tool_calls"]]
    assert [c.result for c in reply.tool_calls] == [c.get("output") for c in want["tool_calls"]]
    assert all(c.finished for c in reply.tool_calls)
    assert reply.finish_reason == want["finish_reason_normalized"]
    assert reply.native_finish_reason == want["finish_reason"]
    assert_usage(reply, want["usage"])
    if want["error"] is None:
        assert reply.error is None
        assert reply.finished
    else:
        assert reply.error is not None and reply.error.code == "PROVIDER_ERROR"
        assert want["error"]["message"] in reply.error.message
        label = want["error"].get("type") or want["error"].get("code")
        if label:  # the message names the provider's error type or code
            assert label in reply.error.message


def assert_usage(reply: Reply, want: dict[str, int] | None) -> None:
    usage = reply.usage
    if want is None:
        assert usage is None
        return
    assert usage is not None
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (
        want["input_tokens"],
        want["output_tokens"],
        want["total_tokens"],
    )


@pytest.mark.parametrize("name", NAMES, ids=NAMES)
def test_event_count(name: str) -> None:
    """The decoder picked by the dialect's framing cuts the body as expected.json says."""
    body = (FIXTURES / name).read_bytes()
    decoder = decoder_for(get_dialect(dialect_of(name)).framing)
    events = decoder.feed(body) + decoder.close()
    want = TRANSCRIPTS[name]["expected"]["sse_events"]
    if want is None:  # the v4 data stream: one event per non-empty line
        assert len(events) == len([line for line in body.splitlines() if line.strip()])
    else:
        assert len(events) == want
