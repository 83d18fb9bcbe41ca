"""A turn: one request and its streamed reply, from start to saved end, in one object.

``chat.send`` returns a :class:`Turn` at once; ``await turn`` gives the final
assistant :class:`~nbchat.message.Message` and never raises for a stopped or failed
reply (its ``status`` and ``error`` say what happened). ``turn.cancel()`` is Stop: it
works from any phase and from any thread; the partial text is kept.

Lifecycle (the same shape as the server's ``Generation`` and Textual's ``Worker``)::

    start(loop) ─> task; phase CONNECTING
        prepare: the host opens what the request needs (a server session), builds the
                 ReplyStream
        stream:  each event goes into the message's ledger (``message.reply``); text
                 and reasoning are emitted as TextAppended, tool calls and progress
                 as MessagesChanged; first visible output ─> phase STREAMING;
                 a notice (retry / resume wait) ─> phase RECONNECTING
    finalize, exactly once, whatever happened (done, Stop, a failure, a bug, even a
    task cancelled before its first step): status, error and metrics set, the
    message saved through the host, MessagesChanged, phase = status, host told.

Whose cancellation is whose (one rule): a cancellation belongs to whoever asked for
it and is absorbed there. The stall watchdog's is absorbed by its
:func:`asyncio.timeout` in the HTTP transport and becomes a ``STALLED`` failure;
Stop's is absorbed here (the task then ends normally with the ``stopped`` message).
Any other cancellation (the loop shutting down, an interrupted cell that awaited
the turn) finalizes the reply as stopped and propagates.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Generator
from typing import Any, Protocol

from nbchat.changes import (
    Change,
    MessagesChanged,
    NoticeChanged,
    Phase,
    PhaseChanged,
    TextAppended,
)
from nbchat.errors import ConfigurationError, HistoryError, NbchatError
from nbchat.events import (
    Progress,
    ReasoningDelta,
    StreamError,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
)
from nbchat.message import Message
from nbchat.metrics import Clock, ReplyTimer, ToolTimer
from nbchat.reply_stream import ReplyStream
from nbchat.wire import MessageStatus

log = logging.getLogger("nbchat")


class TurnHost(Protocol):
    """What a turn needs from the conversation it belongs to (the controller)."""

    def emit(self, change: Change) -> None:
        """Tell every listener about ``change``."""

    def save(self, message: Message) -> None:
        """Persist ``message`` (raises HistoryError when it cannot)."""

    async def prepare(self, turn: Turn) -> ReplyStream:
        """Whatever must happen before the request (e.g. open a server session)."""

    def ended(self, turn: Turn) -> None:
        """Called once the turn is finalized."""


class Turn:
    """Handle on a running or finished turn; see the module docstring."""

    def __init__(
        self, host: TurnHost, user: Message, reply: Message, clock: Clock = time.monotonic
    ) -> None:
        self.user_message = user
        self.message = reply
        self.phase = Phase.IDLE
        #: a transient line about this turn ("rate limited: retrying in 2 s"), or ""
        self.notice = ""
        #: the reply's network side, once prepared
        self.stream: ReplyStream | None = None
        self.stop_requested = False
        self._host = host
        self._timer = ReplyTimer(clock)
        self._tools = ToolTimer(clock)
        self._task: asyncio.Task[Message] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._running = False
        self._finalized = False

    # -- control -----------------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop) -> Turn:
        """Run the turn as a task on ``loop`` (the caller's running loop)."""
        self._loop = loop
        self._set_phase(Phase.CONNECTING)
        task = loop.create_task(self._run(), name=f"nbchat turn {self.message.id}")
        task.add_done_callback(lambda _task: self._finalize("stopped"))
        self._task = task
        return self

    def cancel(self) -> None:
        """Stop the reply now, keeping what arrived (safe from any thread)."""
        self.stop_requested = True
        loop = self._loop
        if loop is None or self.done():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._cancel_task()
        else:
            loop.call_soon_threadsafe(self._cancel_task)

    def _cancel_task(self) -> None:
        # A task that has not run its first step is not cancelled: its body would never
        # run (no except clause sees that cancellation); it sees stop_requested instead.
        if self._task is not None and self._running and not self._task.done():
            self._task.cancel()

    def set_notice(self, notice: str) -> None:
        """Show (or, with ``""``, clear) a line about a wait; a wait means RECONNECTING."""
        if notice == self.notice:
            return
        self.notice = notice
        if notice:
            self._set_phase(Phase.RECONNECTING)
        self._host.emit(NoticeChanged(notice))

    # -- observation -------------------------------------------------------------------

    @property
    def status(self) -> str:
        return self.message.status

    def done(self) -> bool:
        """True once the reply has ended, in any state."""
        return self._task is not None and self._task.done()

    async def wait(self) -> Message:
        """Wait for the reply to end and return it (also reachable as ``await turn``)."""
        assert self._task is not None, "the turn was never started"
        return await self._task

    def __await__(self) -> Generator[Any, None, Message]:
        return self.wait().__await__()

    def __repr__(self) -> str:
        return f"Turn(status={self.message.status!r}, chars={len(self.message.content)})"

    # -- the task ----------------------------------------------------------------------

    async def _run(self) -> Message:
        self._running = True
        ledger = self.message.reply
        status: MessageStatus = "stopped"
        try:
            if not self.stop_requested:
                self.stream = await self._host.prepare(self)
                await self._consume(self.stream)
                status = _status(ledger.error)
        except asyncio.CancelledError:
            self._finalize("stopped")
            task = asyncio.current_task()
            if self.stop_requested and task is not None and task.uncancel() == 0:
                return self.message
            raise
        except NbchatError as exc:
            ledger.fail(exc.code, exc.message)
            status = _status(ledger.error)
        except Exception as exc:  # a bug or an unforeseen failure: still end the turn cleanly
            log.exception("nbchat turn failed unexpectedly")
            ledger.fail("INTERNAL_ERROR", f"{type(exc).__name__}: {exc}")
            status = "error"
        self._finalize(status)
        return self.message

    async def _consume(self, stream: ReplyStream) -> None:
        message = self.message
        ledger = message.reply
        timer = self._timer
        emit = self._host.emit
        message_id = message.id
        async with contextlib.aclosing(stream.events()) as events:
            async for batch in events:
                for event in batch:
                    if type(event) is TextDelta:  # the hot path
                        if timer.token() or self.phase is not Phase.STREAMING:
                            self._set_phase(Phase.STREAMING)
                        ledger.append_text(event.text)
                        emit(TextAppended(message_id, event.text))
                        continue
                    ledger.apply(event)
                    if isinstance(event, ReasoningDelta):
                        self._set_phase(Phase.STREAMING)
                        emit(TextAppended(message_id, event.text, "reasoning"))
                    elif isinstance(event, (ToolCallStarted, ToolCallFinished)):
                        self._set_phase(Phase.STREAMING)
                        self._tools.note(ledger, event)
                        emit(MessagesChanged())
                    elif isinstance(event, Progress):
                        self._set_phase(Phase.STREAMING)
                        emit(MessagesChanged())

    def _finalize(self, status: MessageStatus) -> None:
        if self._finalized:
            return
        self._finalized = True
        message = self.message
        self._timer.stop()
        message.status = status
        metrics = self._timer.info(message.reply)
        stream = self.stream
        if stream is not None and stream.retries:
            metrics["retries"] = stream.retries
        if stream is not None and stream.reconnects:
            metrics["reconnects"] = stream.reconnects
        message.metrics = metrics
        self.notice = ""
        try:
            self._host.save(message)
        except HistoryError as exc:
            # The reply stays on screen and in chat.messages; say why it is not on disk.
            log.error("nbchat: %s", exc)
            if message.reply.error is None:
                message.reply.error = StreamError(exc.code, f"reply not saved: {exc.message}")
        self._host.emit(MessagesChanged())
        self._set_phase(Phase(status))
        self._host.ended(self)

    def _set_phase(self, phase: Phase) -> None:
        if phase is not self.phase:
            self.phase = phase
            self._host.emit(PhaseChanged(phase))


def running_loop(what: str) -> asyncio.AbstractEventLoop:
    """The running loop, or a ConfigurationError saying ``what`` needs one."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        raise ConfigurationError(
            f"{what} needs a running event loop, as in a notebook cell; "
            "in a script use chat.ask(text)"
        ) from None


def _status(error: StreamError | None) -> MessageStatus:
    if error is None:
        return "done"
    return "interrupted" if error.code == "INTERRUPTED" else "error"


def run_blocking(start: Callable[[], Turn]) -> Message:
    """Run ``start()`` (which sends a turn) on a private loop thread; wait for its reply.

    For scripts: a KeyboardInterrupt (Ctrl-C, or a kernel interrupt) stops the turn,
    waits for it to end cleanly (its partial text kept), and is raised again.
    """
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="nbchat ask", daemon=True)
    thread.start()
    started: list[Turn] = []

    async def run() -> Message:
        turn = start()
        started.append(turn)
        return await turn

    future = asyncio.run_coroutine_threadsafe(run(), loop)
    try:
        return _wait_interruptibly(future)
    except KeyboardInterrupt:
        if started:
            started[0].cancel()
        try:
            future.result(timeout=10)
        except Exception:
            log.exception("nbchat: the stopped turn did not end cleanly")
        raise
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


def _wait_interruptibly(future: concurrent.futures.Future[Message]) -> Message:
    # Waiting in short slices lets the main thread take a KeyboardInterrupt promptly.
    while True:
        try:
            return future.result(timeout=0.1)
        except concurrent.futures.TimeoutError:
            continue


__all__ = ["Turn", "TurnHost", "run_blocking", "running_loop"]
