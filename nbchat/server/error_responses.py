"""Error answers in the three shapes the server speaks.

* The sessions API and everything outside ``/v1`` answer like spec 001:
  ``{"success": false, "error": {"message": str, "code": str}}`` with an upper-case
  code (``NOT_FOUND``, ``VALIDATION_ERROR``, ``AUTHENTICATION_ERROR`` ...).
* ``/v1/...`` answers like OpenAI: ``{"error": {"message", "type", "code", "param"}}``
  with a lower-case code, so OpenAI client libraries raise their usual exceptions.
* Spec 000's route (:data:`CONTENT_STREAM_PATH`) answers every error in-band: status
  200, an event stream of one event ``{"error": message, "code", "status"}``. Its
  client (``fetch-event-source`` with an ``onerror`` that returns) retries every
  non-stream answer forever, once a second, paid upstream calls included; an error
  event it shows, and stops.

:func:`error_for_path` picks the shape from the request path; the message always
names the cause (and never holds a key or a token). Code that does not know which
route it serves raises :class:`ApiError`; the app answers it in the route's shape.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.responses import JSONResponse, Response

from nbchat.server.sse_body import event_json

__all__ = [
    "CONTENT_STREAM_PATH",
    "ApiError",
    "api_error",
    "error_for_path",
    "is_openai_path",
    "openai_error",
    "stream_error",
]

#: spec 000's chat route, whose errors travel in-band
CONTENT_STREAM_PATH = "/functions/v1/openrouter-chat"

# Spec codes as OpenAI clients know them; others are just lower-cased.
_OPENAI_CODES = {
    "AUTHENTICATION_ERROR": "invalid_api_key",
    "RATE_LIMITED": "rate_limit_exceeded",
    "NOT_FOUND": "not_found",
}


def api_error(
    status: int, message: str, code: str, *, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """A spec-001 error: ``{"success": false, "error": {"message", "code"}}``."""
    body = {"success": False, "error": {"message": message, "code": code}}
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def openai_error(
    status: int,
    message: str,
    *,
    code: str,
    param: str | None = None,
    error_type: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """An OpenAI-style error: ``{"error": {"message", "type", "code", "param"}}``.

    Parameters
    ----------
    status
        HTTP status code.
    message
        What went wrong, naming the offending field.
    code
        Stable machine-readable code (``invalid_request``, ``model_not_found`` ...).
    param
        The offending field, when there is one.
    error_type
        OpenAI's ``type``; by default ``"invalid_request_error"`` for 4xx and
        ``"server_error"`` for 5xx.
    headers
        Extra response headers (``Retry-After``, ``WWW-Authenticate``).

    Returns
    -------
    JSONResponse
        The error response.
    """
    kind = error_type or ("server_error" if status >= 500 else "invalid_request_error")
    body = {"error": {"message": message, "type": kind, "code": code, "param": param}}
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def is_openai_path(path: str) -> bool:
    """Whether ``path`` belongs to the OpenAI-compatible API (``/v1`` and below)."""
    return path == "/v1" or path.startswith("/v1/")


class ApiError(Exception):
    """An error answer (``code`` in spec form), raised where the route is not known;
    :meth:`response` writes it for a path (the app's handler: the request's)."""

    def __init__(
        self, status: int, message: str, code: str, *, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = dict(headers or {})

    def response(self, path: str) -> Response:
        """The answer in the shape clients of ``path`` expect."""
        return error_for_path(path, self.status, self.message, self.code, headers=self.headers)


def stream_error(
    status: int, message: str, code: str, *, headers: Mapping[str, str] | None = None
) -> Response:
    """An in-band error: 200, one event ``{"error", "code", "status"}`` (the status the
    error would have had), then the end."""
    payload = {"error": message, "code": code, "status": status}
    return Response(
        f"data: {event_json(payload)}\n\n",
        media_type=None,
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-store",
            **(headers or {}),
        },
    )


def error_for_path(
    path: str,
    status: int,
    message: str,
    code: str,
    *,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """The error in the shape clients of ``path`` expect (``code`` in spec form)."""
    if path == CONTENT_STREAM_PATH:
        return stream_error(status, message, code, headers=headers)
    if is_openai_path(path):
        openai_code = _OPENAI_CODES.get(code, code.lower())
        return openai_error(status, message, code=openai_code, headers=headers)
    return api_error(status, message, code, headers=headers)
