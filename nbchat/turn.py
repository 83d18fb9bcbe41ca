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
                 as MessageUpdated; first visible output ─> phase STREAMING;
                 a notice (retry / resume wait) ─> phase RECONNECTING
    finalize, exactly once, whatever happened (done, Stop, a failure, a bug, even a
    task cancelled before its first step): status, error and metrics set, the
    message saved through the host, MessageUpdated, phase = status, host told.

Two clocks watch a turn. The transport's read timeout ends a silent connection (no
bytes at all). The turn's own clock measures output: after :data:`WAITING_AFTER_S`
of no new output it shows "waiting for the model: no new output for N s" (updated
every second, the phase unchanged), and only with ``Timeouts(idle=...)`` set does it
end the turn (``STALLED``, the partial kept).

Whose cancellation is whose (one rule): a cancellation belongs to whoever asked for
it and is absorbed there. The idle limit's is absorbed by its :func:`asyncio.timeout`
and becomes a ``STALLED`` failure; Stop's is absorbed here (the task then ends
normally with the ``stopped`` message). Any other cancellation (the loop shutting
down, an interrupted cell that awaited the turn) finalizes the reply as stopped and
propagates.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Generator
from typing import Any, Protocol

from nbchat.accumulate import ToolCall
from nbchat.changes import (
    Change,
    MessageUpdated,
    NoticeChanged,
    Phase,
    PhaseChanged,
    TextAppended,
)
from nbchat.errors import HistoryError, NbchatError, StalledError, ToolRoundsError
from nbchat.events import (
    Progress,
    ReasoningDelta,
    RefusalDelta,
    Result,
    StreamError,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    ToolCallFinished,
    ToolCallStarted,
)
from nbchat.loops import LoopTask
from nbchat.message import Message
from nbchat.metrics import Clock, ReplyTimer, ToolTimer, rescaled
from nbchat.reply_stream import ReplyStream
from nbchat.tool_run import run_round
from nbchat.toolbox import Tool, Toolbox
from nbchat.wire import MessageStatus

log = logging.getLogger("nbchat")

#: seconds without new output before the turn shows that it is waiting
WAITING_AFTER_S = 3.0
#: seconds between checkpoints of a streaming reply's text in history
CHECKPOINT_S = 1.0


_new = tuple.__new__


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

    def superseded(self, turn: Turn) -> None:
        """The turn's reply has output: the replies it replaces (``turn.replaces``) go."""

    @property
    def tools(self) -> Toolbox:
        """The tools the model may call (run here, round by round)."""

    @property
    def max_tool_rounds(self) -> int:
        """How many rounds of tool calls one turn may run."""

    async def approve_call(self, turn: Turn, call: ToolCall, tool: Tool) -> bool:
        """Whether the user lets ``call`` run (a tool made with ``approve=True``)."""


