"""The network side of one turn: attempts, retries, resume, token refresh.

A :class:`ReplyStream` turns a request into one sequence of normalized events, however
many HTTP attempts that takes, under the rules of :mod:`nbchat.retry`::

    attempt ──fails before a 2xx answer─> 401: token_refresh once, then again
       │                               429/503: wait Retry-After (capped), again
       │                               408/502/504, connection: backoff, again
       │                               anything else, or out of tries: raise
       └──a 2xx stream opened, then dropped / silent / EOF before the end marker
              events carried ids and re-opening cannot start work twice (a GET
              stream, Endpoint.resume_url, Endpoint.resumable, the dialect's rule):
                                  re-open with Last-Event-ID after at least the
                                  server's retry: (backoff, jitter above it), at
                                  most max_reconnects times
              otherwise:          INTERRUPTED naming the cause (a POST that starts
                                  work is never re-sent: it would re-buy the reply)

Every wait is announced through ``on_notice`` (an empty string when it is over), and
is a plain ``asyncio.sleep``: Stop cancels it like any other await.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence

from nbchat.config import Endpoint
from nbchat.dialects import Dialect, HttpRequest, get_dialect, with_last_event_id
from nbchat.errors import (
    AuthenticationError,
    InterruptedStream,
    RateLimitedError,
    StalledError,
    StreamFailure,
)
from nbchat.events import StreamEvent
from nbchat.retry import RetryPolicy
from nbchat.stream import DecodedStream, ServerSentEvent, Transport
from nbchat.wire import ChatMessageParam, ToolDef

log = logging.getLogger("nbchat")

#: ``token_refresh`` returns the new key, directly or as an awaitable
TokenRefresh = Callable[[], "str | Awaitable[str]"]
Notice = Callable[[str], None]
#: takes the events of one body chunk
Sink = Callable[[list[StreamEvent]], None]

#: the wait between reconnects when the server never sent ``retry:`` (the SSE default)
DEFAULT_RECONNECT_S = 1.0


class ReplyStream:
    """The events of one reply, across as many HTTP attempts as the rules allow.

    Attributes
    ----------
    retries : int
        Requests re-sent before any byte arrived.
    reconnects : int
        Streams re-opened with ``Last-Event-ID``.
    endpoint : Endpoint
        The endpoint in use (its key replaced after a ``token_refresh``).
    """

    def __init__(
        self,
        endpoint: Endpoint,
        messages: Sequence[ChatMessageParam],
        *,
        transport: Transport,
        policy: RetryPolicy,
        token_refresh: TokenRefresh | None = None,
        on_notice: Notice = lambda _text: None,
        request: HttpRequest | None = None,
        tools: Sequence[ToolDef] = (),
    ) -> None:
        self.endpoint = endpoint
        self.transport = transport
        self.dialect: Dialect = get_dialect(endpoint.dialect)
        self._messages = list(messages)
        #: the tools offered to the model with the request
        self._tools = list(tools)
        #: a request built by the caller (a job's own body), instead of the dialect's
        self._request = request
        self._policy = policy
        self._token_refresh = token_refresh
        self._notice = on_notice
        self.retries = 0
        self.reconnects = 0
        #: the opened streams' pace against the real one (see DecodedStream.time_scale)
        self.time_scale: float | None = 1.0

    async def run(self, sink: Sink) -> None:
        """Hand ``sink`` the normalized events, a list per body chunk, until the stream
        ends. (A call, not an async generator: one hop less per chunk on the hot path.)

        A failure that stays (no more retries or resumes) is raised; so is what
        ``sink`` raises.

        Raises
        ------
        StreamFailure
            The typed reason the reply could not be (fully) received.
        """
        dialect = self.dialect
        request = self._request or dialect.request(self.endpoint, self._messages, self._tools)
        refreshed = False
        failures = 0  # failed attempts before any byte
        last_id = ""
        first_id = ""
        delivered = False  # some of the reply was passed on
        retry_ms: int | None = None
        skipping = False

        def feed(batch: list[ServerSentEvent]) -> list[StreamEvent]:
            # The dialect's events for one chunk's server-sent events, leaving out what
            # a server that ignored Last-Event-ID sent again.
            nonlocal first_id, skipping
            out: list[StreamEvent] = []
            for sse in batch:
                if sse.id:
                    if not first_id:
                        first_id = sse.id
                    elif last_id and sse.id == first_id and not skipping:
                        # The server ignored Last-Event-ID and started over: skip what
                        # was already shown, up to where it broke.
                        skipping = True
                        log.warning("nbchat: server replayed the stream from the start")
                    if skipping:
                        if sse.id == last_id:
                            skipping = False
                        continue
                out += dialect.feed(sse)
                if dialect.failed or dialect.finished:
                    break
            return out

        while True:
            resume = self._resume_request(request, last_id) if last_id else None
            attempt = resume or request
            stream: DecodedStream | None = None
            skipping = False
            raised: StreamFailure | None = None
            try:
                async with self.transport.open(attempt) as stream:
                    if self.time_scale is not None:
                        self.time_scale = stream.time_scale
                    self._notice("")
                    decode = stream.decode
                    feed_one = dialect.feed
                    try:
                        async for chunk in stream.source():
                            batch = decode(chunk)
                            if not batch:
                                continue
                            if len(batch) == 1 and not batch[0].id:
                                out = feed_one(batch[0])  # the usual chunk: one event, no id
                            else:
                                out = feed(batch)
                            if out:
                                delivered = True
                                sink(out)
                            if dialect.failed or dialect.finished:
                                break
                        else:
                            out = feed(stream.decode_end())
                            if out:
                                delivered = True
                                sink(out)
                    except Exception as exc:
                        stream.reraise(exc)
                    if dialect.finished:
                        await stream.drain()  # so the connection can be kept alive
                    if dialect.failed or dialect.finished:
                        break
                    drop: StreamFailure = InterruptedStream(
                        f"the stream from {stream.url} ended before {dialect.end_marker}",
                        url=stream.url,
                    )
            except StreamFailure as exc:
                if stream is None:
                    # Failed inside open(): no 2xx response, so nothing was accepted yet.
                    # Once a stream opened, the server took the request on: even with no
                    # body byte yet, sending it again could start the work twice.
                    failures += 1
                    request, refreshed = await self._before_bytes(exc, request, failures, refreshed)
                    continue
                if not isinstance(exc, (InterruptedStream, StalledError)):
                    raise
                drop = raised = exc
            # The stream dropped after bytes: resume from what its decoder saw, where
            # re-opening cannot start the work twice.
            retry_ms = stream.retry_ms if stream.retry_ms is not None else retry_ms
            last_id = stream.last_event_id or last_id
            resumable = bool(last_id) and self._resume_request(request, last_id) is not None
            if not resumable or self.reconnects >= self._policy.max_reconnects:
                # No way to resume, or out of tries: the drop's own error, or the
                # dialect's INTERRUPTED for an EOF before the end marker.
                if raised is not None:
                    raise raised if resumable else _not_resent(raised, delivered)
                break
            self.reconnects += 1
            base = DEFAULT_RECONNECT_S if retry_ms is None else retry_ms / 1000.0
            wait = self._policy.reconnect_wait(self.reconnects, base)
            self._notice(
                f"{_short(drop.message)}: resuming after event {last_id!r} in {wait:.1f} s "
                f"({self.reconnects} of {self._policy.max_reconnects})"
            )
            await asyncio.sleep(wait)
        ending = dialect.end()
        if ending:
            sink(ending)

    def _resume_request(self, request: HttpRequest, last_id: str) -> HttpRequest | None:
        """How to re-open after event ``last_id``, or None where that could start work twice.

        A resume route (``Endpoint.resume_url``: GET it), an endpoint declared resumable
        (the same request), or what the dialect allows (by default: a GET stream).
        """
        endpoint = self.endpoint
        if endpoint.resume_url:
            route = dataclasses.replace(request, method="GET", url=endpoint.resume_url, json={})
            return with_last_event_id(route, last_id)
        if endpoint.resumable:
            return with_last_event_id(request, last_id)
        return self.dialect.resume_request(request, last_id)

    async def _before_bytes(
        self, exc: StreamFailure, request: HttpRequest, failures: int, refreshed: bool
    ) -> tuple[HttpRequest, bool]:
        """Wait and return the request to send again, or raise ``exc`` when it stays."""
        policy = self._policy
        if exc.status is None and not _retryable_without_status(exc):
            raise exc
        decision = policy.before_bytes(exc.status, failures, refreshed=refreshed)
        if decision == "refresh":
            if self._token_refresh is None:
                raise exc
            key = await self._refresh(exc)
            self.endpoint = dataclasses.replace(self.endpoint, api_key=key)
            self._notice("")
            if self._request is not None:
                headers = {**request.headers, "Authorization": f"Bearer {key}"}
                return dataclasses.replace(request, headers=headers), True
            return self.dialect.request(self.endpoint, self._messages, self._tools), True
        if decision == "fail":
            if failures > 1:
                exc.message = f"{exc.message} (after {failures - 1} retries)"
                exc.args = (exc.message,)
            raise exc
        if exc.retry_after is not None and exc.retry_after > policy.max_wait_s:
            raise type(exc)(
                f"{exc.message}; the server asks to wait {exc.retry_after:.0f} s, longer than "
                f"nbchat waits (RetryPolicy.max_wait_s = {policy.max_wait_s:g} s)",
                status=exc.status,
                url=exc.url,
                retry_after=exc.retry_after,
            ) from exc
        wait = exc.retry_after if exc.retry_after is not None else policy.backoff(failures)
        self.retries += 1
        what = "rate limited" if isinstance(exc, RateLimitedError) else _short(exc.message)
        self._notice(f"{what}: retrying in {wait:.1f} s ({self.retries} of {policy.max_retries})")
        await asyncio.sleep(wait)
        return request, refreshed

    async def _refresh(self, exc: StreamFailure) -> str:
        assert self._token_refresh is not None
        self._notice("authentication failed: refreshing the token")
        try:
            result = self._token_refresh()
            key = await result if inspect.isawaitable(result) else result
        except Exception as err:
            raise AuthenticationError(
                f"{exc.message}; token_refresh failed: {type(err).__name__}: {err}",
                status=exc.status,
                url=exc.url,
            ) from err
        if not isinstance(key, str) or not key:
            raise AuthenticationError(
                f"{exc.message}; token_refresh returned {type(key).__name__}, not a key",
                status=exc.status,
                url=exc.url,
            )
        return key


def _not_resent(exc: StreamFailure, delivered: bool) -> StreamFailure:
    """A drop or a silence of a stream that nbchat may not re-open.

    INTERRUPTED once part of the reply was shown; else the failure's own kind.
    """
    kind = InterruptedStream if delivered else type(exc)
    return kind(
        f"{exc.message}; not sent again (that would start the work over): ask again with Retry",
        status=exc.status,
        url=exc.url,
    )


def _retryable_without_status(exc: StreamFailure) -> bool:
    # Refused/reset connections and a close before any response are safe to re-send;
    # a stall before the headers is not retried (the user already waited the full stall).
    return exc.code in ("CONNECTION_ERROR", "INTERRUPTED")


def _short(message: str) -> str:
    return message.split(": ", 1)[0] if len(message) > 80 else message
