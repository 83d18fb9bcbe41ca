"""Server-sent events decoding by the WHATWG HTML rules, incremental and pure.

httpx-sse opens the connection; this module turns its bytes into events, because
httpx-sse 0.4.3 departs from the spec in ways that bite real servers (a leading BOM
is kept, blocks without data are dispatched, ``retry`` accepts ``+1_0``, a ``charset=``
changes the decoding, the MIME check is case-sensitive). The spec's words are quoted
where the behaviour surprises.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable
from typing import NamedTuple

from nbchat.errors import ProtocolError

# "Lines must be separated by either a U+000D CARRIAGE RETURN U+000A LINE FEED (CRLF)
# character pair, a single U+000A LINE FEED (LF) character, or a single U+000D
# CARRIAGE RETURN (CR) character."
_EOL = re.compile(r"\r\n|\r|\n")
_DIGITS = re.compile(r"[0-9]+")


class ServerSentEvent(NamedTuple):
    """One dispatched event.

    ``id`` is the last event ID in force when it was dispatched (it persists across
    events, as the spec says); ``retry`` is the reconnection time in ms set by a
    ``retry:`` line of this event's block, or None. (A named tuple: one is made per
    event, and a tuple is the cheapest immutable value to build.)
    """

    event: str = "message"
    data: str = ""
    id: str = ""
    retry: int | None = None


class SSEDecoder:
    """Incremental decoder: ``feed`` byte chunks as they arrive, ``close`` at EOF.

    Memory is bounded by the largest event: a partial line is kept as a list of
    pieces and joined once, so a 10 MiB event costs no quadratic copying.
    """

    def __init__(self) -> None:
        # "Streams must be decoded using the UTF-8 decode algorithm": bad bytes
        # become U+FFFD and the stream goes on, whatever the Content-Type says.
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._decode = self._utf8.decode
        self._between = False  # see _note_between
        self._started = False
        self._skip_lf = False
        self._partial: list[str] = []
        self._data: list[str] = []
        self._event_type = ""
        self._block_retry: int | None = None
        # The spec keeps the id in a buffer while a block is read and copies it to the
        # "last event ID string" only when the block is dispatched: an id read from an
        # event cut off by a dropped connection must not be used to resume.
        self._id_buffer = ""
        self.last_event_id = ""
        self.retry_ms: int | None = None
        self.comments = 0

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Decode ``chunk`` and return the events it completed."""
        text = self._decode(chunk)
        if not self._between or text[-2:] != "\n\n" or "\r" in text:
            return self._feed_text(text)
        # The commonest chunk: whole blocks ending in an empty line, nothing pending
        # before it. A block that is one "data: " line is an event at once; any other
        # goes line by line, then its closing empty line dispatches it.
        events: list[ServerSentEvent] = []
        ident = self._id_buffer
        new = tuple.__new__  # skips the named tuple's Python-level __new__: one a token
        for block in text[:-2].split("\n\n"):
            if block[:6] == "data: " and "\n" not in block:
                events.append(new(ServerSentEvent, ("message", block[6:], ident, None)))
                continue
            for line in block.split("\n"):
                self._line(line, events)
            self._dispatch(events)
            ident = self._id_buffer
        self.last_event_id = ident
        return events

    def close(self) -> list[ServerSentEvent]:
        """End of stream: flush the UTF-8 decoder.

        "Once the end of the file is reached, any pending data must be discarded.
        (If the file ends in the middle of an event, before the final empty line,
        the incomplete event is not dispatched.)"
        """
        events = self._feed_text(self._utf8.decode(b"", final=True))
        self._partial.clear()
        self._data.clear()
        self._event_type = ""
        return events

    def _feed_text(self, text: str) -> list[ServerSentEvent]:
        if not text:
            return []
        if not self._started:
            self._started = True
            if (
                text[0] == "\ufeff"
            ):  # "One leading U+FEFF BYTE ORDER MARK character must be ignored"
                text = text[1:]
        if self._skip_lf:
            self._skip_lf = False
            if text.startswith("\n"):  # the LF of a CRLF split across two chunks
                text = text[1:]
        if "\r" in text:
            some = self._feed_any_eol(text)
            self._note_between()
            return some
        # The common case, LF only: str.split in C, then one tight loop.
        lines = text.split("\n")
        tail = lines.pop()  # after the last LF: a partial line, or ""
        events: list[ServerSentEvent] = []
        if lines and self._partial:
            self._partial.append(lines[0])
            lines[0] = "".join(self._partial)
            self._partial.clear()
        data = self._data
        for line in lines:
            if not line:
                self._dispatch(events)
            elif line.startswith("data:"):
                value = line[5:]
                data.append(value[1:] if value[:1] == " " else value)
            else:
                self._line(line, events)
        if tail:
            self._partial.append(tail)
        self._note_between()
        return events

    def _note_between(self) -> None:
        # Between two blocks, with nothing pending: the next chunk may take feed's
        # fast path.
        self._between = not (self._partial or self._data or self._event_type or self._skip_lf) and (
            self._block_retry is None
        )

    def _feed_any_eol(self, text: str) -> list[ServerSentEvent]:
        events: list[ServerSentEvent] = []
        start = 0
        end = len(text)
        for match in _EOL.finditer(text):
            piece = text[start : match.start()]
            if self._partial:
                self._partial.append(piece)
                line = "".join(self._partial)
                self._partial.clear()
            else:
                line = piece
            self._line(line, events)
            start = match.end()
            if match.end() == end and match.group() == "\r":
                self._skip_lf = True
        if start < end:
            self._partial.append(text[start:])
        return events

    def _line(self, line: str, events: list[ServerSentEvent]) -> None:
        if not line:
            self._dispatch(events)
            return
        if line[0] == ":":
            self.comments += 1
            return
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event_type = value
        elif name == "id":
            # "If the field value does not contain U+0000 NULL, then set the last
            # event ID buffer to the field value. Otherwise, ignore the field."
            if "\0" not in value:
                self._id_buffer = value
        elif name == "retry" and _DIGITS.fullmatch(value):
            # "If the field value consists of only ASCII digits, then interpret the
            # field value as an integer in base ten ... Otherwise, ignore the field."
            self.retry_ms = int(value)
            self._block_retry = self.retry_ms
        # any other field name is ignored

    def _dispatch(self, events: list[ServerSentEvent]) -> None:
        # "Set the last event ID string of the event source to the value of the last
        # event ID buffer" (first step of dispatch, before the empty-data check).
        self.last_event_id = self._id_buffer
        retry, self._block_retry = self._block_retry, None
        if not self._data:
            # "If the data buffer is an empty string, set the data buffer and the
            # event type buffer to the empty string and return." (id/retry stay set)
            self._event_type = ""
            return
        data = "\n".join(self._data) if len(self._data) > 1 else self._data[0]
        self._data.clear()
        events.append(ServerSentEvent(self._event_type or "message", data, self._id_buffer, retry))
        self._event_type = ""


def is_event_stream(content_type: str | None) -> bool:
    """True when a Content-Type names ``text/event-stream`` (any case, any parameters)."""
    if not content_type:
        return False
    return content_type.split(";", 1)[0].strip().lower() == "text/event-stream"


def decode(chunks: Iterable[bytes], content_type: str | None = None) -> list[ServerSentEvent]:
    """Decode a recorded event stream given as byte chunks; return its events.

    Parameters
    ----------
    chunks
        The response body, in any chunking (a single ``bytes`` item works too).
    content_type
        The response's Content-Type, if known. When given, it must be
        ``text/event-stream`` (case-insensitive); a ``charset`` is ignored because
        event streams are always UTF-8.

    Raises
    ------
    ProtocolError
        ``content_type`` is given and is not ``text/event-stream``.
    """
    if content_type is not None and not is_event_stream(content_type):
        raise ProtocolError(f"expected Content-Type text/event-stream, got {content_type!r}")
    decoder = SSEDecoder()
    events: list[ServerSentEvent] = []
    for chunk in chunks:
        events.extend(decoder.feed(chunk))
    events.extend(decoder.close())
    return events
