"""Where httpx's exceptions become nbchat's, and where secrets are kept out of messages.

:data:`FAILURES` is the one table: each httpx exception and the nbchat error it
becomes (the original is kept as ``__cause__`` by the caller). Credentials found in a
request's headers are redacted from every message made here, and query strings (keys
sometimes travel there) from httpx's own log lines.
"""

from __future__ import annotations

import logging

import httpx

from nbchat.config import redact_url
from nbchat.errors import (
    ConnectionFailed,
    InterruptedStream,
    ProtocolError,
    StalledError,
    StreamFailure,
)
from nbchat.stream.base import HttpRequest

#: request headers that carry credentials: never sent to another origin, never shown
CREDENTIAL_HEADERS = frozenset({"authorization", "x-api-key", "api-key", "cookie"})

#: httpx's exceptions and the nbchat error each becomes (first match wins)
FAILURES: tuple[tuple[type[Exception], type[StreamFailure], str], ...] = (
    (httpx.ConnectTimeout, ConnectionFailed, "could not connect to {url}: connect timed out ({detail})"),  # noqa: E501
    (httpx.ConnectError, ConnectionFailed, "could not connect to {url}: {detail}"),
    (httpx.UnsupportedProtocol, ConnectionFailed, "could not connect to {url}: {detail}"),
    (httpx.InvalidURL, ConnectionFailed, "could not connect to {url}: {detail}"),
    (httpx.ReadTimeout, StalledError, "{url} sent nothing for {read} (no byte at all)"),
    (httpx.TimeoutException, StalledError, "timed out talking to {url}: {detail}"),
    (httpx.RemoteProtocolError, InterruptedStream, "the connection to {url} closed mid-reply: {detail}"),  # noqa: E501
    (httpx.ReadError, InterruptedStream, "the connection to {url} closed mid-reply: {detail}"),
    (httpx.DecodingError, ProtocolError, "{url} sent a body that does not decode: {detail}"),
    (httpx.HTTPError, ConnectionFailed, "request to {url} failed: {detail}"),
)  # fmt: skip
#: what the transport catches to map
MAPPED = (httpx.HTTPError, httpx.InvalidURL)


def failure(
    exc: Exception, url: str, secrets: tuple[str, ...] = (), read: str = "too long"
) -> StreamFailure:
    """The nbchat error for an httpx exception, by :data:`FAILURES` (secrets redacted)."""
    detail = redact(str(exc) or type(exc).__name__, secrets)
    for kind, cls, template in FAILURES:
        if isinstance(exc, kind):
            return cls(template.format(url=url, detail=detail, read=read), url=url)
    return ConnectionFailed(f"request to {url} failed: {detail}", url=url)


class _QueryRedactor(logging.Filter):
    """Drops query strings from the URLs in httpx's log lines (keys travel there)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(
                redact_url(str(arg)) if isinstance(arg, httpx.URL) else arg for arg in record.args
            )
        return True


logging.getLogger("httpx").addFilter(_QueryRedactor())


def secrets_of(request: HttpRequest) -> tuple[str, ...]:
    found = []
    for name, value in request.headers.items():
        if name.lower() in CREDENTIAL_HEADERS and value:
            found.append(value)
            found.append(value.split(" ", 1)[-1])
    return tuple(s for s in found if len(s) >= 8)


def redact(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


__all__ = ["CREDENTIAL_HEADERS", "FAILURES", "MAPPED", "failure", "redact", "secrets_of"]
