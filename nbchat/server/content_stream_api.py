"""``POST /functions/v1/openrouter-chat``: spec 000's chat route, for the
``useStreamingChat`` hook (``@microsoft/fetch-event-source``) as that spec writes it.

That hook ``JSON.parse``\\ s every message, appends ``data.content`` and shows
``data.error``; it stops a reply by aborting its request. So this route streams each
piece of text once, as ``{"content"}``, and never repeats the whole reply the way spec
001's ``complete`` event does::

    retry: 2000                                    <- with the first event (ms)
    id: 3f2a...c1:1
    data: {"content":"Hel"}

    id: 3f2a...c1:57
    data: {"done":true,"message_id":"3f2a...c1","session_id":"9b1e...",
           "finish_reason":"stop","usage":{"input_tokens":12,"output_tokens":56}}

or, last, ``data: {"error":"<what went wrong>","code":"<CODE>"}``. Errors before the
stream travel the same way (status 200, one ``{"error", "code", "status"}`` event; see
:mod:`nbchat.server.error_responses`): the hook retries any other answer forever.

Request: ``{"message": str, "patterns_data"?: any, "session_id"?: str}`` (the session
may also come as an ``X-Session-Id`` header). ``patterns_data`` is context for this
turn: the model sees it with the system prompt; it is not saved. Without a session the
turn goes to the caller's own chat for this route (a session titled
:data:`DEFAULT_TITLE`, made on first use); the answer's ``X-Session-Id`` header names
the session, and ``GET /sessions/{id}`` shows its saved messages.

The turn is a stored session's turn (:mod:`nbchat.server.turns`): the user message is
saved once, a re-sent request joins the running reply (same ``Idempotency-Key``, or
the same message within a few seconds), and a re-send with ``Last-Event-ID`` (the
library sends one when it reconnects: after an error, and when the page is shown again,
since it closes the request while the page is hidden) resumes after that event. So a
disconnect leaves the reply running for the server's grace period (``--grace``, 30 s):
a hidden tab comes back to the whole reply. The hook's Stop (an abort) is a disconnect
too: after the grace period the reply is stopped and the text generated so far saved,
status ``stopped``.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from nbchat.events import Finished, StreamError, StreamEvent, TextDelta
from nbchat.server.context import ServerContext, context, user_of
from nbchat.server.error_responses import CONTENT_STREAM_PATH, ApiError, stream_error
from nbchat.server.generation import Generation
from nbchat.server.session_store import SessionRecord
from nbchat.server.session_stream import event_stream, last_event_id, resume, usage_body
from nbchat.server.sessions_api import (
    InvalidRequest,
    idempotency_key,
    json_object,
    message_of,
)
from nbchat.server.sse_body import event_json
from nbchat.server.turns import TurnRequest, open_turn

__all__ = ["DEFAULT_TITLE", "PATH", "content_chat", "render_content"]

#: the route, as spec 000's hook calls it
PATH = CONTENT_STREAM_PATH
#: the title of the session a caller's turns go to when the request names none
DEFAULT_TITLE = f"Chat at {PATH}"
#: the most of ``patterns_data`` the model is shown, in characters of JSON
MAX_CONTEXT_CHARS = 20_000


def render_content(generation: Generation, number: int, event: StreamEvent) -> str:
    """The SSE text of one event in this route's shape (``""`` for events not shown)."""
    payload: dict[str, Any]
    if isinstance(event, TextDelta):
        payload = {"content": event.text}
    elif isinstance(event, Finished):
        payload = {
            "done": True,
            "message_id": generation.reply_id,
            "session_id": generation.session_id,
            "finish_reason": event.reason,
        }
        if generation.usage is not None:
            payload["usage"] = usage_body(generation.usage)
    elif isinstance(event, StreamError):
        payload = {"error": event.message, "code": event.code}
    else:
        return ""
    return f"id: {generation.event_id(number)}\ndata: {event_json(payload)}\n\n"


async def content_chat(request: Request) -> Response:
    """Handle ``POST /functions/v1/openrouter-chat`` (see the module docstring)."""
    ctx = context(request)
    user = user_of(request)
    try:
        body = await json_object(request, example='{"message": "Hello"}')
        turn = TurnRequest(message_of(body), idempotency_key(request), _context_note(body))
        named = _session_named(request, body)
    except InvalidRequest as exc:
        return stream_error(400, str(exc), "VALIDATION_ERROR")
    session = await _session(ctx, user, named)
    if session is None:
        return stream_error(404, "Session not found", "NOT_FOUND")
    resuming = last_event_id(request)
    try:
        if resuming:
            answer = resume(ctx, session.id, resuming, render_content)
        else:
            opened = await open_turn(ctx, user, session, turn, grace=ctx.grace)
            answer = event_stream(opened, 0, render_content)
    except ApiError as exc:
        answer = exc.response(PATH)  # an error event (error_responses)
    if answer.status_code == 204:
        # Nothing left to resume: a stream that ends at once (the hook retries a 204).
        answer = Response(b"", headers={"Content-Type": "text/event-stream"})
    answer.headers["X-Session-Id"] = session.id
    return answer


def _session_named(request: Request, body: dict[str, Any]) -> str | None:
    named = body.get("session_id")
    if named is not None and (not isinstance(named, str) or not named):
        raise InvalidRequest("'session_id' must be a non-empty string.")
    return named or request.headers.get("x-session-id") or None


async def _session(ctx: ServerContext, user: str, named: str | None) -> SessionRecord | None:
    if named is not None:
        return await ctx.store.get_session(named, user)
    async with ctx.locked(f"default-session:{user}"):  # two first requests make one session
        for session in await ctx.store.list_sessions(user):  # newest first
            if session.title == DEFAULT_TITLE:
                return session
        return await ctx.store.create_session(owner=user, title=DEFAULT_TITLE, system_prompt="")


def _context_note(body: dict[str, Any]) -> str:
    data = body.get("patterns_data")
    if data is None:
        return ""
    text = json.dumps(data, ensure_ascii=False, indent=None)
    if len(text) > MAX_CONTEXT_CHARS:
        raise InvalidRequest(
            f"'patterns_data' is {len(text)} characters of JSON; at most "
            f"{MAX_CONTEXT_CHARS} are shown to the model."
        )
    return f"Context from the app (patterns_data, JSON):\n{text}"
