"""JSON error bodies in the two shapes the server speaks.

* The sessions API and everything outside ``/v1`` answer like spec 001:
  ``{"success": false, "error": {"message": str, "code": str}}`` with an upper-case
  code (``NOT_FOUND``, ``VALIDATION_ERROR``, ``AUTHENTICATION_ERROR`` ...).
* ``/v1/...`` answers like OpenAI: ``{"error": {"message", "type", "code", "param"}}``
  with a lower-case code, so OpenAI client libraries raise their usual exceptions.

:func:`error_for_path` picks the shape from the request path; the message always
names the cause (and never holds a key or a token).
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.responses import JSONResponse

__all__ = ["api_error", "error_for_path", "is_openai_path", "openai_error"]

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


def error_for_path(
    path: str,
    status: int,
    message: str,
    code: str,
    *,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """The error in the shape clients of ``path`` expect (``code`` in spec form)."""
    if is_openai_path(path):
        openai_code = _OPENAI_CODES.get(code, code.lower())
        return openai_error(status, message, code=openai_code, headers=headers)
    return api_error(status, message, code, headers=headers)
