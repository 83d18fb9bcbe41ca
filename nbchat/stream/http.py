"""The HTTP transport: httpx + httpx-sse open the request, nbchat decodes and checks it.

The only module that imports httpx or httpx_sse, and the only place where their
exceptions become nbchat errors (:data:`FAILURES`, one table; the original is kept as
``__cause__``). httpx-sse opens the connection (it sets ``Accept: text/event-stream``
and ``Cache-Control``); the bytes are decoded by :mod:`nbchat.stream.sse`, which
follows the WHATWG rules.

What happens to one request, in order:

1. Redirects: 307/308 are followed (at most :data:`MAX_REDIRECTS`), keeping method
   and body; credentials (``Authorization``, ``x-api-key``...) are dropped when the
   target is another origin. Other 3xx fail, naming where they point.
2. Open-time checks, before any event: a non-2xx status becomes the matching
   :class:`~nbchat.errors.HTTPStatusError` whose message names the status, the URL and
   the server's own code and message (``retry_after`` set from ``Retry-After``); a 2xx
   response that is not ``text/event-stream`` becomes a ProtocolError (or a
   ProviderError when its JSON body holds an error).
3. The stall watchdog runs from the request until the block ends: no response
   headers, or no new event, for ``timeouts.stall`` seconds ends the stream with a
   StalledError naming the wait. Comments (keep-alives) do not reset it. It cancels
   through :func:`asyncio.timeout`, so it claims only its own cancellation: a Stop
   that lands at the same moment still wins.
4. gzip/deflate bodies are decoded by httpx chunk by chunk, so tokens still arrive as
   the server flushes them.
"""

from __future__ import annotations

import asyncio
import json as _json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from httpx_sse import aconnect_sse

from nbchat.config import Timeouts, redact_url
from nbchat.errors import (
    ConnectionFailed,
    InterruptedStream,
    ProtocolError,
    ProviderError,
    StalledError,
    StreamFailure,
    excerpt,
    status_error_class,
)
from nbchat.retry import parse_retry_after
from nbchat.stream.base import DecodedStream, Framing, HttpRequest
from nbchat.stream.error_body import summarize_body
from nbchat.stream.sse import is_event_stream

#: the most of an error body read to explain a failure
ERROR_BODY_LIMIT = 64 * 1024
#: 307/308 hops followed before giving up
MAX_REDIRECTS = 5
#: request headers that carry credentials: never sent to another origin
CREDENTIAL_HEADERS = frozenset({"authorization", "x-api-key", "api-key", "cookie"})

#: httpx's exceptions and the nbchat error each becomes (first match wins)
FAILURES: tuple[tuple[type[Exception], type[StreamFailure], str], ...] = (
    (httpx.ConnectTimeout, ConnectionFailed, "could not connect to {url}: connect timed out ({detail})"),  # noqa: E501
    (httpx.ConnectError, ConnectionFailed, "could not connect to {url}: {detail}"),
    (httpx.UnsupportedProtocol, ConnectionFailed, "could not connect to {url}: {detail}"),
    (httpx.InvalidURL, ConnectionFailed, "could not connect to {url}: {detail}"),
    (httpx.ReadTimeout, StalledError, "{url} sent nothing for too long: {detail}"),
    (httpx.TimeoutException, StalledError, "timed out talking to {url}: {detail}"),
    (httpx.RemoteProtocolError, InterruptedStream, "the connection to {url} closed mid-reply: {detail}"),  # noqa: E501
    (httpx.ReadError, InterruptedStream, "the connection to {url} closed mid-reply: {detail}"),
    (httpx.DecodingError, ProtocolError, "{url} sent a body that does not decode: {detail}"),
    (httpx.HTTPError, ConnectionFailed, "request to {url} failed: {detail}"),
)  # fmt: skip
_MAPPED = (httpx.HTTPError, httpx.InvalidURL)


def make_client(timeouts: Timeouts) -> httpx.AsyncClient:
    """A client with nbchat's timeouts; redirects are followed by nbchat, not httpx."""
    # httpx's read timeout is a backstop a little past the watchdog's, which reports first.
    return httpx.AsyncClient(
        timeout=httpx.Timeout(
            timeouts.stall + 5.0, connect=timeouts.connect, pool=timeouts.connect
        ),
        follow_redirects=False,
    )


