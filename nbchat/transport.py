"""HTTP streaming: open a request with httpx + httpx-sse, check it, yield SSE events.

The only module that imports httpx or httpx_sse, and the only place where their
exceptions become nbchat errors (the original kept as ``__cause__``). httpx-sse opens
the connection (it sets ``Accept: text/event-stream`` and ``Cache-Control``); the
bytes are decoded by :mod:`nbchat.sse`, which follows the WHATWG rules.

Open-time checks, before any event: a non-2xx status becomes the matching
:class:`~nbchat.errors.HTTPStatusError` whose message names the status, the URL and
the server's own code and message; a 2xx response that is not ``text/event-stream``
becomes a ProtocolError (or a ProviderError when its JSON body holds an error).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from httpx_sse import aconnect_sse

from nbchat.config import Timeouts, redact_url
from nbchat.dialects.base import HttpRequest
from nbchat.error_body import summarize_body
from nbchat.errors import (
    ConnectionFailed,
    InterruptedStream,
    ProtocolError,
    ProviderError,
    StalledError,
    StreamFailure,
    status_error_class,
)
from nbchat.sse import ServerSentEvent, SSEDecoder, is_event_stream

#: the most of an error body read to explain a failure
ERROR_BODY_LIMIT = 64 * 1024


def make_client(timeouts: Timeouts) -> httpx.AsyncClient:
    """A client with nbchat's timeouts: ``read`` bounds the silence between bytes."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeouts.read, connect=timeouts.connect, pool=timeouts.connect),
        follow_redirects=False,
    )


@asynccontextmanager
async def open_events(
    request: HttpRequest,
    timeouts: Timeouts,
    client: httpx.AsyncClient | None = None,
) -> AsyncIterator[AsyncIterator[ServerSentEvent]]:
    """Send ``request``; inside the block, iterate its server-sent events.

    Leaving the block (also by cancellation: that is how Stop works) closes the
    response and so the connection. Uses ``client`` if given, else a new one with
    ``timeouts`` that is closed on exit.
    """
    url = redact_url(request.url)
    secrets = _secrets(request)
    own = client is None
    http = make_client(timeouts) if client is None else client
    try:
        try:
            connection = aconnect_sse(
                http, request.method, request.url, json=request.json, headers=request.headers
            )
            source = await connection.__aenter__()
        except httpx.HTTPError as exc:
            raise _failure(exc, url, timeouts, secrets) from exc
        try:
            response = source.response
            await _check_open(response, url, secrets)
            yield _events(response, url, timeouts, secrets)
        finally:
            await connection.__aexit__(None, None, None)
    finally:
        if own:
            await http.aclose()


async def _events(
    response: httpx.Response, url: str, timeouts: Timeouts, secrets: tuple[str, ...]
) -> AsyncIterator[ServerSentEvent]:
    decoder = SSEDecoder()
    try:
        async for chunk in response.aiter_bytes():
            for event in decoder.feed(chunk):
                yield event
    except httpx.HTTPError as exc:
        raise _failure(exc, url, timeouts, secrets) from exc
    for event in decoder.close():
        yield event


async def _check_open(response: httpx.Response, url: str, secrets: tuple[str, ...]) -> None:
    status = response.status_code
    content_type = response.headers.get("content-type")
    if 200 <= status < 300 and is_event_stream(content_type):
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
        raise cls(f"HTTP {status}{phrase} from {url}: {reason}", status=status, url=url)
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


def _failure(
    exc: httpx.HTTPError, url: str, timeouts: Timeouts, secrets: tuple[str, ...]
) -> StreamFailure:
    detail = _redact(str(exc) or type(exc).__name__, secrets)
    if isinstance(exc, httpx.ConnectTimeout):
        return ConnectionFailed(
            f"could not connect to {url} within {timeouts.connect:g} s", url=url
        )
    if isinstance(exc, (httpx.ConnectError, httpx.UnsupportedProtocol, httpx.InvalidURL)):
        return ConnectionFailed(f"could not connect to {url}: {detail}", url=url)
    if isinstance(exc, httpx.ReadTimeout):
        return StalledError(f"{url} sent nothing for {timeouts.read:g} s", url=url)
    if isinstance(exc, httpx.TimeoutException):
        return StalledError(f"timed out talking to {url}: {detail}", url=url)
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError)):
        return InterruptedStream(f"the connection to {url} closed mid-reply: {detail}", url=url)
    return ConnectionFailed(f"request to {url} failed: {detail}", url=url)


def _secrets(request: HttpRequest) -> tuple[str, ...]:
    found = []
    for name, value in request.headers.items():
        if name.lower() in ("authorization", "x-api-key", "api-key") and value:
            found.append(value)
            found.append(value.split(" ", 1)[-1])
    return tuple(s for s in found if len(s) >= 8)


def _redact(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text
