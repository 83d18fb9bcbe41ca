"""Newline-delimited stream decoding, for protocols that are not server-sent events.

The Vercel AI SDK 4 data stream sends one ``TYPE:JSON`` part per line over a plain
``text/plain`` response. :class:`LineDecoder` has the interface of
:class:`nbchat.stream.sse.SSEDecoder` (``feed`` / ``close``) so the transport and
:func:`nbchat.parse.parse_stream` can drive either: each non-empty line becomes a
``ServerSentEvent(data=line)`` of type ``message``.
"""

from __future__ import annotations

import codecs

from nbchat.errors import ProtocolError
from nbchat.stream.sse import ServerSentEvent

#: the longest line kept in memory (characters); a longer one is a protocol error
MAX_LINE = 16 * 1024 * 1024


class LineDecoder:
    """Incremental line splitter: ``feed`` byte chunks as they arrive, ``close`` at EOF.

    Lines end with LF or CRLF (a CR directly before the LF is dropped, also when the
    two arrive in different chunks). Bytes are decoded as UTF-8, invalid sequences
    becoming U+FFFD; a multi-byte character split across chunks is kept whole. Blank
    lines (also whitespace-only ones) are skipped. A final line without a newline is
    still delivered by ``close``. Memory is bounded by ``max_line`` (default
    :data:`MAX_LINE`): a partial line is
    kept as a list of pieces, joined once, so long lines cost no quadratic copying.

    ``last_event_id``, ``retry_ms`` and ``comments`` mirror :class:`~nbchat.stream.sse.SSEDecoder`
    so callers can treat both alike; lines carry none of them.
    """

    def __init__(self, max_line: int | None = None) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._partial: list[str] = []
        self._partial_len = 0
        self._started = False
        self.max_line = MAX_LINE if max_line is None else max_line
        self.last_event_id = ""
        self.retry_ms: int | None = None
        self.comments = 0

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Decode ``chunk`` and return one event per line it completed.

        Raises
        ------
        ProtocolError
            A line grew longer than ``max_line`` characters.
        """
        return self._feed_text(self._utf8.decode(chunk))

    def close(self) -> list[ServerSentEvent]:
        """End of stream: flush the UTF-8 decoder and deliver an unterminated last line."""
        events = self._feed_text(self._utf8.decode(b"", final=True))
        if self._partial:
            self._emit("".join(self._partial), events)
            self._partial.clear()
            self._partial_len = 0
        return events

    def _feed_text(self, text: str) -> list[ServerSentEvent]:
        if not text:
            return []
        if not self._started:
            self._started = True
            if text[0] == "\ufeff":  # a byte order mark is not part of the first line
                text = text[1:]
        events: list[ServerSentEvent] = []
        start = 0
        while True:
            newline = text.find("\n", start)
            if newline < 0:
                break
            piece = text[start:newline]
            if self._partial:
                self._partial.append(piece)
                line = "".join(self._partial)
                self._partial.clear()
                self._partial_len = 0
            else:
                line = piece
            self._emit(line, events)
            start = newline + 1
        if start < len(text):
            rest = text[start:]
            self._partial.append(rest)
            self._partial_len += len(rest)
            if self._partial_len > self.max_line:
                self._partial.clear()
                self._partial_len = 0
                raise ProtocolError(
                    f"a line of the stream is longer than {self.max_line} characters"
                )
        return events

    @staticmethod
    def _emit(line: str, events: list[ServerSentEvent]) -> None:
        # A CR before the LF belongs to the line ending (CRLF), also when split.
        if line.endswith("\r"):
            line = line[:-1]
        if line.strip():
            events.append(ServerSentEvent(data=line))
