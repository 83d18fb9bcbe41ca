"""The sessions API (spec 001): sessions that keep their messages, and chat in them.

Routes (every one needs ``Authorization: Bearer`` when the server has tokens; each
user sees only their own sessions, another user's answer ``404`` like unknown ones):

==========================================  ===========================================
``POST /sessions``                          ``{"title"?, "system_prompt"?}`` -> 201
                                            session ``{id, title, system_prompt,
                                            created_at, updated_at}``
``GET /sessions``                           ``{"sessions": [session...]}``, newest first
``GET /sessions/{id}``                      session + ``messages`` (a reply in progress
                                            shows its text so far, status ``streaming``)
``DELETE /sessions/{id}``                   204 (stops a reply in progress)
``POST /sessions/{id}/chat``                ``{"message": str}`` (min length 1) -> SSE
                                            (:mod:`nbchat.server.session_stream`);
                                            with ``Last-Event-ID``: resume, no new turn
``POST /sessions/{id}/messages``            ``{"message": str}`` -> 202 ``{message_id,
                                            status, stream}``: the reply runs, follow it
                                            at ``stream`` (an ``EventSource``)
``GET /sessions/{id}/stream``               resume with ``Last-Event-ID``
``POST /sessions/{id}/stop``                stop the reply in progress -> 200
                                            ``{id, status, content}`` of the reply
==========================================  ===========================================

A message is ``{id, role, content, status, created_at, finished_at, error}`` with
``status`` one of ``streaming`` / ``done`` / ``stopped`` / ``error`` and ``error``
``null`` or ``{code, message}`` (why it stopped or failed). Every route can also
answer 401 ``AUTHENTICATION_ERROR`` and 413 ``PAYLOAD_TOO_LARGE``
(:mod:`nbchat.server.access`).

``POST /sessions/{id}/chat`` and ``/messages``, in order: 400 ``VALIDATION_ERROR`` for
a body that is not JSON or has no non-empty string ``message``; 404 ``NOT_FOUND``
(``"Session not found"``); then the turn starts as :mod:`nbchat.server.turns` says (a
re-sent request, same ``Idempotency-Key`` or same message within a few seconds, joins
the reply it started instead of storing the message again); the chat route then
streams the reply. A reply started by ``/messages`` that nobody follows within the
grace period is stopped, as after a disconnect.
"""

from __future__ import annotations

import json
from typing import Any, TypedDict

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from nbchat.server.context import ServerContext, context, user_of
from nbchat.server.error_responses import api_error
from nbchat.server.generation import Generation
from nbchat.server.session_store import SessionRecord, StoredMessage
from nbchat.server.session_stream import event_stream, last_event_id, resume
from nbchat.server.turns import TurnRequest, open_turn

__all__ = [
    "InvalidRequest",
    "MessageBody",
    "SessionBody",
    "chat",
    "create_session",
    "delete_session",
    "get_session",
    "idempotency_key",
    "invalid",
    "json_object",
    "list_sessions",
    "message_of",
    "session_not_found",
    "start_reply",
    "stop_reply",
]

_MAX_TITLE = 200
#: seconds a reply started by ``POST /sessions/{id}/messages`` waits for its first
#: follower (at least; the grace period when longer)
FOLLOW_WINDOW_S = 10.0


class ErrorBody(TypedDict):
    code: str
    message: str


class MessageBody(TypedDict):
    """A message as the sessions API returns it."""

    id: str
    role: str
    content: str
    status: str
    created_at: float
    finished_at: float | None
    error: ErrorBody | None


class SessionBody(TypedDict, total=False):
    """A session as the sessions API returns it (``messages`` only for one session)."""

    id: str
    title: str
    system_prompt: str
    created_at: float
    updated_at: float
    messages: list[MessageBody]


class InvalidRequest(Exception):
    """A request body the API rejects with 400 VALIDATION_ERROR."""


def invalid(exc: InvalidRequest) -> Response:
    """The 400 ``VALIDATION_ERROR`` answer to ``exc``."""
    return api_error(400, str(exc), "VALIDATION_ERROR")


def session_not_found() -> Response:
    """The 404 answer for a session that does not exist or is another user's."""
    return api_error(404, "Session not found", "NOT_FOUND")


async def json_object(request: Request, *, example: str) -> dict[str, Any]:
    """The request's JSON object body (``{}`` for none when ``example`` is empty)."""
    raw = await request.body()
    if not raw.strip():
        if not example:
            return {}
        raise InvalidRequest(f"The request body is empty; send a JSON object such as {example}.")
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise InvalidRequest(f"The request body is not valid JSON: {exc}.") from None
    if not isinstance(value, dict):
        raise InvalidRequest(f"The request body must be a JSON object, got {type(value).__name__}.")
    return value


def _optional_text(body: dict[str, Any], key: str, limit: int | None = None) -> str:
    value = body.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidRequest(f"'{key}' must be a string.")
    if limit is not None and len(value) > limit:
        raise InvalidRequest(f"'{key}' must be at most {limit} characters.")
    return value


def session_body(session: SessionRecord) -> SessionBody:
    """The JSON of a session, without messages."""
    return {
        "id": session.id,
        "title": session.title,
        "system_prompt": session.system_prompt,
        "created_at": session.created_at,
        "updated_at": session.updated_at,
    }


