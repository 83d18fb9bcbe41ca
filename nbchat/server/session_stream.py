"""The sessions API's event stream: spec-001 events with ids, and resuming it.

A reply streams as server-sent events (``\\n`` line ends, UTF-8)::

    retry: 2000                                  <- once, with the first event (ms)
    id: 3f2a...c1:1
    event: chunk
    data: {"type":"chunk","content":"Hello"}

    id: 3f2a...c1:57
    event: complete
    data: {"type":"complete","content":"<the whole reply>","message_id":"3f2a...c1",
           "finish_reason":"stop","usage":{"input_tokens":12,"output_tokens":56}}

or ends with ``event: error``, ``data: {"type":"error","error":{"message","code"}}``
(``AI_ERROR``: the model failed mid-reply; ``STOPPED``: stopped by a client;
``CLIENT_GONE``: nobody followed the reply during the grace period;
``SERVER_SHUTDOWN``; ``STREAM_ERROR``: a server bug). Exactly one ``complete`` or
``error`` ends every stream. A comment line (``: ping``, no blank line after it: never an
event, even to clients that dispatch on every blank line) keeps an idle connection open.
The content type is ``text/event-stream`` exactly (see :mod:`nbchat.server.sse_body`).

Event ids are ``{message_id}:{n}``: the assistant message's id and the event's
number in that reply (increasing, not necessarily consecutive: events without a
rendering here, such as usage, take numbers too). ``GET /sessions/{id}/stream``
with ``Last-Event-ID: {message_id}:{n}`` (or ``?last_event_id=``) replays every
event after ``n``, then the live ones, so the text arrives exactly once; without
one it streams the session's latest reply from its start. The same
``POST /sessions/{id}/chat`` re-sent with a ``Last-Event-ID`` header resumes too
(that is how generic SSE clients reconnect): it never starts a second turn, so a
dropped connection never re-buys a reply. A reply can be resumed
while it runs and for a while (the retention, 60 s) after it ended; a stream that
would be empty because the client already has the end answers ``204`` (which tells
a browser ``EventSource`` to stop reconnecting).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from nbchat.events import Finished, StreamError, StreamEvent, TextDelta, Usage
from nbchat.server.context import ServerContext, context, user_of
from nbchat.server.error_responses import ApiError
from nbchat.server.generation import Generation
from nbchat.server.sse_body import event_json, follow_sse, sse_response

__all__ = [
    "RETRY_MS",
    "Renderer",
    "event_stream",
    "last_event_id",
    "render",
    "resume",
    "resume_stream",
]

#: the reconnection delay announced to clients, in milliseconds
RETRY_MS = 2000
#: seconds between keep-alive comments on an idle stream
PING_S = 15


def _encode(event_id: str, name: str, payload: dict[str, Any]) -> str:
    return f"id: {event_id}\nevent: {name}\ndata: {event_json(payload)}\n\n"


def usage_body(usage: Usage) -> dict[str, int | None]:
    """A reply's token usage as the session streams report it."""
    return {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens}


def render(generation: Generation, number: int, event: StreamEvent) -> str:
    """The SSE text of one buffered event (``""`` for events not shown here)."""
    event_id = generation.event_id(number)
    if isinstance(event, TextDelta):
        return _encode(event_id, "chunk", {"type": "chunk", "content": event.text})
    if isinstance(event, Finished):
        complete: dict[str, Any] = {
            "type": "complete",
            "content": generation.text,
            "message_id": generation.reply_id,
            "finish_reason": event.reason,
        }
        if generation.usage is not None:
            complete["usage"] = usage_body(generation.usage)
        return _encode(event_id, "complete", complete)
    if isinstance(event, StreamError):
        error = {"message": event.message, "code": event.code}
        return _encode(event_id, "error", {"type": "error", "error": error})
    return ""


#: how a route writes one event: ``(generation, number, event) -> SSE text``
Renderer = Callable[[Generation, int, StreamEvent], str]


def event_stream(generation: Generation, after: int = 0, rendered: Renderer = render) -> Response:
    """The SSE response that follows ``generation`` from event ``after`` on, each event
    written by ``rendered`` (spec 001's events unless told)."""
    if generation.ended and after >= len(generation.events):
        return Response(status_code=204)
    body = follow_sse(
        generation,
        partial(rendered, generation),
        prefix=f"retry: {RETRY_MS}\n",  # with the first event: never a block of its own
        after=after,
        keepalive=PING_S,
    )
    return sse_response(body)


def _not_found(message: str) -> ApiError:
    return ApiError(404, message, "NOT_FOUND")


def resume(
    ctx: ServerContext, session_id: str, last_event_id: str | None, rendered: Renderer = render
) -> Response:
    """The stream of the session's reply after ``last_event_id`` (the session exists).

    Without an id: the session's latest reply from its start. Raises
    :class:`~nbchat.server.error_responses.ApiError`: 404 ``NOT_FOUND`` for no reply to
    resume, 400 ``VALIDATION_ERROR`` for a malformed id.
    """
    if not last_event_id:
        generation = ctx.replies.latest(session_id)
        if generation is None:
            raise _not_found("No reply to resume in this session")
        return event_stream(generation, 0, rendered)
    reply_id, _, number = last_event_id.strip().rpartition(":")
    if not reply_id or not number.isascii() or not number.isdigit():
        raise ApiError(
            400,
            f"Last-Event-ID must look like '<message_id>:<n>', got {last_event_id[:80]!r}",
            "VALIDATION_ERROR",
        )
    generation = ctx.replies.get(reply_id)
    if generation is None or generation.session_id != session_id:
        raise _not_found(
            "No reply to resume with that Last-Event-ID: it ended too long ago or never existed"
        )
    after = int(number)
    if after > len(generation.events):
        raise _not_found("That Last-Event-ID is ahead of the reply")
    return event_stream(generation, after, rendered)


def last_event_id(request: Request) -> str | None:
    """The ``Last-Event-ID`` header, or the ``last_event_id`` query parameter."""
    return request.headers.get("last-event-id") or request.query_params.get("last_event_id")


async def resume_stream(request: Request) -> Response:
    """Handle ``GET /sessions/{id}/stream``: replay a reply after ``Last-Event-ID``.

    Answers the event stream, ``204`` if the client already has the whole reply, or a
    JSON error: 404 ``NOT_FOUND`` (unknown session, or no reply to resume), 400
    ``VALIDATION_ERROR`` (a malformed ``Last-Event-ID``).
    """
    ctx = context(request)
    session_id = request.path_params["session_id"]
    session = await ctx.store.get_session(session_id, user_of(request))
    if session is None:
        raise _not_found("Session not found")
    return resume(ctx, session_id, last_event_id(request))
