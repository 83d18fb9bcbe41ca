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


def _chunk(content: object, **extra: object) -> str:
    choice = {"index": 0, "delta": {"content": content}, "finish_reason": None, **extra}
    return json.dumps({"id": "c1", "object": "chat.completion.chunk", "choices": [choice]})


@pytest.mark.parametrize(
    "later",
    [
        _chunk("plain"),
        _chunk('quote " and \\ backslash'),
        _chunk("line\nbreak and tab\t"),
        _chunk("snow ☃ and 😀"),  # ensure_ascii: \u escapes, the careful path
        _chunk(""),
        _chunk("stop here", finish_reason="stop").replace('"finish_reason": null, ', ""),
        _chunk("a").replace('"a"', '"a", "content": "b"'),  # not one literal
        _chunk("a").replace('"a"', '"a\\u0000"'),
        _chunk("a").replace('"a"', '"tab\tinside"'),  # a raw control character: invalid
        _chunk("x").replace('"c1"', '"c2"'),  # other surroundings
        _chunk(None),
        _chunk("tool", tool_calls=[]),
    ],
)
def test_a_learned_chunk_shape_parses_like_the_full_parse(later: str) -> None:
    # The first text-only chunk teaches the text around its content; a chunk with the
    # same surroundings skips the JSON parse. Whatever comes, both ways agree.
    learned, fresh = OpenAIChatDialect(), OpenAIChatDialect()
    learned.feed(ServerSentEvent(data=_chunk("first")))
    assert learned._shape is not None
    fresh._shape = ("never matches", "")
    event = ServerSentEvent(data=later)
    assert learned.feed(event) == fresh.feed(event)
    assert learned.failed == fresh.failed


def test_no_shape_is_learned_when_content_is_not_certain() -> None:
    for data in (
        _chunk("x").replace('"c1"', '"c1", "x\\"content": 1'),  # "content": twice in the text
        _chunk("x").replace('"c1"', '"c1", "content": "y"'),  # a second key
        _chunk("Hi").replace('"Hi"', '"Hi", "content" :"Hi"'),  # a duplicate: the last wins
    ):
        dialect = OpenAIChatDialect()
        dialect.feed(ServerSentEvent(data=data))
        assert dialect._shape is None


def test_changed_surroundings_are_learned_again_once_useful() -> None:
    dialect = OpenAIChatDialect()
    feed = [dialect.feed(ServerSentEvent(data=_chunk(f"t{i}"))) for i in range(3)]
    first = dialect._shape
    assert feed[2] == [TextDelta("t2")] and dialect._shape_hits == 2
    ticked = _chunk("later").replace('"c1"', '"c2"')  # Ollama's "created" ticked
    assert dialect.feed(ServerSentEvent(data=ticked)) == [TextDelta("later")]
    assert dialect._shape not in (None, first) and dialect._shape_hits == 0
    # Surroundings that change every chunk (a per-chunk nonce) are not learned anew.
    noisy = OpenAIChatDialect()
    noisy.feed(ServerSentEvent(data=_chunk("a", nonce="n0")))
    learned = noisy._shape
    for i in range(1, 4):
        assert noisy.feed(ServerSentEvent(data=_chunk("b", nonce=f"n{i}"))) == [TextDelta("b")]
    assert noisy._shape == learned and noisy._shape_hits == 0


def test_usage_null_on_every_chunk_keeps_the_text_path() -> None:
    # OpenAI sends "usage": null on each chunk when usage was asked for.
    dialect = OpenAIChatDialect()
    with_null = _chunk("a").replace('"c1",', '"c1", "usage": null,')
    assert dialect.feed(ServerSentEvent(data=with_null)) == [TextDelta("a")]
    assert dialect._shape is not None
