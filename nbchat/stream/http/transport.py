"""The HTTP transport: httpx + httpx-sse open the request, nbchat decodes and checks it.

httpx-sse opens the connection (it sets ``Accept: text/event-stream`` and
``Cache-Control``); the bytes are decoded by :mod:`nbchat.stream.sse`, which follows
the WHATWG rules; httpx's exceptions become nbchat's by the table in
:mod:`~nbchat.stream.http.failures` (the original kept as ``__cause__``). Requests go
through the running loop's pooled client (:mod:`~nbchat.stream.http.clients`) unless
the transport was given one; timeouts are set per request.

What happens to one request, in order:

1. Redirects: 307/308 are followed (at most :data:`MAX_REDIRECTS`), keeping method
   and body; credentials (``Authorization``, ``x-api-key``...) are dropped when the
   target is another origin. Other 3xx fail, naming where they point.
2. Open-time checks, before any event: a non-2xx status becomes the matching
   :class:`~nbchat.errors.HTTPStatusError` whose message names the status, the URL and
   the server's own code and message (``retry_after`` set from ``Retry-After``); a 2xx
   response that is not ``text/event-stream`` becomes a ProtocolError (or a
   ProviderError when its JSON body holds an error).
3. The read timeout is httpx's own: no bytes at all for ``timeouts.read`` seconds,
   before the headers or in the body, is a StalledError naming the wait. Any byte
   resets it: keep-alive comments, half an event. (Whether a live server makes
   progress is the turn's clock, ``Timeouts.idle``, not the transport's.)
4. gzip/deflate bodies are decoded by httpx chunk by chunk, so tokens still arrive as
   the server flushes them.

A query string can carry a key (``?key=...``): nbchat names URLs without it, and
httpx's own log lines (logger ``httpx``) are filtered the same way.
"""

from __future__ import annotations

import json as _json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from httpx_sse import aconnect_sse