class HttpTransport:
    """Requests over HTTP with httpx; see the module docstring.

    Parameters
    ----------
    timeouts
        ``connect`` and ``stall`` (the watchdog), for every request.
    client
        An ``httpx.AsyncClient`` to send with (kept open: its owner closes it). Without
        one, each request uses a client of its own, closed when the request ends.
    """

    def __init__(
        self, timeouts: Timeouts | None = None, client: httpx.AsyncClient | None = None
    ) -> None:
        self.timeouts = timeouts if timeouts is not None else Timeouts()
        self.client = client

    def __repr__(self) -> str:
        return f"HttpTransport(timeouts={self.timeouts!r})"

    def describe(self, url: str) -> str:
        return redact_url(url)

    async def aclose(self) -> None:
        """Nothing to release: an injected client belongs to whoever made it."""

    @asynccontextmanager
    async def open(self, request: HttpRequest) -> AsyncIterator[HttpStream]:
        """Send ``request``; inside the block, iterate the :class:`HttpStream` it yields.

        Leaving the block (also by cancellation: that is how Stop works) closes the
        response and so the connection. ``request.framing == "lines"`` reads one event
        per line (the AI SDK 4 data stream) and accepts any 2xx content type.

        Raises
        ------
        StreamFailure
            The typed reason: see the module docstring.
        """
        url = redact_url(request.url)
        secrets = _secrets(request)
        http = self.client if self.client is not None else make_client(self.timeouts)
        watchdog = _Watchdog(self.timeouts.stall)
        stream: HttpStream | None = None
        try:
            async with asyncio.timeout(None) as deadline:
                watchdog.start(deadline)
                async with _connect(http, request, url, secrets) as response:
                    watchdog.headers_received = True
                    watchdog.progress()
                    url = redact_url(str(response.url))
                    await _check_open(response, url, secrets, request.framing)
                    stream = HttpStream(response, url, secrets, watchdog, request.framing)
                    yield stream
        except TimeoutError:
            if not deadline.expired():
                raise
            raise _stalled(url, self.timeouts, watchdog, stream) from None
        finally:
            watchdog.close()
            if self.client is None:
                await http.aclose()

    async def call(self, request: HttpRequest) -> Any:
        """A plain JSON request (no stream): the decoded body, or the typed error.

        For short control calls (create a session, load its messages, stop a reply);
        failures are named like a stream's (status, URL, the server's reason).
        """
        url = redact_url(request.url)
        secrets = _secrets(request)
        body = request.json if request.method != "GET" else None
        timeout = httpx.Timeout(self.timeouts.stall, connect=self.timeouts.connect)
        try:
            if self.client is not None:
                response = await self.client.request(
                    request.method, request.url, json=body, headers=request.headers,
                    timeout=timeout,
                )  # fmt: skip
            else:
                async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
                    response = await client.request(
                        request.method, request.url, json=body, headers=request.headers
                    )
        except _MAPPED as exc:
            raise failure(exc, url, secrets) from exc
        return _json_result(response, url, secrets)


class HttpStream(DecodedStream):
    """An open HTTP response; ``url`` is after redirects and redacted."""

    def __init__(
        self,
        response: httpx.Response,
        url: str,
        secrets: tuple[str, ...],
        watchdog: _Watchdog,
        framing: Framing = "sse",
    ) -> None:
        super().__init__(framing, url, response.status_code, response.headers.get("content-type"))
        self._response = response
        self._secrets = secrets
        self._watchdog = watchdog

    def chunks(self) -> AsyncIterator[bytes]:
        return self._response.aiter_bytes()

    def progressed(self) -> None:
        self._watchdog.progress()

    def failure(self, exc: Exception) -> StreamFailure | None:
        if isinstance(exc, _MAPPED):
            return failure(exc, self.url, self._secrets)
        return None


