"""HTTP streaming: open a request with httpx + httpx-sse, check it, yield its events.

The only module that imports httpx or httpx_sse, and the only place where their
exceptions become nbchat errors (the original kept as ``__cause__``). httpx-sse opens
the connection (it sets ``Accept: text/event-stream`` and ``Cache-Control``); the
bytes are decoded by :mod:`nbchat.sse`, which follows the WHATWG rules.

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
   StalledError naming the wait. Comments (keep-alives) do not reset it. It never
   masks Stop: a cancellation that is not the watchdog's passes through.
4. gzip/deflate bodies are decoded by httpx chunk by chunk, so tokens still arrive as
   the server flushes them.
"""

from __future__ import annotations

import asyncio
import json as _json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
from httpx_sse import aconnect_sse

from nbchat.config import Timeouts, redact_url
from nbchat.dialects.base import DecodedStream, Framing, HttpRequest
from nbchat.error_body import summarize_body
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
from nbchat.sse import ServerSentEvent, is_event_stream

#: the most of an error body read to explain a failure
ERROR_BODY_LIMIT = 64 * 1024
#: 307/308 hops followed before giving up
MAX_REDIRECTS = 5
#: request headers that carry credentials: never sent to another origin
CREDENTIAL_HEADERS = frozenset({"authorization", "x-api-key", "api-key", "cookie"})


def make_client(timeouts: Timeouts) -> httpx.AsyncClient:
    """A client with nbchat's timeouts; redirects are followed by nbchat, not httpx."""
    # httpx's read timeout is a backstop a little past the watchdog's, which reports first.
    return httpx.AsyncClient(
        timeout=httpx.Timeout(
            timeouts.stall + 5.0, connect=timeouts.connect, pool=timeouts.connect
        ),
        follow_redirects=False,
    )


class EventStream(DecodedStream):
    """An open response: ``async for event in stream`` yields its server-sent events.

    Its attributes (see :class:`~nbchat.dialects.base.DecodedStream`) tell the caller
    what it needs to decide about a retry or a resume; ``url`` is after redirects and
    redacted.
    """

    def __init__(
        self,
        response: httpx.Response,
        url: str,
        secrets: tuple[str, ...],
        watchdog: _Watchdog,
        framing: Framing = "sse",
        on_chunk: Callable[[bytes], None] | None = None,
    ) -> None:
        super().__init__(framing, url, response.status_code, response.headers.get("content-type"))
        self._response = response
        self._on_chunk = on_chunk
        self._secrets = secrets
        self._watchdog = watchdog

    async def batches(self) -> AsyncIterator[list[ServerSentEvent]]:
        decoder = self._decoder
        watchdog = self._watchdog
        try:
            async for chunk in self._response.aiter_bytes():
                self.bytes_received += len(chunk)
                if self._on_chunk is not None:
                    self._on_chunk(chunk)
                events = decoder.feed(chunk)
                if events:
                    watchdog.progress()
                    yield events
        except httpx.HTTPError as exc:
            raise _failure(exc, self.url, self._secrets) from exc
        events = decoder.close()
        if events:
            yield events


class _Watchdog:
    """Cancels ``task`` when ``progress`` was not called for ``seconds``.

    One timer re-armed lazily: ``progress`` only stores a time, so the per-event cost
    is one clock read.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.fired = False
        self.headers_received = False
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        self._last = self._loop.time()
        self._handle = self._loop.call_at(self._last + seconds, self._check)

    def progress(self) -> None:
        self._last = self._loop.time()

    def _check(self) -> None:
        due = self._last + self.seconds
        if self._loop.time() < due - 1e-3:
            self._handle = self._loop.call_at(due, self._check)
            return
        self.fired = True
        if self._task is not None:
            self._task.cancel()

    def close(self) -> None:
        self._handle.cancel()

    def claim(self) -> bool:
        """After a CancelledError: True when it was only the watchdog's (then absorbed)."""
        if not self.fired:
            return False
        self.fired = False
        task = self._task
        if task is None or not hasattr(task, "uncancel"):  # Python 3.10
            return True
        # Stop may have cancelled the task too: then the cancellation goes on.
        remaining: int = task.uncancel()
        return remaining == 0


