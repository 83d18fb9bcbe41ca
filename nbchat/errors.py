"""nbchat's exceptions: one tree, one stable ``code`` each, a one-line ``hint``.

::

    NbchatError                      catch-all for anything nbchat raises on purpose
    ├── ConfigurationError           CONFIG_ERROR: bad arguments, no event loop
    ├── TurnInProgressError          TURN_IN_PROGRESS: send() while a reply streams
    ├── HistoryError                 HISTORY_ERROR: the history file fails
    └── StreamFailure                a turn could not complete; ``status`` / ``url`` when known
        ├── ConnectionFailed         CONNECTION_ERROR: no TCP/TLS connection to the server
        ├── StalledError             STALLED: the server sent nothing new for too long
        ├── InterruptedStream        INTERRUPTED: the stream ended before its end marker
        ├── ProtocolError            PROTOCOL_ERROR: wrong content type, malformed event
        ├── ProviderError            PROVIDER_ERROR: the model reported an error in-band
        ├── ToolRoundsError          TOOL_ROUNDS: the model kept calling tools past the cap
        └── HTTPStatusError          the server answered with a non-2xx status
            ├── AuthenticationError  AUTHENTICATION_ERROR: 401 / 403
            ├── ValidationError      VALIDATION_ERROR: 400 / 422
            ├── NotFoundError        NOT_FOUND: 404 (wrong URL or model)
            ├── RequestTooLargeError REQUEST_TOO_LARGE: 413
            ├── RateLimitedError     RATE_LIMITED: 429
            └── ServerError          SERVER_ERROR: 5xx and other statuses

Catch :class:`StreamFailure` around ``chat.ask(...)`` to handle any failed turn;
``await chat.send(...)`` never raises these: the returned ``Message`` carries
``status`` and ``error`` instead. Only ``nbchat.transport`` turns httpx exceptions
into these classes, keeping the original as ``__cause__``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from nbchat.wire import ErrorInfo

_P = ParamSpec("_P")
_R = TypeVar("_R")

HINTS: dict[str, str] = {
    "CONFIG_ERROR": "Check the arguments given to nbchat.Chat(...).",
    "TURN_IN_PROGRESS": "Wait for the reply (await the turn) or stop it with chat.stop().",
    "HISTORY_ERROR": "The history file could not be used (the message says why: a full disk, "
    "a read-only folder, a damaged file); Chat(history=None) chats without saving.",
    "CONNECTION_ERROR": "Is the server running and the base URL right? Check host and port.",
    "STALLED": "The server went silent (Timeouts(read=...)) or sent no new output "
    "(Timeouts(idle=...)); press Retry, or raise the limit.",
    "INTERRUPTED": "The stream broke off mid-reply; the partial reply is kept. "
    "Press Retry (or call chat.retry()) to ask again.",
    "PROTOCOL_ERROR": "The URL may not be a streaming chat endpoint, or the dialect is wrong.",
    "PROVIDER_ERROR": "The model provider reported an error; retrying later may help.",
    "AUTHENTICATION_ERROR": "Check the API key (argument or environment variable).",
    "VALIDATION_ERROR": "The server rejected the request; check the model name and options.",
    "NOT_FOUND": "Check the base URL (often it ends in /v1) and the model name.",
    "REQUEST_TOO_LARGE": "The message, with the conversation sent along, is more than the "
    "server accepts: shorten it or start a new chat.",
    "RATE_LIMITED": "Too many requests: wait the time the server names, then press Retry.",
    "SERVER_ERROR": "The server failed; retry later or check its logs.",
    "TOOL_ROUNDS": "The model kept calling tools; raise Chat(max_tool_rounds=...) if it "
    "needs more rounds, or ask a narrower question.",
}


class NbchatError(Exception):
    """Base of every error nbchat raises on purpose: a stable ``code`` and a ``hint``."""

    code: str = "NBCHAT_ERROR"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    @property
    def hint(self) -> str:
        return HINTS.get(self.code, "")


class ConfigurationError(NbchatError):
    """Bad arguments or environment: raised before any request is made."""

    code = "CONFIG_ERROR"


class TurnInProgressError(NbchatError):
    """``send`` was called while a reply is still streaming."""

    code = "TURN_IN_PROGRESS"


class HistoryError(NbchatError):
    """The history store failed (unwritable folder, full disk, corrupt file)."""

    code = "HISTORY_ERROR"


class StreamFailure(NbchatError):
    """A turn failed; ``status`` is the HTTP status when there was one.

    ``retry_after`` holds the wait a 429/503 asked for (seconds), when it said.
    """

    code = "STREAM_FAILURE"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        url: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.status = status
        self.url = url
        #: seconds the server asked to wait before trying again (Retry-After), if any
        self.retry_after = retry_after


class ConnectionFailed(StreamFailure):
    """No connection could be made (refused, DNS, TLS, connect timeout)."""

    code = "CONNECTION_ERROR"


class StalledError(StreamFailure):
    """No bytes for ``Timeouts.read`` seconds, or no new output for ``Timeouts.idle``."""

    code = "STALLED"


class InterruptedStream(StreamFailure):
    """The stream ended (or the connection dropped) before the protocol's end marker."""

    code = "INTERRUPTED"