class Turn(LoopTask[Message]):
    """Handle on a running or finished turn; see the module docstring."""

    def __init__(
        self,
        host: TurnHost,
        user: Message,
        reply: Message,
        *,
        idle: float | None = None,
        replaces: list[Message] | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        super().__init__()
        self.user_message = user
        self.message = reply
        #: replies this one retries: kept (and marked) until this one has output
        self.replaces: list[Message] = replaces or []
        self.phase = Phase.IDLE
        #: a transient line about this turn ("rate limited: retrying in 2 s"), or ""
        self.notice = ""
        #: the reply's network side, once prepared
        self.stream: ReplyStream | None = None
        self._host = host
        self._timer = ReplyTimer(clock)
        self._tools = ToolTimer(clock)
        self._finalized = False
        self._reasoning_placed = False  # told the view where the reasoning goes
        self._clock = clock
        self._idle = idle
        self._idle_deadline: asyncio.Timeout | None = None
        self._last_other = self._timer.started  # the last output that is not text
        self._waiting = False  # the notice is the turn's own "waiting" line
        self._ticker: asyncio.TimerHandle | None = None
        self._saved_at = self._timer.started
        self._checkpoint_failed = False
        self._open_at: float | None = None  # when the current response opened

    # -- control -----------------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop) -> Turn:
        """Run the turn as a task on ``loop`` (the caller's running loop)."""
        self._loop = loop
        self._set_phase(Phase.CONNECTING)
        task = loop.create_task(self._run(), name=f"nbchat turn {self.message.id}")
        task.add_done_callback(lambda _task: self._finalize("stopped"))
        self._task = task
        return self

    def set_notice(self, notice: str) -> None:
        """Show (or, with ``""``, clear) a line about a retry or resume wait (RECONNECTING).

        The reply stream clears it each time a response opens: the output clock
        (``Timeouts.idle``) runs from then, never through a retry wait or a connect.
        """
        self._waiting = False
        self._show(notice)
        if notice:
            self._open_at = None
            self._set_phase(Phase.RECONNECTING)
        else:
            self._open_at = self._clock()

    def _show(self, notice: str) -> None:
        if notice != self.notice:
            self.notice = notice
            self._host.emit(NoticeChanged(notice))

    def _tick(self) -> None:
        # Once a second while the turn runs: the output clock (see the module docstring).
        now = self._clock()
        opened = self._open_at
        quiet = now - max(self._last_output(), opened or 0.0)
        deadline = self._idle_deadline
        if self._idle is not None and opened is not None and quiet >= self._idle and deadline:
            deadline.reschedule(asyncio.get_running_loop().time())
            return
        if quiet >= WAITING_AFTER_S and (self._waiting or not self.notice):
            self._waiting = True
            self._show(f"waiting for the model: no new output for {quiet:.0f} s")
        self._ticker = asyncio.get_running_loop().call_later(1.0, self._tick)

    def _last_output(self) -> float:
        # When the reply last showed something (its start, before anything).
        return max(self._timer.last_token or self._timer.started, self._last_other)

    def _output(self) -> None:
        # New output: the waiting line goes; the first output supersedes a retried reply.
        if self._waiting:
            self._waiting = False
            self._show("")
        if self.replaces:
            self._host.superseded(self)
            self.replaces = []

    def _checkpoint(self) -> None:
        """Save the reply as it stands (status ``streaming``): a crash loses at most
        :data:`CHECKPOINT_S` of text. A failed checkpoint is logged once; the final save
        reports it on the reply."""
        self._saved_at = self._clock()
        try:
            self._host.save(self.message)
        except HistoryError as exc:
            if not self._checkpoint_failed:
                self._checkpoint_failed = True
                log.error("nbchat: %s (the reply goes on; saving is tried again at its end)", exc)

    # -- observation -------------------------------------------------------------------

    @property
    def status(self) -> str:
        return self.message.status

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
        self._ticker = asyncio.get_running_loop().call_later(1.0, self._tick)
        ledger = self.message.reply
        status: MessageStatus = "stopped"
        try:
            if not self.stop_requested:
                self._checkpoint()  # the row exists from the start: a crash leaves a trace
                self.stream = await self._host.prepare(self)
                await self._consume(self.stream)
                while self._tools_called():
                    await self._answer_tools()
                    if self.stop_requested:  # a tool swallowed Stop's cancellation
                        raise asyncio.CancelledError
                    self.stream = await self._host.prepare(self)
                    await self._consume(self.stream)
                status = _status(ledger.error)
        except asyncio.CancelledError:
            self._finalize("stopped")
            if self._stop_absorbed():
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
        deadline = self._idle_deadline = asyncio.timeout(None)
        try:
            async with deadline:
                await self._stream(stream)
        except TimeoutError:
            if not deadline.expired():
                raise
            raise StalledError(
                f"no new output for {self._idle:g} s while the server kept the connection "
                "open (Timeouts(idle=...))"
            ) from None
        finally:
            self._idle_deadline = None

    async def _stream(self, stream: ReplyStream) -> None:
        await stream.run(self._take)

    # -- tools -------------------------------------------------------------------------

    def _tools_called(self) -> bool:
        """Whether the round that just ended called tools the kernel answers."""
        ledger = self.message.reply
        return ledger.error is None and self._runs_tools() and bool(ledger.round_calls())

    def _runs_tools(self) -> bool:
        stream = self.stream
        return stream is not None and stream.dialect.client_tools and len(self._host.tools) > 0

    def _unrun_calls(self) -> None:
        # Calls the reply made that no round ran (it ended first: Stop, a failure):
        # marked, so the row and the next request say they did not run.
        if not self._runs_tools():
            return
        ledger = self.message.reply
        for call in ledger.round_calls():
            if not call.state:
                call.round, call.state = ledger.round, "cancelled"
                call.result = "Not run: the reply ended before this call ran."

    async def _answer_tools(self) -> None:
        ledger = self.message.reply
        limit = self._host.max_tool_rounds
        if ledger.round > limit:
            for call in ledger.round_calls():  # shown, and told to the model next time
                call.round, call.state = ledger.round, "error"
                call.result = f"Not run: the reply reached its limit of {limit} tool rounds."
            raise ToolRoundsError(
                f"the model asked for tools in {ledger.round} rounds of one reply; the "
                f"limit is max_tool_rounds={limit}"
            )
        self._open_at = None  # no output clock while tools run or wait for the user

        def changed() -> None:
            self._last_other = self._clock()
            self._host.emit(MessageUpdated(self.message.id))  # before the notice's head
            calls = ledger.round_calls()
            waiting = next((c for c in calls if c.state == "waiting"), None)
            running = next((c for c in calls if c.state == "running"), None)
            if waiting is not None:
                self._show(f"waiting for your approval to run {waiting.name}")
            elif running is not None:
                self._show(f"running {running.name}")
            else:
                self._show("")
            self._checkpoint()

        async def approve(call: ToolCall, tool: Tool) -> bool:
            return await self._host.approve_call(self, call, tool)

        self._output()
        self._set_phase(Phase.STREAMING)
        try:
            await run_round(
                ledger.round_calls(), ledger.round, self._host.tools, approve, changed, self._clock
            )
        finally:
            self._waiting = False
            self._show("")
        ledger.next_round()

    def _take(self, batch: list[StreamEvent]) -> None:
        # The events of one body chunk, into the reply's ledger and out as changes.
        if len(batch) == 1 and type(batch[0]) is TextDelta:
            # The hot path: a body chunk of one text delta.
            self._text(batch[0].text, 1)
            last = self._timer.last_token
            if last is not None and last - self._saved_at >= CHECKPOINT_S:
                self._checkpoint()
            return
        message = self.message
        ledger = message.reply
        emit = self._host.emit
        # The text deltas of a body chunk go on as one append.
        texts: list[str] = []
        for event in batch:
            if type(event) is TextDelta:
                texts.append(event.text)
                continue
            if texts:
                self._text("".join(texts), len(texts))
                texts = []
            ledger.apply(event)
            if not isinstance(event, _VISIBLE):
                continue  # usage, the end, an error: not output (a retry's old
                # reply stays until the new one shows something)
            self._last_other = self._clock()
            self._output()
            if isinstance(event, ReasoningDelta):
                self._set_phase(Phase.STREAMING)
                emit(TextAppended(message.id, event.text, "reasoning"))
                if not self._reasoning_placed:
                    self._reasoning_placed = True
                    if ledger.reasoning_at:  # after some text: the view places it there
                        emit(MessageUpdated(message.id))
            elif isinstance(event, (ToolCallStarted, ToolCallFinished)):
                self._set_phase(Phase.STREAMING)
                self._tools.note(ledger, event)
                emit(MessageUpdated(message.id))
            else:  # progress, result, refusal, tool arguments streaming
                self._set_phase(Phase.STREAMING)
                emit(MessageUpdated(message.id))
        if texts:
            self._text("".join(texts), len(texts))
        # Output times were just read (no clock read here): checkpoint each second.
        if self._last_output() - self._saved_at >= CHECKPOINT_S:
            self._checkpoint()

    def _text(self, text: str, count: int) -> None:
        # ``text``: ``count`` text deltas joined.
        if self._timer.token(count) or self.phase is not Phase.STREAMING:
            self._set_phase(Phase.STREAMING)
        if self._waiting or self.replaces:
            self._output()
        message = self.message
        message.reply.append_text(text, count)
        # tuple.__new__: the named tuple's own __new__ is a Python call, one a chunk.
        self._host.emit(_new(TextAppended, (message.id, text, "text")))

    def _finalize(self, status: MessageStatus) -> None:
        if self._finalized:
            return
        self._finalized = True
        if self._ticker is not None:
            self._ticker.cancel()
        unmarked = self.replaces  # the retry produced nothing: the old replies stay
        for old in unmarked:
            old.superseded = False
        message = self.message
        self._unrun_calls()
        self._timer.stop()
        message.status = status
        stream = self.stream
        metrics = self._timer.info(message.reply)
        if stream is not None:
            metrics = rescaled(metrics, stream.time_scale)
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
        for old in unmarked:
            self._host.emit(MessageUpdated(old.id))
        self._host.emit(MessageUpdated(message.id))
        self._set_phase(Phase(status))
        self._host.ended(self)

    def _set_phase(self, phase: Phase) -> None:
        if phase is not self.phase:
            self.phase = phase
            self._host.emit(PhaseChanged(phase))


#: events that show something: they count as output (the text path aside)
_VISIBLE = (
    ReasoningDelta,
    RefusalDelta,
    ToolCallStarted,
    ToolCallDelta,
    ToolCallFinished,
    Progress,
    Result,
)


def _status(error: StreamError | None) -> MessageStatus:
    if error is None:
        return "done"
    return "interrupted" if error.code == "INTERRUPTED" else "error"


__all__ = ["Turn", "TurnHost"]
