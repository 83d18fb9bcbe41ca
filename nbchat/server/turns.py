"""A turn in a session: save the user's message, start the reply, join a re-sent one.

Every route that chats in a stored session (``POST /sessions/{id}/chat``, ``POST
/sessions/{id}/messages``, spec 000's ``POST /functions/v1/openrouter-chat``) starts its
turn here, so they share one rule for re-sent requests, one order of checks and one
way of saving. :func:`open_turn`, in order: a *re-sent* request joins the reply it
already started (:func:`joined`); 500 ``CONFIG_ERROR`` / ``API_KEY_MISSING`` when the
model cannot be called (nothing is saved); 409 ``TURN_IN_PROGRESS`` while the session's
previous reply runs and a client follows it (one nobody follows, its client gone, is
stopped and saved, and the new message goes on); 429 ``RATE_LIMITED`` +
``Retry-After`` at the per-token limit; 503 ``SERVER_SHUTDOWN``. Then the user message
is saved (500 ``INTERNAL_ERROR`` if that fails), and an assistant message with status
``streaming``; the model gets the system prompt, the session's earlier messages
(replies with text, partial ones included) and the new message. If the model fails
before replying: 502 ``AI_ERROR`` naming the cause, and the turn is removed again
(nothing was generated; a client that retries does not duplicate the message). The
reply is saved when it ends, before its terminal event.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from nbchat.server.context import ServerContext
from nbchat.server.error_responses import ApiError
from nbchat.server.generation import FinishHook, Generation, ReplyState
from nbchat.server.model import ModelSetupError
from nbchat.server.replies import ReplyInProgress, ServerClosing, Ticket, TooManyReplies
from nbchat.server.session_store import (
    MessageState,
    SessionRecord,
    SessionStore,
    StoredMessage,
    StoreError,
)
from nbchat.wire import ChatMessageParam

__all__ = ["REPOST_WINDOW_S", "TurnRequest", "conversation", "joined", "open_turn"]

logger = logging.getLogger("nbchat.server")

#: seconds after a chat request in which the same message again is taken for a re-send,
#: also when its reply has ended (a client retrying after a quick reply)
REPOST_WINDOW_S = 3.0

_STATUS: dict[ReplyState, MessageState] = {
    ReplyState.DONE: "done",
    ReplyState.STOPPED: "stopped",
    ReplyState.ERROR: "error",
}


@dataclass(frozen=True)
class TurnRequest:
    """What a client asked for in one turn."""

    #: the user's message, as saved
    message: str
    #: the ``Idempotency-Key`` header, if any
    key: str | None = None
    #: context for this turn only (added to the system prompt, never saved)
    note: str = ""


def conversation(
    session: SessionRecord, history: list[StoredMessage], message: str, note: str = ""
) -> list[ChatMessageParam]:
    """What the model is asked: system prompt (and ``note``), earlier messages with
    text, the new one."""
    out: list[ChatMessageParam] = []
    system = "\n\n".join(part for part in (session.system_prompt, note) if part)
    if system:
        out.append({"role": "system", "content": system})
    for stored in history:
        # A reply the user saw counts, partial or not; an empty failed one does not.
        if stored.role in ("user", "assistant") and stored.content and stored.status != "streaming":
            out.append({"role": stored.role, "content": stored.content})
    out.append({"role": "user", "content": message})
    return out


def joined(latest: Generation | None, message: str, key: str | None) -> Generation | None:
    """The reply a chat request re-sends, which it joins instead of starting a turn.

    A request is a re-send of the session's latest reply when it carries the same
    ``Idempotency-Key`` header (while the reply runs or is kept for resuming), or,
    without one, the same message while that reply still runs or within
    :data:`REPOST_WINDOW_S` seconds of it: a client's automatic retry
    (``fetch-event-source`` re-POSTs when it dislikes a response). The same message
    sent again after that is a new turn, and so is one after a stopped reply.
    """
    if latest is None or latest.request is None or latest.setup_error is not None:
        return None  # (a reply that never started left no turn to join: start one)
    first_message, first_key = latest.request
    if key is not None or first_key is not None:
        return latest if key == first_key else None
    if latest.state is ReplyState.STOPPED:
        return None  # stopped on purpose (or gone): the same words again are a new turn
    recent = time.monotonic() - latest.created_at < REPOST_WINDOW_S
    return latest if message == first_message and (recent or not latest.ended) else None


async def _reserve(ctx: ServerContext, user: str, session_id: str) -> Ticket:
    """The slot for a new reply in the session. A reply still running there that nobody
    follows (its client left: a reload, a Stop that only closed the connection) gives
    way to the new message: it is stopped, and saved as far as it got."""
    try:
        return ctx.replies.reserve(user, session_id)
    except ReplyInProgress:
        running = ctx.replies.running(session_id)
        if running is None or running.followed:
            raise
    running.stop("STOPPED", "a new message was sent while no client followed this reply")
    await running.wait()
    return ctx.replies.reserve(user, session_id)


def _saver(store: SessionStore) -> FinishHook:
    async def save(reply: Generation) -> None:
        if reply.setup_error is not None:
            return  # the turn is removed: the model never started
        error = reply.error
        await store.finish_message(
            reply.reply_id,
            content=reply.text,
            status=_STATUS.get(reply.state, "error"),
            error_code=error.code if error is not None else None,
            error_message=error.message if error is not None else None,
        )

    return save


async def open_turn(
    ctx: ServerContext,
    user: str,
    session: SessionRecord,
    turn: TurnRequest,
    *,
    grace: float,
) -> Generation:
    """The running reply to ``turn`` in ``session`` (a new one, or the one a re-sent
    request joins); :class:`~nbchat.server.error_responses.ApiError` when there is none
    (module docstring)."""
    # One turn starts at a time in a session: a re-send that arrives while the first
    # request is still saving or opening finds its reply started, and joins it.
    async with ctx.locked(f"turn:{session.id}"):
        return await _start(ctx, user, session, turn, grace)


async def _start(
    ctx: ServerContext, user: str, session: SessionRecord, turn: TurnRequest, grace: float
) -> Generation:
    again = joined(ctx.replies.latest(session.id), turn.message, turn.key)
    if again is not None:
        return again
    try:
        ctx.model.check()
        ticket = await _reserve(ctx, user, session.id)
    except ModelSetupError as exc:
        raise ApiError(exc.status, exc.message, exc.code) from exc
    except ReplyInProgress as exc:
        raise ApiError(409, exc.message, exc.code) from exc
    except TooManyReplies as exc:
        retry = {"Retry-After": str(exc.retry_after)}
        raise ApiError(429, exc.message, exc.code, headers=retry) from exc
    except ServerClosing as exc:
        raise ApiError(503, exc.message, exc.code) from exc
    store = ctx.store
    try:
        history = await store.messages(session.id)
        user_message = await store.add_message(
            session.id, role="user", content=turn.message, status="done"
        )
        reply = await store.add_message(
            session.id, role="assistant", content="", status="streaming"
        )
    except StoreError as exc:
        ticket.release()
        logger.error("session %s: cannot save the message: %s", session.id, exc)
        raise ApiError(500, "Failed to save message", "INTERNAL_ERROR") from exc
    except BaseException:
        ticket.release()
        raise
    generation = Generation(
        ctx.model,
        conversation(session, history, turn.message, turn.note),
        reply_id=reply.id,
        owner=user,
        session_id=session.id,
        grace=grace,
        on_finish=_saver(store),
        request=(turn.message, turn.key),
    )
    ctx.replies.start(generation, ticket)
    await generation.wait_open()
    if generation.setup_error is not None:
        # The model never started: the turn leaves no trace, so retrying it (clients
        # retry a 502) does not duplicate the user message.
        error = generation.setup_error
        try:
            await store.delete_messages([reply.id, user_message.id])
        except StoreError as exc:  # the cause the client needs is still the model's
            logger.error("session %s: cannot remove the failed turn: %s", session.id, exc)
        raise ApiError(error.status, error.message, error.code)
    return generation
