"""Every reply the server is generating or recently finished, and the limits on them.

* **Slots.** A reply holds a slot of its owner (the user behind the token) from the
  moment it is reserved until it ends, grace period included; at most
  ``max_concurrent`` per owner (``None``: no limit). One more is refused with
  :class:`TooManyReplies` (HTTP 429 with ``Retry-After``).
* **One at a time per session.** A session with a reply in progress refuses another
  turn (:class:`ReplyInProgress`, HTTP 409) until it ends or is stopped.
* **Retention.** A finished sessions reply stays readable for ``retention`` seconds,
  so a client that reconnects just after the end still gets the rest of it (a
  ``/v1`` reply, which cannot be resumed, is dropped when it ends).
* **Shutdown.** :meth:`Replies.shutdown` refuses new replies, stops running ones
  (``SERVER_SHUTDOWN``: they are saved as ``stopped`` and their streams end with an
  ``error`` event) and waits for them to be saved.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from nbchat.errors import NbchatError
from nbchat.server.generation import Generation

__all__ = ["Replies", "ReplyInProgress", "ServerClosing", "Ticket", "TooManyReplies"]

#: seconds a finished reply stays available to resuming clients, by default
DEFAULT_RETENTION_S = 60.0
#: Retry-After of a 429: a reply slot usually frees within a few seconds
RETRY_AFTER_S = 2


class TooManyReplies(NbchatError):
    """The owner already has ``max_concurrent`` replies in progress."""

    code = "RATE_LIMITED"

    def __init__(self, message: str, *, retry_after: int = RETRY_AFTER_S) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ReplyInProgress(NbchatError):
    """The session is already generating a reply."""

    code = "TURN_IN_PROGRESS"


class ServerClosing(NbchatError):
    """The server is shutting down and starts no new reply."""

    code = "SERVER_SHUTDOWN"


@dataclass
class Ticket:
    """A reserved slot (and session), released unless a reply is started with it."""

    owner: str
    session_id: str | None
    _replies: Replies = field(repr=False)
    _open: bool = True

    def release(self) -> None:
        """Give the slot back (idempotent; a no-op once a reply used it)."""
        if self._open:
            self._open = False
            self._replies._release(self.owner, self.session_id)


class Replies:
    """The registry of replies; see the module docstring.

    Parameters
    ----------
    max_concurrent
        Replies in progress allowed per owner; ``None`` for no limit.
    retention
        Seconds a finished reply can still be resumed.
    """

    def __init__(
        self, *, max_concurrent: int | None = None, retention: float = DEFAULT_RETENTION_S
    ) -> None:
        self.max_concurrent = max_concurrent
        self.retention = retention
        self.closing = False
        self._slots: dict[str, int] = {}
        self._busy_sessions: set[str] = set()
        self._by_id: dict[str, Generation] = {}
        self._latest: dict[str, str] = {}
        self._running: set[Generation] = set()
        self._timers: dict[str, asyncio.TimerHandle] = {}

    # -- reserving and starting -----------------------------------------------------

    def reserve(self, owner: str, session_id: str | None = None) -> Ticket:
        """Reserve a slot for ``owner`` (and the session), or raise.

        Raises
        ------
        ServerClosing, ReplyInProgress, TooManyReplies
            In that order of precedence.
        """
        if self.closing:
            raise ServerClosing("The server is shutting down; try again in a moment.")
        if session_id is not None and session_id in self._busy_sessions:
            raise ReplyInProgress(
                "A reply is already being generated in this session: wait for it, "
                "resume it with GET /sessions/{id}/stream, or stop it with "
                "POST /sessions/{id}/stop."
            )
        used = self._slots.get(owner, 0)
        if self.max_concurrent is not None and used >= self.max_concurrent:
            raise TooManyReplies(
                f"Too many replies in progress for this token (limit {self.max_concurrent}); "
                "retry when one has finished."
            )
        self._slots[owner] = used + 1
        if session_id is not None:
            self._busy_sessions.add(session_id)
        return Ticket(owner, session_id, self)

    def _release(self, owner: str, session_id: str | None) -> None:
        left = self._slots.get(owner, 0) - 1
        if left > 0:
            self._slots[owner] = left
        else:
            self._slots.pop(owner, None)
        if session_id is not None:
            self._busy_sessions.discard(session_id)

    def start(self, generation: Generation, ticket: Ticket) -> None:
        """Register ``generation`` under ``ticket`` and start it.

        The ticket's slot is released when the reply ends (before its terminal event
        is sent, so a client can send its next turn as soon as it sees the end).
        """
        if not ticket._open:
            raise RuntimeError("a ticket starts one reply at most")
        ticket._open = False
        previous_hook = generation.on_finish

        async def on_finish(reply: Generation) -> None:
            try:
                if previous_hook is not None:
                    await previous_hook(reply)
            finally:
                self._ended(reply, ticket)

        generation.on_finish = on_finish
        self._by_id[generation.reply_id] = generation
        if generation.session_id is not None:
            self._latest[generation.session_id] = generation.reply_id
        self._running.add(generation)
        generation.start()

    def _ended(self, generation: Generation, ticket: Ticket) -> None:
        self._running.discard(generation)
        self._release(ticket.owner, ticket.session_id)
        reply_id = generation.reply_id
        if generation.session_id is None:
            # Not resumable (/v1): nothing to keep once its own response has it.
            self._by_id.pop(reply_id, None)
            return
        loop = asyncio.get_running_loop()
        self._timers[reply_id] = loop.call_later(self.retention, self._forget, reply_id)

    def _forget(self, reply_id: str) -> None:
        self._timers.pop(reply_id, None)
        generation = self._by_id.pop(reply_id, None)
        session_id = None if generation is None else generation.session_id
        if session_id is not None and self._latest.get(session_id) == reply_id:
            del self._latest[session_id]

    # -- looking up -----------------------------------------------------------------

    def get(self, reply_id: str) -> Generation | None:
        """The reply with this id, running or retained."""
        return self._by_id.get(reply_id)

    def latest(self, session_id: str) -> Generation | None:
        """The session's latest reply, running or retained."""
        reply_id = self._latest.get(session_id)
        return None if reply_id is None else self._by_id.get(reply_id)

    def running(self, session_id: str) -> Generation | None:
        """The session's reply in progress, if any."""
        generation = self.latest(session_id)
        return generation if generation is not None and not generation.ended else None

    @property
    def active(self) -> int:
        """Replies in progress (all owners)."""
        return len(self._running)

    def drop_session(self, session_id: str) -> None:
        """Stop the session's reply (the session was deleted) and forget its replies."""
        generation = self.running(session_id)
        if generation is not None:
            generation.stop("STOPPED", "the session was deleted")
        for reply_id, reply in list(self._by_id.items()):
            if reply.session_id == session_id and reply.ended:
                timer = self._timers.pop(reply_id, None)
                if timer is not None:
                    timer.cancel()
                self._forget(reply_id)

    # -- shutdown -------------------------------------------------------------------

    async def shutdown(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109 (a grace period)
        """Refuse new replies, stop running ones and wait (up to ``timeout``) for their saves."""
        self.closing = True
        running = list(self._running)
        for generation in running:
            generation.stop("SERVER_SHUTDOWN", "the server is shutting down")
        if running:
            waits = [asyncio.ensure_future(g.wait()) for g in running]
            _, pending = await asyncio.wait(waits, timeout=timeout)
            for future in pending:
                future.cancel()

    def reopen(self) -> None:
        """Accept replies again (a server restarted with the same app)."""
        self.closing = False
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._by_id.clear()
        self._latest.clear()