class ProtocolError(StreamFailure):
    """The response is not the stream the dialect expects (content type, JSON, order)."""

    code = "PROTOCOL_ERROR"


class ProviderError(StreamFailure):
    """The provider reported an error inside the stream or in a 2xx body."""

    code = "PROVIDER_ERROR"


class ToolRoundsError(StreamFailure):
    """The model asked for tools in more request rounds than ``max_tool_rounds``."""

    code = "TOOL_ROUNDS"


class HTTPStatusError(StreamFailure):
    """The server answered with a non-2xx status; the message quotes its reason."""

    code = "SERVER_ERROR"


class AuthenticationError(HTTPStatusError):
    """401 or 403: the key is missing, wrong or lacks permission."""

    code = "AUTHENTICATION_ERROR"


class ValidationError(HTTPStatusError):
    """400 or 422: the request was rejected as invalid."""

    code = "VALIDATION_ERROR"


class NotFoundError(HTTPStatusError):
    """404: wrong URL, unknown model or unknown session."""

    code = "NOT_FOUND"


class RequestTooLargeError(HTTPStatusError):
    """413: the request (the message and the context sent with it) is too large."""

    code = "REQUEST_TOO_LARGE"


class RateLimitedError(HTTPStatusError):
    """429: too many requests."""

    code = "RATE_LIMITED"


class ServerError(HTTPStatusError):
    """5xx (or another unexpected status)."""

    code = "SERVER_ERROR"


def excerpt(text: str, limit: int = 200) -> str:
    """``text`` stripped and cut to ``limit`` characters with an ellipsis, for messages."""
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


_BY_CODE: dict[str, type[StreamFailure]] = {
    cls.code: cls
    for cls in (
        ConnectionFailed,
        StalledError,
        InterruptedStream,
        ProtocolError,
        ProviderError,
        ToolRoundsError,
        AuthenticationError,
        ValidationError,
        NotFoundError,
        RequestTooLargeError,
        RateLimitedError,
        ServerError,
    )
}


#: what a status means, put before the server's own words in an error message
STATUS_MEANINGS = {413: "the request is too large for the server"}


#: hints where a progress job's failure needs other words than a chat reply's
JOB_HINTS: dict[str, str] = {
    **HINTS,
    "INTERRUPTED": "The job's stream broke off; nbchat never posts a job twice on its own. "
    "Press Run again (or call p.start()) to start it again.",
    "STALLED": "The server went silent (Timeouts(read=...)); press Run again, or raise the limit.",
    "VALIDATION_ERROR": "The server rejected the request; check the job's json= body.",
}


def error_info(code: str, message: str, hints: dict[str, str] = HINTS) -> ErrorInfo:
    """How an error is shown and stored: its code, the message naming the cause, the hint."""
    return {"code": code, "message": message, "hint": hints.get(code, "")}


def failure_for_code(code: str, message: str) -> StreamFailure:
    """The exception class that stands for ``code`` (a plain StreamFailure if unknown)."""
    cls = _BY_CODE.get(code)
    if cls is None:
        return StreamFailure(message, code=code)
    return cls(message)


def status_error_class(status: int) -> type[HTTPStatusError]:
    """The error class for an HTTP status (non-2xx)."""
    if status in (401, 403):
        return AuthenticationError
    if status in (400, 422):
        return ValidationError
    if status == 404:
        return NotFoundError
    if status == 413:
        return RequestTooLargeError
    if status == 429:
        return RateLimitedError
    return ServerError


def user_facing(call: Callable[_P, _R]) -> Callable[_P, _R]:
    """For public calls: a :class:`ConfigurationError` they raise is shown with a short
    traceback that starts in the user's code and ends with the message naming the fix,
    not with nbchat's internals (IPython hides frames marked ``__tracebackhide__``; the
    internal error stays reachable as ``__context__`` for a debugger)."""

    @functools.wraps(call)
    def checked(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        __tracebackhide__ = True
        try:
            return call(*args, **kwargs)
        except ConfigurationError as exc:
            raise type(exc)(exc.message, code=exc.code) from None

    return checked