@asynccontextmanager
async def open_events(
    request: HttpRequest,
    timeouts: Timeouts,
    client: httpx.AsyncClient | None = None,
    *,
    framing: Framing = "sse",
    on_chunk: Callable[[bytes], None] | None = None,
) -> AsyncIterator[EventStream]:
    """Send ``request``; inside the block, iterate the :class:`EventStream` it yields.

    Leaving the block (also by cancellation: that is how Stop works) closes the
    response and so the connection. Uses ``client`` if given, else a new one with
    ``timeouts`` that is closed on exit. ``framing="lines"`` reads one event per line
    (the AI SDK 4 data stream) and accepts any 2xx content type. ``on_chunk`` sees
    every body chunk as it arrives (decompressed), for recordings.

    Raises
    ------
    StreamFailure
        The typed reason: see the module docstring.
    """
    url = redact_url(request.url)
    secrets = _secrets(request)
    own = client is None
    http = make_client(timeouts) if client is None else client
    watchdog = _Watchdog(timeouts.stall)
    stream: EventStream | None = None
    try:
        try:
            async with _connect(http, request, url, secrets) as response:
                watchdog.headers_received = True
                watchdog.progress()
                url = redact_url(str(response.url))
                await _check_open(response, url, secrets, framing)
                stream = EventStream(response, url, secrets, watchdog, framing, on_chunk)
                yield stream
        except asyncio.CancelledError:
            if not watchdog.claim():
                raise
            raise _stalled(url, timeouts, watchdog, stream) from None
    finally:
        watchdog.close()
        if own:
            await http.aclose()


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
        except httpx.HTTPError as exc:
            raise _failure(exc, redact_url(str(target)), secrets) from exc
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


def request_json(
    method: str,
    url: str,
    timeouts: Timeouts,
    *,
    json: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    """A plain JSON request (no stream): the decoded body, or the typed error.

    For short control calls (create a session, load its messages) made while a cell
    runs; failures are named like a stream's (status, URL, the server's reason).
    """
    shown, secrets, timeout = _json_call(method, url, timeouts, json, headers)
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False) as client:
            response = client.request(method, url, json=json, headers=headers)
    except httpx.HTTPError as exc:
        raise _failure(exc, shown, secrets) from exc
    return _json_result(response, response.content, shown, secrets)


async def arequest_json(
    method: str,
    url: str,
    timeouts: Timeouts,
    *,
    json: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    """:func:`request_json` for the event loop."""
    shown, secrets, timeout = _json_call(method, url, timeouts, json, headers)
    try:
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
            response = await client.request(method, url, json=json, headers=headers)
    except httpx.HTTPError as exc:
        raise _failure(exc, shown, secrets) from exc
    return _json_result(response, response.content, shown, secrets)


def _json_call(
    method: str,
    url: str,
    timeouts: Timeouts,
    json: dict[str, Any] | None,
    headers: dict[str, str] | None,
) -> tuple[str, tuple[str, ...], httpx.Timeout]:
    # What both JSON calls need: the URL to show, the secrets to redact, the timeout.
    secrets = _secrets(HttpRequest(method, url, json or {}, headers or {}))
    return redact_url(url), secrets, httpx.Timeout(timeouts.stall, connect=timeouts.connect)


def _json_result(response: httpx.Response, body: bytes, url: str, secrets: tuple[str, ...]) -> Any:
    status = response.status_code
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
    url: str, timeouts: Timeouts, watchdog: _Watchdog, stream: EventStream | None
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


def _failure(exc: httpx.HTTPError, url: str, secrets: tuple[str, ...]) -> StreamFailure:
    detail = _redact(str(exc) or type(exc).__name__, secrets)
    if isinstance(exc, httpx.ConnectTimeout):
        return ConnectionFailed(
            f"could not connect to {url}: connect timed out ({detail})", url=url
        )
    if isinstance(exc, (httpx.ConnectError, httpx.UnsupportedProtocol, httpx.InvalidURL)):
        return ConnectionFailed(f"could not connect to {url}: {detail}", url=url)
    if isinstance(exc, httpx.ReadTimeout):
        return StalledError(f"{url} sent nothing for too long: {detail}", url=url)
    if isinstance(exc, httpx.TimeoutException):
        return StalledError(f"timed out talking to {url}: {detail}", url=url)
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError)):
        return InterruptedStream(f"the connection to {url} closed mid-reply: {detail}", url=url)
    if isinstance(exc, httpx.DecodingError):
        return ProtocolError(f"{url} sent a body that does not decode: {detail}", url=url)
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