class _Watchdog:
    """Expires ``deadline`` when ``progress`` was not called for ``seconds``.

    One timer re-armed lazily: ``progress`` only stores a time, so the per-chunk cost
    is one clock read. The cancellation itself is :func:`asyncio.timeout`'s.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.headers_received = False
        self._loop = asyncio.get_running_loop()
        self._last = self._loop.time()
        self._deadline: asyncio.Timeout | None = None
        self._handle: asyncio.TimerHandle | None = None

    def start(self, deadline: asyncio.Timeout) -> None:
        self._deadline = deadline
        self._handle = self._loop.call_at(self._last + self.seconds, self._check)

    def progress(self) -> None:
        self._last = self._loop.time()

    def _check(self) -> None:
        due = self._last + self.seconds
        now = self._loop.time()
        if now < due - 1e-3:
            self._handle = self._loop.call_at(due, self._check)
        elif self._deadline is not None:
            self._deadline.reschedule(now)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()


@asynccontextmanager
async def _connect(
    http: httpx.AsyncClient, request: HttpRequest, url: str, secrets: tuple[str, ...]
) -> AsyncIterator[httpx.Response]:
    method = request.method
    target = httpx.URL(request.url)
    headers = dict(request.headers)
    body = request.json if method != "GET" else None
    for _hop in range(MAX_REDIRECTS + 1):
        try:
            connection = aconnect_sse(http, method, str(target), json=body, headers=headers)
            source = await connection.__aenter__()
        except _MAPPED as exc:
            raise failure(exc, redact_url(str(target)), secrets) from exc
        response = source.response
        location = response.headers.get("location")
        if response.status_code not in (307, 308) or not location:
            break
        await connection.__aexit__(None, None, None)
        # "307/308: the method and the body must not change" (RFC 9110 §15.4.8).
        following = target.join(location)
        if _origin(following) != _origin(target):
            headers = {k: v for k, v in headers.items() if k.lower() not in CREDENTIAL_HEADERS}
        target = following
    else:
        raise ProtocolError(
            f"more than {MAX_REDIRECTS} redirects from {url}", status=response.status_code, url=url
        )
    try:
        yield response
    finally:
        await connection.__aexit__(None, None, None)


def _json_result(response: httpx.Response, url: str, secrets: tuple[str, ...]) -> Any:
    status = response.status_code
    body = response.content
    content_type = response.headers.get("content-type")
    if not 200 <= status < 300:
        code, detail = summarize_body(body, content_type)
        reason = _redact(f"{code}: {detail}" if code else detail, secrets)
        phrase = f" {response.reason_phrase}" if response.reason_phrase else ""
        raise status_error_class(status)(
            f"HTTP {status}{phrase} from {url}: {reason}", status=status, url=url
        )
    if not body.strip():
        return None
    try:
        return _json.loads(body)
    except ValueError as exc:
        raise ProtocolError(
            f"expected JSON from {url}, got {content_type or 'no Content-Type'}: "
            f"{excerpt(body.decode('utf-8', 'replace'))!r}",
            status=status,
            url=url,
        ) from exc


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    default = {"http": 80, "https": 443}.get(url.scheme)
    return (url.scheme, url.host, url.port or default)


def _stalled(
    url: str, timeouts: Timeouts, watchdog: _Watchdog, stream: HttpStream | None
) -> StalledError:
    wait = f"{timeouts.stall:g} s"
    if not watchdog.headers_received:
        return StalledError(f"{url} sent no response within {wait}", url=url)
    if stream is not None and stream.comments:
        return StalledError(
            f"{url} sent no new event for {wait} (only {stream.comments} keep-alive "
            "comments, which do not count)",
            url=url,
        )
    return StalledError(f"{url} sent no new event for {wait}", url=url)


async def _check_open(
    response: httpx.Response, url: str, secrets: tuple[str, ...], framing: Framing = "sse"
) -> None:
    status = response.status_code
    content_type = response.headers.get("content-type")
    if 200 <= status < 300 and (framing == "lines" or is_event_stream(content_type)):
        return
    body = await _read_limited(response)
    code, detail = summarize_body(body, content_type)
    detail = _redact(detail, secrets)
    reason = f"{code}: {detail}" if code else detail
    if not 200 <= status < 300:
        phrase = f" {response.reason_phrase}" if response.reason_phrase else ""
        cls = status_error_class(status)
        if 300 <= status < 400:
            location = response.headers.get("location", "?")
            reason = f"redirected to {redact_url(location)}; use that URL as base_url"
        wait = parse_retry_after(
            {k.lower(): v for k, v in response.headers.items()}, now=time.time()
        )
        raise cls(
            f"HTTP {status}{phrase} from {url}: {reason}", status=status, url=url, retry_after=wait
        )
    shown = content_type or "no Content-Type"
    message = f"expected text/event-stream from {url}, got {shown}: {reason}"
    if code is not None:
        raise ProviderError(message, status=status, url=url)
    raise ProtocolError(message, status=status, url=url)


async def _read_limited(response: httpx.Response) -> bytes:
    parts: list[bytes] = []
    size = 0
    try:
        async for chunk in response.aiter_bytes():
            parts.append(chunk)
            size += len(chunk)
            if size >= ERROR_BODY_LIMIT:
                break
    except httpx.HTTPError:
        pass  # an unreadable error body must not hide the status it explains
    return b"".join(parts)[:ERROR_BODY_LIMIT]


def failure(exc: Exception, url: str, secrets: tuple[str, ...] = ()) -> StreamFailure:
    """The nbchat error for an httpx exception, by :data:`FAILURES` (secrets redacted)."""
    detail = _redact(str(exc) or type(exc).__name__, secrets)
    for kind, cls, template in FAILURES:
        if isinstance(exc, kind):
            return cls(template.format(url=url, detail=detail), url=url)
    return ConnectionFailed(f"request to {url} failed: {detail}", url=url)


def _secrets(request: HttpRequest) -> tuple[str, ...]:
    found = []
    for name, value in request.headers.items():
        if name.lower() in CREDENTIAL_HEADERS and value:
            found.append(value)
            found.append(value.split(" ", 1)[-1])
    return tuple(s for s in found if len(s) >= 8)


def _redact(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


__all__ = ["FAILURES", "HttpStream", "HttpTransport", "failure", "make_client"]
