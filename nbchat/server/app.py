"""The server's Starlette application: sessions API, OpenAI-compatible API, health.

``create_app`` assembles it from a model (the offline demo by default, or an
:class:`~nbchat.server.upstream.UpstreamModel` gateway), a session store (SQLite in
memory by default, a file with ``db=``, or any
:class:`~nbchat.server.session_store.SessionStore`), tokens and limits.

Routes: ``GET /health`` (``{"status": "ok"}``, never needs a token), ``GET /``
(what this server is), the sessions API (:mod:`nbchat.server.sessions_api`),
``POST /v1/chat/completions`` and ``GET /v1/models``
(:mod:`nbchat.server.openai_api`), ``POST /v1/responses``
(:mod:`nbchat.server.responses_api`), the AI SDK's ``POST /api/chat``
(:mod:`nbchat.server.ui_stream_api`), spec 000's ``POST /functions/v1/openrouter-chat``
(:mod:`nbchat.server.content_stream_api`) and spec 004's demo job
(:mod:`nbchat.server.progress_api`). Unknown routes answer 404/405 in the shape of
their area (OpenAI's under ``/v1`` and elsewhere, spec 001's under ``/sessions``),
listing the routes that exist.

Lifecycle: starting the server opens the app's own store (and marks replies a
crashed server left ``streaming`` as ``stopped``). Stopping it, or setting
``app.state.shutting_down`` from any thread, stops in-flight replies: they are saved
as ``stopped`` and their streams end with an ``error`` event ``SERVER_SHUTDOWN``
(``/v1``: an in-band error, no ``[DONE]``); then the app's own store is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from nbchat.server.access import DEFAULT_MAX_BODY, AccessMiddleware, Users
from nbchat.server.content_stream_api import PATH as CONTENT_CHAT_PATH
from nbchat.server.content_stream_api import content_chat
from nbchat.server.context import ServerContext, ServerStats, context
from nbchat.server.demo_model import DemoModel
from nbchat.server.error_responses import (
    CONTENT_STREAM_PATH,
    ApiError,
    api_error,
    error_for_path,
)
from nbchat.server.model import ChatModel, DemoChatModel, check_tokens_per_second
from nbchat.server.openai_api import chat_completions, list_models
from nbchat.server.progress_api import progress_routes
from nbchat.server.replies import DEFAULT_RETENTION_S, Replies
from nbchat.server.responses_api import responses
from nbchat.server.session_store import SessionStore, StoreError
from nbchat.server.session_stream import resume_stream
from nbchat.server.sessions_api import (
    chat,
    create_session,
    delete_session,
    get_session,
    list_sessions,
    start_reply,
    stop_reply,
)
from nbchat.server.sqlite_sessions import SqliteSessionStore
from nbchat.server.ui_stream_api import ui_chat

__all__ = ["DEFAULT_GRACE_S", "DEFAULT_TOKENS_PER_SECOND", "ServerStats", "create_app"]

logger = logging.getLogger("nbchat.server")

#: Pace of the demo model's streamed replies: about what a hosted model delivers.
DEFAULT_TOKENS_PER_SECOND = 45.0
#: Seconds a sessions reply keeps generating after its last client disconnected.
DEFAULT_GRACE_S = 30.0
_SHUTDOWN_POLL_S = 0.05


async def _health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def _index(request: Request) -> Response:
    # A browser pointed at the server's root learns what to do with it.
    ctx = context(request)
    base_url = str(request.base_url).rstrip("/") + "/v1"
    return JSONResponse(
        {
            "name": f"nbchat server ({ctx.model.description})",
            "model": ctx.model.name,
            "base_url": base_url,
            "auth": ctx.auth_enabled,
            "endpoints": _routes(request),
        }
    )


def _routes(request: Request) -> list[str]:
    """Every route of the app, as ``METHOD path`` (what ``GET /`` and a 404 list)."""
    listed = []
    for route in getattr(request.app, "routes", ()):
        methods = sorted((getattr(route, "methods", None) or set()) - {"HEAD"})
        path = getattr(route, "path", "")
        listed += [f"{method} {path}" for method in methods]
    return listed


async def _http_error(request: Request, exc: Exception) -> Response:
    # Unknown paths and wrong methods answer in the shape of their area, like the
    # routes themselves, so clients can report them uniformly.
    assert isinstance(exc, HTTPException)
    path = request.url.path
    sessions = path == "/sessions" or path.startswith("/sessions/")
    if exc.status_code == 404:
        routes = ", ".join(_routes(request))
        message = f"No route {path}. The routes are: {routes}."
        code = "NOT_FOUND"
    elif exc.status_code == 405:
        message = f"Method {request.method} is not allowed on {path}."
        code = "METHOD_NOT_ALLOWED"
    else:
        message, code = str(exc.detail), "HTTP_ERROR"
    headers = dict(exc.headers or {})
    if sessions:
        return api_error(exc.status_code, message, code, headers=headers)
    shape = path if path == CONTENT_STREAM_PATH else "/v1"  # (in-band there)
    return error_for_path(shape, exc.status_code, message, code, headers=headers)


async def _store_error(request: Request, exc: Exception) -> Response:
    logger.error("%s %s: the session store failed: %s", request.method, request.url.path, exc)
    message = "The server could not read or write its session store; see its log."
    return error_for_path(request.url.path, 500, message, "INTERNAL_ERROR")


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return exc.response(request.url.path)


async def _server_error(request: Request, exc: Exception) -> Response:
    # A bug: Starlette logs it after this answer, which names no detail of it.
    message = "The server failed on this request (a bug); see its log."
    return error_for_path(request.url.path, 500, message, "INTERNAL_ERROR")


async def _watch_shutdown(ctx: ServerContext) -> None:
    # ServerThread.stop() and the CLI's signal handler set a threading.Event from
    # another thread; polling it is the simplest bridge into this loop.
    while not ctx.shutting_down.is_set():  # noqa: ASYNC110 - a threading.Event, not ours
        await asyncio.sleep(_SHUTDOWN_POLL_S)
    await ctx.replies.shutdown()


#: response headers a page may read
CORS_RESPONSE_HEADERS = (
    "Location",
    "Retry-After",
    "X-Session-Id",
    "x-vercel-ai-ui-message-stream",
)


def _cors(origins: Sequence[str], tokens: bool) -> list[Middleware]:
    from nbchat.errors import ConfigurationError

    if isinstance(origins, str):
        raise ConfigurationError("cors_origins is a list of origins, not one string")
    if not origins:
        return []
    if "*" in origins and not tokens:
        raise ConfigurationError(
            "CORS for every origin ('*') on a server without tokens would let any web page "
            "you visit read the stored conversations and spend the model: add tokens "
            "(--token / --users), or name the page's origin (e.g. http://localhost:3000)"
        )
    for origin in origins:
        if origin != "*" and not re.fullmatch(r"https?://[^/\s]+", origin):
            raise ConfigurationError(
                f"a CORS origin is a scheme and host with no path, such as "
                f"http://localhost:3000 (or * for any), got {origin!r}"
            )
    return [
        Middleware(
            CORSMiddleware,
            allow_origins=list(origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["*"],  # SDKs send their own (x-stainless-*); no cookies are used
            expose_headers=list(CORS_RESPONSE_HEADERS),
            max_age=600,
        )
    ]


def create_app(
    model: ChatModel | DemoModel | None = None,
    *,
    tokens_per_second: float = DEFAULT_TOKENS_PER_SECOND,
    store: SessionStore | None = None,
    db: str | Path = ":memory:",
    users: Mapping[str, str] | None = None,
    max_body: int | None = DEFAULT_MAX_BODY,
    max_concurrent: int | None = None,
    grace: float = DEFAULT_GRACE_S,
    retention: float = DEFAULT_RETENTION_S,
    progress_scale: float = 1.0,
    cors_origins: Sequence[str] = (),
) -> Starlette:
    """Build the server's ASGI application.

    Parameters
    ----------
    model
        What answers: a :class:`~nbchat.server.model.ChatModel` (the gateway, a
        test double), a :class:`DemoModel` to stream at ``tokens_per_second``, or
        ``None`` for a fresh demo model.
    tokens_per_second
        Pace of the demo model; ``math.inf`` streams without pauses.
    store
        The session store, owned by the caller (never closed by the app).
    db
        Without ``store``: the SQLite file the app opens (now, to report a bad
        file early) and closes when it stops. ``":memory:"``, the default, keeps
        nothing: each start of the server begins empty.
    users
        ``{user name: bearer token}``; empty or ``None`` serves without tokens.
    max_body
        Largest request body in bytes (413 above); ``None`` for no limit.
    max_concurrent
        Replies in progress allowed per token (429 above); ``None`` for no limit.
    grace
        Seconds a sessions reply goes on after its last client disconnected.
    retention
        Seconds a finished reply can still be resumed.
    progress_scale
        Multiplies the stage durations of spec 004's demo job (``/api/generate-stream``
        and ``/api/generate``, see :mod:`nbchat.server.progress_api`).
    cors_origins
        Web page origins (``"http://localhost:3000"``, or ``"*"`` for any) whose
        scripts may call the server from a browser: ``EventSource``,
        ``fetch-event-source``, ``useChat``. None by default. Tokens still apply (no
        cookies are used); ``"*"`` needs tokens: without, any page could read and spend.

    Returns
    -------
    Starlette
        The app. ``app.state.context`` is its
        :class:`~nbchat.server.context.ServerContext`; ``app.state.stats`` the
        :class:`ServerStats` of ``/v1``; setting ``app.state.shutting_down`` (a
        ``threading.Event``) stops in-flight replies and ends open streams.

    Raises
    ------
    ConfigurationError
        For a bad pace, limit or token.
    StoreError
        If the database file cannot be opened.
    """
    from nbchat.errors import ConfigurationError

    tps = check_tokens_per_second(tokens_per_second)
    chat_model: ChatModel
    if model is None or isinstance(model, DemoModel):
        chat_model = DemoChatModel(model, tokens_per_second=tps)
    else:
        chat_model = model
    for name, value in (("max_body", max_body), ("max_concurrent", max_concurrent)):
        if value is not None and (isinstance(value, bool) or value < 1):
            raise ConfigurationError(f"{name} must be a positive integer or None, got {value!r}")
    if grace < 0 or retention < 0:
        raise ConfigurationError("grace and retention must not be negative")
    table = Users(users) if users else None

    ctx = ServerContext(
        model=chat_model,
        replies=Replies(max_concurrent=max_concurrent, retention=retention),
        grace=float(grace),
        auth_enabled=table is not None,
        _store=store,
    )
    if store is None:
        path = db

        def open_store() -> SessionStore:
            return SqliteSessionStore(path)

        ctx.store_factory = open_store
        if str(path) != ":memory:":
            ctx.open_store()  # fail now (bad path, newer schema), not on the first request

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        ctx.replies.reopen()
        if ctx.store_factory is not None:
            recovered = await ctx.open_store().recover()
            if recovered:
                logger.warning("marked %d unfinished replies of a previous run stopped", recovered)
        watcher = asyncio.create_task(_watch_shutdown(ctx), name="nbchat-shutdown-watch")
        try:
            yield
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            await ctx.replies.shutdown()
            await ctx.model.aclose()
            await ctx.close_store()

    routes = [
        Route("/", _index, methods=["GET"]),
        Route("/health", _health, methods=["GET"]),
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/v1/responses", responses, methods=["POST"]),
        Route("/api/chat", ui_chat, methods=["POST"]),
        Route(CONTENT_CHAT_PATH, content_chat, methods=["POST"]),
        Route("/sessions", create_session, methods=["POST"]),
        Route("/sessions", list_sessions, methods=["GET"]),
        Route("/sessions/{session_id}", get_session, methods=["GET"]),
        Route("/sessions/{session_id}", delete_session, methods=["DELETE"]),
        Route("/sessions/{session_id}/chat", chat, methods=["POST"]),
        Route("/sessions/{session_id}/messages", start_reply, methods=["POST"]),
        Route("/sessions/{session_id}/stream", resume_stream, methods=["GET"]),
        Route("/sessions/{session_id}/stop", stop_reply, methods=["POST"]),
        *(
            Route(path, endpoint, methods=["POST"])
            for path, endpoint in progress_routes(progress_scale)
        ),
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            # Outermost: preflights and 401s carry the CORS headers too.
            *_cors(cors_origins, table is not None),
            Middleware(AccessMiddleware, users=table, max_body=max_body),
        ],
        exception_handlers={
            HTTPException: _http_error,
            StoreError: _store_error,
            ApiError: _api_error,
            Exception: _server_error,
        },
        lifespan=lifespan,
    )
    app.state.context = ctx
    app.state.model = chat_model
    app.state.stats = ctx.stats
    app.state.shutting_down = ctx.shutting_down
    return app
