"""The SSE decoder against cases derived from the WHATWG HTML spec, at every chunking."""

from __future__ import annotations

import pytest

from nbchat.errors import ProtocolError
from nbchat.stream.sse import ServerSentEvent, SSEDecoder, decode, is_event_stream


def every_split(body: bytes) -> list[list[bytes]]:
    """The body whole, byte by byte, and cut in two at every position."""
    ways = [[body], [body[i : i + 1] for i in range(len(body))]]
    ways += [[body[:i], body[i:]] for i in range(1, len(body))]
    return ways


def check(body: bytes, expected: list[ServerSentEvent]) -> None:
    for chunks in every_split(body):
        assert decode(chunks) == expected, chunks


def ev(
    data: str, event: str = "message", id: str = "", retry: int | None = None
) -> ServerSentEvent:
    return ServerSentEvent(event=event, data=data, id=id, retry=retry)


@pytest.mark.parametrize("eol", [b"\n", b"\r", b"\r\n"])
def test_line_endings(eol: bytes) -> None:
    body = b"data: a" + eol + b"data: b" + eol + eol + b"event: x" + eol + b"data: c" + eol + eol
    check(body, [ev("a\nb"), ev("c", event="x")])


def test_mixed_line_endings_and_crlf_split_across_chunks() -> None:
    check(b"data: 1\r\n\r\ndata: 2\r\rdata: 3\n\r\n", [ev("1"), ev("2"), ev("3")])


def test_leading_bom_stripped_once() -> None:
    bom = "\ufeff".encode()
    check(bom + b"data: x\n\n", [ev("x")])
    # a second BOM is data, not a BOM: the field name is then "\ufeffdata", ignored
    check(bom + bom + b"data: x\n\n", [])


def test_comments_are_not_events() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b": keep-alive\n\n: again\n\ndata: x\n\n") == [ev("x")]
    assert decoder.comments == 2


def test_one_leading_space_stripped() -> None:
    check(b"data:  two\ndata:none\n\n", [ev(" two\nnone")])


def test_field_without_colon_and_empty_data() -> None:
    check(b"data\n\n", [ev("")])
    check(b"data\ndata\n\n", [ev("\n")])


def test_block_without_data_not_dispatched_but_id_and_retry_stick() -> None:
    decoder = SSEDecoder()
    events = decoder.feed(b"id: 7\nretry: 1500\n\n: ping\n\nevent: x\n\ndata: after\n\n")
    assert events == [ev("after", id="7")]
    assert decoder.last_event_id == "7" and decoder.retry_ms == 1500


def test_id_persists_and_can_be_reset() -> None:
    check(
        b"id: 1\ndata: a\n\ndata: b\n\nid\ndata: c\n\n",
        [ev("a", id="1"), ev("b", id="1"), ev("c", id="")],
    )


def test_id_with_nul_is_ignored() -> None:
    check(b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n", [ev("a", id="1"), ev("b", id="1")])


@pytest.mark.parametrize(
    "value", [b"+10", b"1_0", b"-1", b"1.5", b"  10", b"10 ", b"", b"\xd9\xa1"]
)
def test_bogus_retry_ignored(value: bytes) -> None:
    decoder = SSEDecoder()
    events = decoder.feed(b"retry:" + value + b"\ndata: x\n\n")
    assert decoder.retry_ms is None and events[0].retry is None


def test_retry_digits() -> None:
    check(b"retry: 3000\ndata: x\n\n", [ev("x", retry=3000)])


def test_unterminated_final_block_discarded() -> None:
    check(b"data: a\n\ndata: b\n", [ev("a")])
    check(b"data: a\n\ndata: b", [ev("a")])


def test_invalid_utf8_becomes_replacement_and_stream_goes_on() -> None:
    check(b"data: a\xffb\n\ndata: ok\n\n", [ev("a\ufffdb"), ev("ok")])


def test_multibyte_characters_split_anywhere() -> None:
    check("data: 在Linux系统 <&> 🎉\n\n".encode(), [ev("在Linux系统 <&> 🎉")])


def test_unknown_fields_ignored() -> None:
    check(b"foo: bar\ndata: x\n\n", [ev("x")])


def test_content_type_check_is_case_insensitive_and_ignores_charset() -> None:
    assert is_event_stream("Text/Event-Stream; charset=latin-1")
    assert not is_event_stream("text/html")
    assert not is_event_stream(None)
    # charset is ignored: the bytes are decoded as UTF-8 anyway
    assert decode(["data: é\n\n".encode()], content_type="text/event-stream; charset=latin-1") == [
        ev("é")
    ]
    with pytest.raises(ProtocolError, match="text/html"):
        decode([b"data: x\n\n"], content_type="text/html")


def test_big_event_in_small_chunks() -> None:
    payload = "x" * (3 * 1024 * 1024)
    body = f"data: {payload}\n\n".encode()
    chunks = [body[i : i + 65536] for i in range(0, len(body), 65536)]
    (event,) = decode(chunks)
    assert event.data == payload


def test_the_id_of_an_undispatched_event_is_not_the_last_event_id() -> None:
    # A connection cut inside a block: resuming from its id would skip that event.
    decoder = SSEDecoder()
    decoder.feed(b"id: 1\ndata: a\n\nid: 2\ndata: b")
    assert decoder.last_event_id == "1"
    decoder.close()
    assert decoder.last_event_id == "1"
    only_id = SSEDecoder()
    only_id.feed(b"id: 7\n\n")  # dispatch with no data still sets the id
    assert only_id.last_event_id == "7"


BLOCKS = [
    b"data: plain\n\n",
    b"id: 7\ndata: with id\n\n",
    b"data: keeps id 7\n\n",
    b"event: named\ndata: x\n\n",
    b"data: two\ndata: lines\n\n",
    b": a comment\n\n",
    b"retry: 250\ndata: r\n\n",
    b"data: after retry\n\n",
    b"data:nospace\n\n",
    b"data: \n\n",
    b"\n\n",
    b"id\ndata: id cleared\n\n",
    b'data: {"json": 1}\n\n\n\n',
    b"data: cr\r\n\r\n",
    b"data: lf again\n\n",
    b"data: partial start",
    b" and end\n\n",
    b"data: last\n\n",
]


def test_whole_block_chunks_decode_as_byte_by_byte() -> None:
    """Chunks of whole blocks take the decoder's fast path; the events, ids and retry
    after each chunk are those of a decoder fed one byte at a time."""
    fast, slow = SSEDecoder(), SSEDecoder()
    for chunk in BLOCKS:
        got = fast.feed(chunk)
        want = [e for i in range(len(chunk)) for e in slow.feed(chunk[i : i + 1])]
        assert got == want, chunk
        assert (fast.last_event_id, fast.retry_ms, fast.comments) == (
            slow.last_event_id,
            slow.retry_ms,
            slow.comments,
        ), chunk
    assert fast.close() == slow.close()
    together = b"".join(BLOCKS)
    assert decode([together]) == decode([bytes([b]) for b in together])
