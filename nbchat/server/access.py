"""Who may use the server, how much they may send, and the access log.

**Tokens.** With no tokens every request is served (the embedded server on
loopback). With tokens, every route except ``GET /health`` needs
``Authorization: Bearer <token>``; otherwise ``401`` with ``WWW-Authenticate:
Bearer`` and code ``AUTHENTICATION_ERROR`` (OpenAI's ``invalid_api_key`` on ``/v1``,
so OpenAI clients take the token as their ``api_key``). Each token stands for a user
name; sessions belong to that user and are invisible to everyone else. Tokens are
compared in constant time (against every known token, by SHA-256 digest) and never
logged or echoed.

**Users file** (``nbchat serve --users FILE``), one user per line::

    # classroom, spring term
    alice:9f8e7d6c5b4a39281706f5e4
    bob:0a1b2c3d4e5f60718293a4b5

``name:token``; the name is 1-64 of ``A-Z a-z 0-9 _ . @ -``, the token at least 8
characters with no spaces; blank lines and ``#`` comments are ignored; names and
tokens must be unique. ``--token`` (or ``$NBCHAT_SERVER_TOKEN``) adds a user named
``default``.

**JSON only.** A request with a body must declare it ``Content-Type: application/json``
(or ``...+json``); otherwise ``415`` (``UNSUPPORTED_MEDIA_TYPE``). Browsers then always
ask (a CORS preflight) before a page on another origin may send one.

**Body limit.** A request body above ``max_body`` bytes is refused with ``413``
(``PAYLOAD_TOO_LARGE``): by its ``Content-Length`` at once, or while reading a
chunked body.

**Access log.** One line per request on the ``nbchat.server`` logger, at INFO, when
the response ends (for a stream: when it closes)::

    method=POST path=/sessions/3f2a/chat status=200 duration_ms=2310.4 user=alice client=127.0.0.1

The same fields are attached to the record (``http_method``, ``http_path``,
``http_status``, ``duration_ms``, ``user``) for structured handlers. Never bodies,
query strings, tokens or keys.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time
from collections.abc import Mapping
from pathlib import Path

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nbchat.errors import ConfigurationError
from nbchat.server.error_responses import error_for_path

__all__ = [
    "DEFAULT_MAX_BODY",
    "TOKEN_USER",
    "AccessMiddleware",
    "Users",
    "parse_users",
]

logger = logging.getLogger("nbchat.server")

#: the default body limit: 1 MiB holds a very long conversation
DEFAULT_MAX_BODY = 1024 * 1024
#: the user name that ``--token`` / ``$NBCHAT_SERVER_TOKEN`` stands for
TOKEN_USER = "default"
_NAME = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
_MIN_TOKEN = 8
_OPEN_PATHS = frozenset({"/health"})


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


class Users:
    """Bearer tokens and the user name each stands for.

    Parameters
    ----------
    tokens
        ``{user name: token}``.

    Raises
    ------
    ConfigurationError
        For an invalid name, a short or blank token, or a token used twice.
    """

    def __init__(self, tokens: Mapping[str, str]) -> None:
        self._entries: list[tuple[bytes, str]] = []
        seen: set[bytes] = set()
        for name, token in tokens.items():
            if not _NAME.fullmatch(name):
                raise ConfigurationError(f"user name {name!r} must be 1-64 of A-Z a-z 0-9 _ . @ -")
            _check_token(token, f"the token of {name!r}")
            digest = _digest(token)
            if digest in seen:
                raise ConfigurationError(f"the token of {name!r} is also another user's token")
            seen.add(digest)
            self._entries.append((digest, name))

    @property
    def names(self) -> list[str]:
        """The user names, sorted."""
        return sorted(name for _, name in self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def identify(self, token: str) -> str | None:
        """The user ``token`` belongs to, or ``None``; constant time in the token."""
        digest = _digest(token)
        found: str | None = None
        for known, name in self._entries:
            # No early exit: the time taken does not tell how close a guess was.
            if hmac.compare_digest(known, digest):
                found = name
        return found


def _check_token(token: str, what: str) -> None:
    if len(token) < _MIN_TOKEN or any(c.isspace() for c in token):
        raise ConfigurationError(f"{what} must be at least {_MIN_TOKEN} characters with no spaces")


def parse_users(text: str, source: str = "users file") -> dict[str, str]:
    """``{name: token}`` from the text of a users file (format in the module docstring).

    Raises
    ------
    ConfigurationError
        Naming the line of a malformed entry (never quoting its token).
    """
    users: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, token = line.partition(":")
        name, token = name.strip(), token.strip()
        where = f"{source}, line {number}"
        if not sep or not name or not token:
            raise ConfigurationError(f"{where}: expected 'name:token'")
        if not _NAME.fullmatch(name):
            raise ConfigurationError(f"{where}: user name must be 1-64 of A-Z a-z 0-9 _ . @ -")
        _check_token(token, f"{where}: the token")
        if name in users:
            raise ConfigurationError(f"{where}: user {name!r} appears twice")
        users[name] = token
    return users


def load_users(path: str | Path) -> dict[str, str]:
    """Read a users file; ConfigurationError if it cannot be read or parsed."""
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"cannot read the users file {path}: {exc}") from exc
    return parse_users(text, str(path))


class _BodyTooLarge(Exception):
    pass


class AccessMiddleware:
    """ASGI middleware: bearer tokens, the body limit and the access log.

    Parameters
    ----------
    app
        The application to protect.
    users
        Known tokens; ``None`` serves everyone as user ``""``.
    max_body
        The largest request body in bytes; ``None`` for no limit.
    """

    def __init__(self, app: ASGIApp, *, users: Users | None, max_body: int | None) -> None:
        self.app = app
        self.users = users
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        path: str = scope["path"]
        status = 0
        user = ""

        async def send_logged(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            if self.users is not None and path not in _OPEN_PATHS:
                found = self._identify(scope)
                if found is None:
                    await self._unauthorized(scope, receive, send_logged)
                    return
                user = found
            scope.setdefault("state", {})["user"] = user
            if not _json_or_empty(scope):
                await self._not_json(scope, receive, send_logged)
                return
            limited = receive
            if self.max_body is not None:
                if _content_length(scope) > self.max_body:
                    await self._too_large(scope, receive, send_logged)
                    return
                limited = self._limit(receive, self.max_body)
            try:
                await self.app(scope, limited, send_logged)
            except _BodyTooLarge:
                if status:
                    raise
                await self._too_large(scope, receive, send_logged)
        finally:
            _log(scope, status or 500, started, user)

    def _identify(self, scope: Scope) -> str | None:
        assert self.users is not None
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, token = value.decode("latin-1").strip().partition(" ")
                if scheme.lower() == "bearer" and token.strip():
                    return self.users.identify(token.strip())
                return None
        return None

    async def _unauthorized(self, scope: Scope, receive: Receive, send: Send) -> None:
        has_header = any(name == b"authorization" for name, _ in scope["headers"])
        message = (
            "Invalid bearer token."
            if has_header
            else "Authentication required: send 'Authorization: Bearer <token>'."
        )
        headers = {"WWW-Authenticate": 'Bearer realm="nbchat"'}
        response = error_for_path(
            scope["path"], 401, message, "AUTHENTICATION_ERROR", headers=headers
        )
        await response(scope, receive, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = f"The request body is larger than the server's limit of {self.max_body} bytes."
        response = error_for_path(scope["path"], 413, message, "PAYLOAD_TOO_LARGE")
        await response(scope, receive, send)

    @staticmethod
    async def _not_json(scope: Scope, receive: Receive, send: Send) -> None:
        message = (
            "The request body must be JSON sent as 'Content-Type: application/json' "
            f"(got {_header(scope, b'content-type') or 'no Content-Type'!r})."
        )
        response = error_for_path(scope["path"], 415, message, "UNSUPPORTED_MEDIA_TYPE")
        await response(scope, receive, send)

    @staticmethod
    def _limit(receive: Receive, limit: int) -> Receive:
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge
            return message

        return limited


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return ""


def _json_or_empty(scope: Scope) -> bool:
    """Whether a request's body, if it has one, is declared JSON.

    Every route reads JSON. Requiring the header also makes a browser ask first (a CORS
    preflight) before any page may POST: a "simple" ``text/plain`` POST from a page on
    another origin is refused instead of starting a paid turn.
    """
    if scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
        return True
    if _content_length(scope) == 0 and not _header(scope, b"transfer-encoding"):
        return True
    kind = _header(scope, b"content-type").partition(";")[0].strip().lower()
    return kind == "application/json" or kind.endswith("+json")


def _content_length(scope: Scope) -> int:
    try:
        return int(_header(scope, b"content-length") or 0)
    except ValueError:
        return 0


def _log(scope: Scope, status: int, started: float, user: str) -> None:
    duration_ms = (time.perf_counter() - started) * 1000
    client = scope.get("client")
    host = client[0] if client else "-"
    logger.info(
        "method=%s path=%s status=%d duration_ms=%.1f user=%s client=%s",
        scope["method"],
        scope["path"],
        status,
        duration_ms,
        user or "-",
        host,
        extra={
            "http_method": scope["method"],
            "http_path": scope["path"],
            "http_status": status,
            "duration_ms": round(duration_ms, 1),
            "user": user or "-",
        },
    )