from nbchat.config import Timeouts, redact_url
from nbchat.errors import (
    STATUS_MEANINGS,
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
from nbchat.stream.http.clients import POOL
from nbchat.stream.http.failures import CREDENTIAL_HEADERS, MAPPED, failure, redact, secrets_of
from nbchat.stream.sse import is_event_stream

#: the most of an error body read to explain a failure
ERROR_BODY_LIMIT = 64 * 1024
#: 307/308 hops followed before giving up
MAX_REDIRECTS = 5


def http_timeout(timeouts: Timeouts) -> httpx.Timeout:
    """httpx's timeouts for nbchat's: ``read`` is silence (no bytes at all)."""
    return httpx.Timeout(timeouts.read, connect=timeouts.connect, pool=timeouts.connect)


def make_client(timeouts: Timeouts) -> httpx.AsyncClient:
    """A client with nbchat's timeouts; redirects are followed by nbchat, not httpx."""
    return httpx.AsyncClient(timeout=http_timeout(timeouts), follow_redirects=False)


class HttpTransport:
    """Requests over HTTP with httpx; see the module docstring.

    Parameters
    ----------
    timeouts
        ``connect`` and ``read`` (silence), for every request.
    client
        An ``httpx.AsyncClient`` to send with (kept open: its owner closes it). Without
        one, requests use the running loop's pooled client (connections kept alive
        across turns and chats, closed with the loop).
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
        """Nothing to release: the pooled client is shared by every chat on the loop
        (``await POOL.aclose()`` closes it) and an injected client is its owner's."""

    def _client(self) -> httpx.AsyncClient:
        return self.client if self.client is not None else POOL.client()

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
        secrets = secrets_of(request)
        read = f"{self.timeouts.read:g} s"
        timeout = http_timeout(self.timeouts)
        async with _connect(self._client(), request, url, secrets, read, timeout) as response:
            url = redact_url(str(response.url))
            await _check_open(response, url, secrets, request.framing)
            yield HttpStream(response, url, secrets, request.framing, read)

    async def call(self, request: HttpRequest) -> Any:
        """A plain JSON request (no stream): the decoded body, or the typed error.

        For short control calls (create a session, load its messages, stop a reply);
        failures are named like a stream's (status, URL, the server's reason).
        """
        url = redact_url(request.url)
        secrets = secrets_of(request)
        body = request.json if request.method != "GET" else None
        timeout = http_timeout(self.timeouts)
        try:
            response = await self._client().request(
                request.method, request.url, json=body, headers=request.headers, timeout=timeout
            )
        except MAPPED as exc:
            raise failure(exc, url, secrets, f"{self.timeouts.read:g} s") from exc
        return _json_result(response, url, secrets)


class HttpStream(DecodedStream):
    """An open HTTP response; ``url`` is after redirects and redacted."""

    def __init__(
        self,
        response: httpx.Response,
        url: str,
        secrets: tuple[str, ...],
        framing: Framing = "sse",
        read: str = "",
    ) -> None:
        super().__init__(framing, url, response.status_code, response.headers.get("content-type"))
        self._response = response
        self._secrets = secrets
        self._read = read

    def chunks(self) -> AsyncIterator[bytes]:
        response = self._response
        stream = response.stream
        identity = response.headers.get("content-encoding", "identity").strip().lower()
        if (
            identity == "identity"
            and isinstance(stream, httpx.AsyncByteStream)
            and not (response.is_stream_consumed or response.is_closed)  # (a hook read it)
        ):
            # Nothing to decode: the transport's own byte stream, as ``aiter_raw`` reads
            # it, without that generator's hop and re-chunking on each chunk.
            response.is_stream_consumed = True
            return stream.__aiter__()
        return response.aiter_bytes()  # gzip, br, deflate...

    def failure(self, exc: Exception) -> StreamFailure | None:
        if isinstance(exc, MAPPED):
            return failure(exc, self.url, self._secrets, self._read)
        return None


@asynccontextmanager
async def _connect(
    http: httpx.AsyncClient,
    request: HttpRequest,
    url: str,
    secrets: tuple[str, ...],
    read: str,
    limits: httpx.Timeout,
) -> AsyncIterator[httpx.Response]:
    method = request.method
    target = httpx.URL(request.url)
    headers = dict(request.headers)
    body = request.json if method != "GET" else None
    for _hop in range(MAX_REDIRECTS + 1):
        try:
            connection = aconnect_sse(
                http, method, str(target), json=body, headers=headers, timeout=limits
            )
            source = await connection.__aenter__()
        except httpx.ReadTimeout as exc:
            where = redact_url(str(target))
            raise StalledError(f"{where} sent no response within {read}", url=where) from exc
        except MAPPED as exc:
            raise failure(exc, redact_url(str(target)), secrets, read) from exc
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
        reason = _meaning(status) + redact(f"{code}: {detail}" if code else detail, secrets)
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


def _meaning(status: int) -> str:
    meaning = STATUS_MEANINGS.get(status)
    return f"{meaning}; " if meaning else ""


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    default = {"http": 80, "https": 443}.get(url.scheme)
    return (url.scheme, url.host, url.port or default)


async def _check_open(
    response: httpx.Response, url: str, secrets: tuple[str, ...], framing: Framing = "sse"
) -> None:
    status = response.status_code
    content_type = response.headers.get("content-type")
    if 200 <= status < 300 and (framing == "lines" or is_event_stream(content_type)):
        return
    body = await _read_limited(response)
    code, detail = summarize_body(body, content_type)
    detail = redact(detail, secrets)
    reason = f"{code}: {detail}" if code else detail
    if not 200 <= status < 300:
        phrase = f" {response.reason_phrase}" if response.reason_phrase else ""
        cls = status_error_class(status)
        if 300 <= status < 400:
            location = response.headers.get("location", "?")
            reason = f"redirected to {redact_url(location)}; use that URL as base_url"
        reason = _meaning(status) + reason
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


__all__ = ["HttpStream", "HttpTransport", "http_timeout", "make_client"]
