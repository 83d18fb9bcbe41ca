"""The openai-chat dialect against the recorded provider streams in shared/fixtures."""

from __future__ import annotations

import json

import pytest

from nbchat.accumulate import Reply
from nbchat.config import Endpoint
from nbchat.dialects import get_dialect
from nbchat.dialects.openai_chat import OpenAIChatDialect
from nbchat.events import StreamError, TextDelta
from nbchat.stream.sse import ServerSentEvent, decode
from tests.conftest import FIXTURES

EXPECTED = json.loads((FIXTURES / "expected.json").read_text())["transcripts"]
OPENAI_CHAT = sorted(k for k, v in EXPECTED.items() if v["dialect"] == "openai-chat")


def run(body_chunks: list[bytes]) -> Reply:
    dialect = get_dialect("openai-chat")
    reply = Reply()
    for sse in decode(body_chunks):
        for event in dialect.feed(sse):
            reply.apply(event)
    for event in dialect.end():
        reply.apply(event)
    return reply


@pytest.mark.parametrize("name", OPENAI_CHAT)
@pytest.mark.parametrize("chunking", ["whole", "bytes"])
def test_fixture(name: str, chunking: str) -> None:
    body = (FIXTURES / name).read_bytes()
    chunks = [body] if chunking == "whole" else [body[i : i + 1] for i in range(len(body))]
    reply = run(chunks)
    want = EXPECTED[name]["expected"]
    assert reply.text == want["text"]
    assert reply.refusal == want["refusal"]
    assert [(c.id, c.name, c.input) for c in reply.tool_calls] == [
        (c["id"], c["name"], c["input"]) for c in want["tool_calls"]
    ]
    assert [c.arguments for c in reply.tool_calls] == [c["arguments"] for c in want["tool_calls"]]
    assert reply.finish_reason == want["finish_reason_normalized"]
    usage = reply.usage
    if want["usage"] is None:
        assert usage is None
    else:
        assert usage is not None
        assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (
            want["usage"]["input_tokens"],
            want["usage"]["output_tokens"],
            want["usage"]["total_tokens"],
        )
    if want["error"] is None:
        assert reply.error is None
    else:
        assert reply.error is not None and reply.error.code == "PROVIDER_ERROR"
        assert want["error"]["message"] in reply.error.message


def test_truncated_stream_is_interrupted() -> None:
    body = (FIXTURES / "openai-chat-text.sse").read_bytes()
    cut = body[: body.index(b'"finish_reason":"stop"')]
    cut = cut[: cut.rindex(b"\n\n") + 2]
    reply = run([cut])
    assert reply.error is not None and reply.error.code == "INTERRUPTED"
    assert reply.text and reply.finish_reason == "error"


def test_finish_reason_without_done_is_interrupted() -> None:
    body = (FIXTURES / "openai-chat-text.sse").read_bytes().replace(b"data: [DONE]", b"")
    reply = run([body])
    assert reply.error is not None and reply.error.code == "INTERRUPTED"


def test_malformed_json_is_a_protocol_error_with_excerpt() -> None:
    dialect = OpenAIChatDialect()
    (event,) = dialect.feed(ServerSentEvent(data='{"choices": [ oops'))
    assert isinstance(event, StreamError) and event.code == "PROTOCOL_ERROR"
    assert "oops" in event.message and "JSONDecodeError" not in event.message
    assert dialect.feed(ServerSentEvent(data="[DONE]")) == []  # nothing after a failure


def test_request_shape() -> None:
    endpoint = Endpoint("http://h/v1/", "gpt-x", api_key="sk-1", headers=(("X-A", "b"),))
    request = OpenAIChatDialect().build_request(endpoint, [{"role": "user", "content": "hi"}])
    assert request.url == "http://h/v1/chat/completions"
    assert request.headers == {"X-A": "b", "Authorization": "Bearer sk-1"}
    assert request.json == {
        "model": "gpt-x",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    assert "sk-1" not in repr(request) and "sk-1" not in repr(endpoint)


def test_text_events_are_emitted_per_chunk() -> None:
    body = (FIXTURES / "openai-chat-text.sse").read_bytes()
    dialect = OpenAIChatDialect()
    texts = [e for s in decode([body]) for e in dialect.feed(s) if isinstance(e, TextDelta)]
    assert len(texts) == 30
