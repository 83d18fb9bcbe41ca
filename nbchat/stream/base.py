"""What every transport shares: the request, the framing, the decoded stream, the protocol.

A :class:`Transport` opens an :class:`HttpRequest` and hands back a
:class:`DecodedStream`: the response's events, decoded by the framing the request
names (``"sse"``: server-sent events by the WHATWG rules; ``"lines"``: one event per
line, the AI SDK 4 data stream). The decoder is chosen here, in
:func:`decoder_for`, and nowhere else. Transports differ only in where the bytes
come from: the network (:mod:`nbchat.stream.http`), a recording
(:mod:`nbchat.stream.replay`), or another transport whose bytes are also written
down (:mod:`nbchat.stream.recording`).
"""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Literal, NoReturn, Protocol, runtime_checkable

from nbchat.errors import StreamFailure
from nbchat.stream.lines import LineDecoder
from nbchat.stream.sse import ServerSentEvent, SSEDecoder

Framing = Literal["sse", "lines"]
#: how long, and how many bytes, :meth:`DecodedStream.drain` reads at most
DRAIN_S = 0.25
DRAIN_BYTES = 64 * 1024
#: sees each body chunk as it arrives (decompressed), e.g. to record it
ChunkTap = Callable[[bytes], None]


@dataclass(frozen=True)
class HttpRequest:
    """A request to make; the transport sends it as is.

    ``framing`` says how its response body is cut into events. ``dialect`` and
    ``model`` say what the request is for (recordings note them); they are not sent.
    """

    method: str
    url: str
    json: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    framing: Framing = "sse"
    dialect: str = ""
    model: str = ""


class EventDecoder(Protocol):
    """What turns response bytes into events: :class:`SSEDecoder` or :class:`LineDecoder`."""

    last_event_id: str
    retry_ms: int | None
    comments: int

    def feed(self, chunk: bytes) -> list[ServerSentEvent]: ...

    def close(self) -> list[ServerSentEvent]: ...


def decoder_for(framing: Framing) -> EventDecoder:
    """A new decoder for one response body in ``framing``."""
    return LineDecoder() if framing == "lines" else SSEDecoder()


class DecodedStream(ABC):
    """An open response, whatever feeds it: ``async for event in stream``.

    Subclasses say where the bytes come from (:meth:`chunks`) and, if they can fail
    in their own way, how a failure is named (:meth:`failure`); decoding, byte
    counting and taps happen here, once. ``bytes_received`` counts body bytes;
    ``last_event_id``, ``retry_ms`` and ``comments`` are the decoder's, per the SSE
    rules (lines framing has none). ``batches()`` yields the events each body chunk
    completed as one list (the hot path: one await per chunk, not per event).

    ``time_scale`` says how the stream's pace relates to the real one: seconds measured
    on it times ``time_scale`` are the real seconds (1 for a live response, the speed
    of a sped-up replay), or None when the pace is made up (a raw body replayed with
    no timings): then no rate or time-to-first-token is reported.
    """

    time_scale: float | None = 1.0

    def __init__(self, framing: Framing, url: str, status: int, content_type: str | None) -> None:
        self._decoder = decoder_for(framing)
        self.url = url
        self.status = status
        self.content_type = content_type
        self.bytes_received = 0
        self.taps: list[ChunkTap] = []
        self._source: AsyncIterator[bytes] | None = None

    @abstractmethod
    def chunks(self) -> AsyncIterator[bytes]:
        """The body, chunk by chunk, as it arrives."""

    def failure(self, exc: Exception) -> StreamFailure | None:
        """The nbchat error for ``exc`` raised while reading, or None to let it pass."""
        return None

    def source(self) -> AsyncIterator[bytes]:
        """Start reading: the body's chunks, for :meth:`decode` (and later :meth:`drain`)."""
        self._source = self.chunks()
        return self._source

    def decode(self, chunk: bytes) -> list[ServerSentEvent]:
        """Count ``chunk``, show it to the taps, and return the events it completed."""
        self.bytes_received += len(chunk)
        for tap in self.taps:
            tap(chunk)
        return self._decoder.feed(chunk)

    def decode_end(self) -> list[ServerSentEvent]:
        """At the end of the body: the events the decoder still held (a last line)."""
        return self._decoder.close()

    def reraise(self, exc: Exception) -> NoReturn:
        """Raise ``exc`` from reading as this stream's :meth:`failure`, or as it is."""
        failure = self.failure(exc)
        if failure is None:
            raise exc
        raise failure from exc

    async def batches(self) -> AsyncIterator[list[ServerSentEvent]]:
        """The events of each chunk, as they arrive; the decoder's rest at the end.

        (The hot path, :class:`~nbchat.reply_stream.ReplyStream`, drives :meth:`source`
        and :meth:`decode` itself: one generator less per chunk.)
        """
        try:
            async for chunk in self.source():
                events = self.decode(chunk)
                if events:
                    yield events
        except Exception as exc:
            self.reraise(exc)
        events = self.decode_end()
        if events:
            yield events

    async def drain(self, seconds: float = DRAIN_S, limit: int = DRAIN_BYTES) -> None:
        """Read what is left of a body whose protocol already ended (bounded).

        A response closed before its last byte cannot give its connection back to the
        pool; the end of a stream (a chunked terminator after ``[DONE]``) usually
        follows at once. Past ``seconds`` or ``limit`` bytes, or on any error, stop:
        closing the response then just closes the connection.
        """
        source = self._source
        if source is None:
            return
        read = 0
        with contextlib.suppress(Exception):
            async with asyncio.timeout(seconds):
                async for chunk in source:
                    read += len(chunk)
                    if read > limit:
                        return

    async def __aiter__(self) -> AsyncIterator[ServerSentEvent]:
        async for batch in self.batches():
            for event in batch:
                yield event

    @property
    def last_event_id(self) -> str:
        return self._decoder.last_event_id

    @property
    def retry_ms(self) -> int | None:
        return self._decoder.retry_ms

    @property
    def comments(self) -> int:
        return self._decoder.comments


@runtime_checkable
class Transport(Protocol):
    """Where responses come from: the one seam between a turn and the outside world.

    ``open`` sends a request and, inside its ``async with`` block, gives the decoded
    stream; leaving the block (also by cancellation: that is how Stop works) closes
    it. Failures are :class:`~nbchat.errors.StreamFailure` subclasses naming the
    cause. ``call`` makes a short JSON request (no stream) and returns the decoded
    body. ``describe(url)`` is how to name ``url`` to a user (credentials and query
    string removed; "replay of <file>" for a recording). ``aclose`` releases what the
    transport holds (connections, files).
    """

    def open(self, request: HttpRequest) -> AbstractAsyncContextManager[DecodedStream]: ...

    async def call(self, request: HttpRequest) -> Any: ...

    def describe(self, url: str) -> str: ...

    async def aclose(self) -> None: ...


__all__ = [
    "ChunkTap",
    "DecodedStream",
    "EventDecoder",
    "Framing",
    "HttpRequest",
    "Transport",
    "decoder_for",
]