def message_body(message: StoredMessage, live: Generation | None = None) -> MessageBody:
    """The JSON of a message; a reply in progress shows ``live``'s text so far."""
    content = message.content
    if live is not None and message.status == "streaming":
        content = live.text
    error: ErrorBody | None = None
    if message.error_code:
        error = {"code": message.error_code, "message": message.error_message or ""}
    return {
        "id": message.id,
        "role": message.role,
        "content": content,
        "status": message.status,
        "created_at": message.created_at,
        "finished_at": message.finished_at,
        "error": error,
    }


async def create_session(request: Request) -> Response:
    """``POST /sessions``: create a session for the caller (201)."""
    try:
        body = await json_object(request, example="")
        title = _optional_text(body, "title", _MAX_TITLE)
        system_prompt = _optional_text(body, "system_prompt")
    except InvalidRequest as exc:
        return invalid(exc)
    store = context(request).store
    session = await store.create_session(
        owner=user_of(request), title=title, system_prompt=system_prompt
    )
    return JSONResponse(session_body(session), status_code=201)


async def list_sessions(request: Request) -> Response:
    """``GET /sessions``: the caller's sessions, most recently active first."""
    sessions = await context(request).store.list_sessions(user_of(request))
    return JSONResponse({"sessions": [session_body(s) for s in sessions]})


async def get_session(request: Request) -> Response:
    """``GET /sessions/{id}``: one session with its messages."""
    ctx = context(request)
    session_id = request.path_params["session_id"]
    session = await ctx.store.get_session(session_id, user_of(request))
    if session is None:
        return session_not_found()
    live = ctx.replies.running(session_id)
    messages = await ctx.store.messages(session_id)
    body = session_body(session)
    body["messages"] = [
        message_body(m, live if live is not None and live.reply_id == m.id else None)
        for m in messages
    ]
    return JSONResponse(body)


async def delete_session(request: Request) -> Response:
    """``DELETE /sessions/{id}``: delete it and its messages (204)."""
    ctx = context(request)
    session_id = request.path_params["session_id"]
    user = user_of(request)
    if await ctx.store.get_session(session_id, user) is None:
        return session_not_found()
    ctx.replies.drop_session(session_id)
    if not await ctx.store.delete_session(session_id, user):
        return session_not_found()
    return Response(status_code=204)


def message_of(body: dict[str, Any]) -> str:
    """The body's ``message``: a non-empty string."""
    message = body.get("message")
    if message is None:
        raise InvalidRequest('\'message\' is required: send {"message": "..."}.')
    if not isinstance(message, str):
        raise InvalidRequest("'message' must be a string.")
    if not message:
        raise InvalidRequest("'message' must not be empty.")
    return message


async def _turn(request: Request) -> tuple[ServerContext, SessionRecord, TurnRequest] | Response:
    """The turn a chat request asks for in its session, or the 400 / 404 answer."""
    ctx = context(request)
    try:
        body = await json_object(request, example='{"message": "Hello"}')
        turn = TurnRequest(message_of(body), idempotency_key(request))
    except InvalidRequest as exc:
        return invalid(exc)
    session = await ctx.store.get_session(request.path_params["session_id"], user_of(request))
    if session is None:
        return session_not_found()
    return ctx, session, turn


def idempotency_key(request: Request) -> str | None:
    """The request's ``Idempotency-Key`` header, if any."""
    return request.headers.get("idempotency-key") or None


async def chat(request: Request) -> Response:
    """``POST /sessions/{id}/chat``: save the message, stream the reply (module docstring)."""
    asked = await _turn(request)
    if isinstance(asked, Response):
        return asked
    ctx, session, turn = asked
    resuming = last_event_id(request)
    if resuming:
        # A client re-sending the request after a drop: never a second turn.
        return resume(ctx, session.id, resuming)
    return event_stream(await open_turn(ctx, user_of(request), session, turn, grace=ctx.grace))


async def start_reply(request: Request) -> Response:
    """``POST /sessions/{id}/messages``: save the message and start the reply without
    streaming it (202); follow it with ``GET /sessions/{id}/stream`` (an ``EventSource``).
    Nobody following it within the grace period stops it, as after a disconnect."""
    asked = await _turn(request)
    if isinstance(asked, Response):
        return asked
    ctx, session, turn = asked
    opened = await open_turn(ctx, user_of(request), session, turn, grace=ctx.grace)
    opened.expect_listener(max(ctx.grace, FOLLOW_WINDOW_S), f"POST /sessions/{session.id}/messages")
    stream = f"/sessions/{session.id}/stream"
    return JSONResponse(
        {"message_id": opened.reply_id, "status": opened.state.value, "stream": stream},
        status_code=202,
        headers={"Location": stream},
    )


async def stop_reply(request: Request) -> Response:
    """``POST /sessions/{id}/stop``: stop the reply in progress; return its final state."""
    ctx = context(request)
    session_id = request.path_params["session_id"]
    if await ctx.store.get_session(session_id, user_of(request)) is None:
        return session_not_found()
    generation = ctx.replies.latest(session_id)
    if generation is None:
        return api_error(404, "No reply to stop in this session", "NOT_FOUND")
    generation.stop("STOPPED", "the reply was stopped by a client")
    await generation.wait()
    return JSONResponse(
        {"id": generation.reply_id, "status": generation.state.value, "content": generation.text}
    )
