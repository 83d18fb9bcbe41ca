"""The embedded server's Starlette application: OpenAI-compatible routes and ``/health``."""

from __future__ import annotations

import math
import threading

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from nbchat.errors import ConfigurationError
from nbchat.server.demo_model import DemoModel
from nbchat.server.openai_api import ServerStats, chat_completions, error_response, list_models

__all__ = ["DEFAULT_TOKENS_PER_SECOND", "ServerStats", "create_app"]

#: Pace of the demo model's streamed replies: about what a hosted model delivers.
DEFAULT_TOKENS_PER_SECOND = 45.0


async def _health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def _index(request: Request) -> Response:
    # A browser pointed at the server's root learns what to do with it.
    base_url = str(request.base_url).rstrip("/") + "/v1"
    return JSONResponse(
        {
            "name": "nbchat embedded server (offline demo model)",
            "base_url": base_url,
            "endpoints": ["/v1/chat/completions", "/v1/models", "/health"],
        }
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    # Unknown paths and wrong methods answer in OpenAI's error shape, like the
    # routes themselves, so clients can report them uniformly.
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        message = (
            f"No route {request.url.path}; the API lives under /v1 (e.g. /v1/chat/completions)."
        )
        code = "not_found"
    elif exc.status_code == 405:
        message = f"Method {request.method} is not allowed on {request.url.path}."
        code = "method_not_allowed"
    else:
        message, code = str(exc.detail), "http_error"
    response = error_response(exc.status_code, message, code=code)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


def create_app(
    model: DemoModel | None = None, *, tokens_per_second: float = DEFAULT_TOKENS_PER_SECOND
) -> Starlette:
    """Build the embedded server's ASGI application.

    Parameters
    ----------
    model
        The model that answers; a fresh :class:`DemoModel` by default.
    tokens_per_second
        Pace of streamed replies; ``math.inf`` streams without pauses.

    Returns
    -------
    Starlette
        The app, serving ``POST /v1/chat/completions``, ``GET /v1/models`` and
        ``GET /health``. ``app.state.stats`` is its :class:`ServerStats`;
        setting ``app.state.shutting_down`` (a ``threading.Event``) ends open streams.

    Raises
    ------
    ConfigurationError
        If ``tokens_per_second`` is not a positive number.
    """
    if isinstance(tokens_per_second, bool) or not isinstance(tokens_per_second, (int, float)):
        raise ConfigurationError(
            f"tokens_per_second must be a number, got {type(tokens_per_second).__name__}."
        )
    if math.isnan(tokens_per_second) or tokens_per_second <= 0:
        raise ConfigurationError(f"tokens_per_second must be positive, got {tokens_per_second!r}.")
    routes = [
        Route("/", _index, methods=["GET"]),
        Route("/health", _health, methods=["GET"]),
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: _http_error})
    app.state.model = model if model is not None else DemoModel()
    app.state.tokens_per_second = float(tokens_per_second)
    app.state.stats = ServerStats()
    # Set by ServerThread.stop() so open streams end promptly and cleanly.
    app.state.shutting_down = threading.Event()
    return app
