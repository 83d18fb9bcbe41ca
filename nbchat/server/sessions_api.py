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
``GET /sessions/{id}/stream``               resume with ``Last-Event-ID``
``POST /sessions/{id}/stop``                stop the reply in progress -> 200
                                            ``{id, status, content}`` of the reply
==========================================  ===========================================

A message is ``{id, role, content, status, created_at, finished_at, error}`` with
``status`` one of ``streaming`` / ``done`` / ``stopped`` / ``error`` and ``error``
``null`` or ``{code, message}`` (why it stopped or failed). Every route can also
answer 401 ``AUTHENTICATION_ERROR`` and 413 ``PAYLOAD_TOO_LARGE``
(:mod:`nbchat.server.access`).

``POST /sessions/{id}/chat``, in order: 400 ``VALIDATION_ERROR`` for a body that is
not JSON or has no non-empty string ``message``; 404 ``NOT_FOUND`` (``"Session not
found"``); 500 ``CONFIG_ERROR`` / ``API_KEY_MISSING`` when the model cannot be called
(nothing is saved); a *re-sent* request joins the reply it already started instead of
storing the message again (see :func:`joined`); 409 ``TURN_IN_PROGRESS`` while the
session's previous reply runs;
429 ``RATE_LIMITED`` + ``Retry-After`` at the per-token limit; 503
``SERVER_SHUTDOWN``. Then the user message is saved (500 ``INTERNAL_ERROR`` if that
fails), and an assistant message with status ``streaming``; the model gets the system
prompt, the session's earlier messages (replies with text, partial ones included)
and the new message. If the model fails before replying: 502 ``AI_ERROR`` naming the
cause, and the turn is removed again (nothing was generated; a client that retries
does not duplicate the message); otherwise the stream starts.
The reply is saved when it ends, before its ``complete`` / ``error`` event is sent.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, TypedDict

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from nbchat.server.context import context, user_of
from nbchat.server.error_responses import api_error
from nbchat.server.generation import FinishHook, Generation, ReplyState
from nbchat.server.model import ModelSetupError
from nbchat.server.replies import ReplyInProgress, ServerClosing, TooManyReplies
from nbchat.server.session_store import (
    MessageState,
    SessionRecord,
    SessionStore,
    StoredMessage,
    StoreError,
)
from nbchat.server.session_stream import event_stream, last_event_id, resume
from nbchat.wire import ChatMessageParam

__all__ = [
    "MessageBody",
    "SessionBody",
    "chat",
    "create_session",
    "delete_session",
    "get_session",
    "list_sessions",
    "stop_reply",
]

logger = logging.getLogger("nbchat.server")

_MAX_TITLE = 200
_STATUS: dict[ReplyState, MessageState] = {
    ReplyState.DONE: "done",
    ReplyState.STOPPED: "stopped",
    ReplyState.ERROR: "error",
}


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


class _Invalid(Exception):
    """A request body the API rejects with 400 VALIDATION_ERROR."""


def _invalid(exc: _Invalid) -> Response:
    return api_error(400, str(exc), "VALIDATION_ERROR")


def _not_found() -> Response:
    return api_error(404, "Session not found", "NOT_FOUND")


async def _json_object(request: Request, *, example: str) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        if not example:
            return {}
        raise _Invalid(f"The request body is empty; send a JSON object such as {example}.")
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise _Invalid(f"The request body is not valid JSON: {exc}.") from None
    if not isinstance(value, dict):
        raise _Invalid(f"The request body must be a JSON object, got {type(value).__name__}.")
    return value


def _optional_text(body: dict[str, Any], key: str, limit: int | None = None) -> str:
    value = body.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _Invalid(f"'{key}' must be a string.")
    if limit is not None and len(value) > limit:
        raise _Invalid(f"'{key}' must be at most {limit} characters.")
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
        body = await _json_object(request, example="")
        title = _optional_text(body, "title", _MAX_TITLE)
        system_prompt = _optional_text(body, "system_prompt")
    except _Invalid as exc:
        return _invalid(exc)
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
        return _not_found()
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
        return _not_found()
    ctx.replies.drop_session(session_id)
    if not await ctx.store.delete_session(session_id, user):
        return _not_found()
    return Response(status_code=204)


def conversation(
    session: SessionRecord, history: list[StoredMessage], message: str
) -> list[ChatMessageParam]:
    """What the model is asked: system prompt, earlier messages with text, the new one."""
    out: list[ChatMessageParam] = []
    if session.system_prompt:
        out.append({"role": "system", "content": session.system_prompt})
    for stored in history:
        # A reply the user saw counts, partial or not; an empty failed one does not.
        if stored.role in ("user", "assistant") and stored.content and stored.status != "streaming":
            out.append({"role": stored.role, "content": stored.content})
    out.append({"role": "user", "content": message})
    return out


def _saver(store: SessionStore) -> FinishHook:
    async def save(reply: Generation) -> None:
        if reply.setup_error is not None:
            return  # the route removes the turn: the model never started
        error = reply.error
        await store.finish_message(
            reply.reply_id,
            content=reply.text,
            status=_STATUS.get(reply.state, "error"),
            error_code=error.code if error is not None else None,
            error_message=error.message if error is not None else None,
        )

    return save


async def chat(request: Request) -> Response:
    """``POST /sessions/{id}/chat``: save the message, stream the reply (module docstring)."""
    ctx = context(request)
    user = user_of(request)
    session_id = request.path_params["session_id"]
    try:
        body = await _json_object(request, example='{"message": "Hello"}')
        message = body.get("message")
        if message is None:
            raise _Invalid('\'message\' is required: send {"message": "..."}.')
        if not isinstance(message, str):
            raise _Invalid("'message' must be a string.")
        if not message:
            raise _Invalid("'message' must not be empty.")
    except _Invalid as exc:
        return _invalid(exc)
    store = ctx.store
    session = await store.get_session(session_id, user)
    if session is None:
        return _not_found()
    resuming = last_event_id(request)
    if resuming:
        # A client re-sending the request after a drop: never a second turn.
        return resume(ctx, session_id, resuming)
    key = request.headers.get("idempotency-key") or None
    again = joined(ctx.replies.latest(session_id), message, key)
    if again is not None:
        return event_stream(again, 0)
    try:
        ctx.model.check()
        ticket = ctx.replies.reserve(user, session_id)
    except ModelSetupError as exc:
        return api_error(exc.status, exc.message, exc.code)
    except ReplyInProgress as exc:
        return api_error(409, exc.message, exc.code)
    except TooManyReplies as exc:
        return api_error(429, exc.message, exc.code, headers={"Retry-After": str(exc.retry_after)})
    except ServerClosing as exc:
        return api_error(503, exc.message, exc.code)
    try:
        history = await store.messages(session_id)
        user_message = await store.add_message(
            session_id, role="user", content=message, status="done"
        )
        reply = await store.add_message(
            session_id, role="assistant", content="", status="streaming"
        )
    except StoreError as exc:
        ticket.release()
        logger.error("session %s: cannot save the message: %s", session_id, exc)
        return api_error(500, "Failed to save message", "INTERNAL_ERROR")
    except BaseException:
        ticket.release()
        raise
    generation = Generation(
        ctx.model,
        conversation(session, history, message),
        reply_id=reply.id,
        owner=user,
        session_id=session_id,
        grace=ctx.grace,
        on_finish=_saver(store),
        request=(message, key),
    )
    ctx.replies.start(generation, ticket)
    await generation.wait_open()
    if generation.setup_error is not None:
        # The model never started: the turn leaves no trace, so retrying it (clients
        # retry a 502) does not duplicate the user message.
        error = generation.setup_error
        await store.delete_messages([reply.id, user_message.id])
        return api_error(error.status, error.message, error.code)
    return event_stream(generation)


#: seconds after a chat request in which the same message again is taken for a re-send,
#: also when its reply has ended (a client retrying after a quick reply)
REPOST_WINDOW_S = 3.0


def joined(latest: Generation | None, message: str, key: str | None) -> Generation | None:
    """The reply a chat request re-sends, which it joins instead of starting a turn.

    A request is a re-send of the session's latest reply when it carries the same
    ``Idempotency-Key`` header (while the reply runs or is kept for resuming), or,
    without one, the same message while that reply still runs or within
    :data:`REPOST_WINDOW_S` seconds of it: a client's automatic retry
    (``fetch-event-source`` re-POSTs when it dislikes a response). The same message
    sent again after that is a new turn.
    """
    if latest is None or latest.request is None or latest.setup_error is not None:
        return None  # (a reply that never started left no turn to join: start one)
    first_message, first_key = latest.request
    if key is not None or first_key is not None:
        return latest if key == first_key else None
    recent = time.monotonic() - latest.created_at < REPOST_WINDOW_S
    return latest if message == first_message and (recent or not latest.ended) else None


async def stop_reply(request: Request) -> Response:
    """``POST /sessions/{id}/stop``: stop the reply in progress; return its final state."""
    ctx = context(request)
    session_id = request.path_params["session_id"]
    if await ctx.store.get_session(session_id, user_of(request)) is None:
        return _not_found()
    generation = ctx.replies.latest(session_id)
    if generation is None:
        return api_error(404, "No reply to stop in this session", "NOT_FOUND")
    generation.stop("STOPPED", "the reply was stopped by a client")
    await generation.wait()
    return JSONResponse(
        {"id": generation.reply_id, "status": generation.state.value, "content": generation.text}
    )
