"""One reply being generated: a server-side task, a buffer of events, listeners.

The model runs in its own asyncio task, decoupled from any HTTP response. Every
event it produces is appended to the reply's buffer and numbered from 1; responses
*follow* the buffer (replay after a number, then live events), so a client that
lost its connection reconnects with ``Last-Event-ID`` and gets exactly the events
it missed, and two clients can watch one reply.

Lifecycle (:class:`ReplyState`)::

    OPENING --Opened/first event--> STREAMING --Finished--> DONE
       |                                |------StreamError--> ERROR
       |--failure before opening--> ERROR (``setup_error``: answered as JSON)
       `--stop() at any point-------> STOPPED

When the last listener leaves before the end, the reply keeps going for ``grace``
seconds; if nobody follows it again by then it is stopped (``CLIENT_GONE``), so a
closed notebook does not keep buying tokens. ``grace=0`` stops it at once (what
``/v1`` uses: OpenAI clients cannot resume).

The end is reported in a fixed order: the ``on_finish`` hook runs first (the
sessions API saves the assistant message there), then the terminal event is
appended, so a client that has seen ``complete`` finds the message saved. The
terminal event is ``Finished`` for DONE and a ``StreamError`` otherwise; its code is
``STOPPED`` / ``CLIENT_GONE`` / ``SERVER_SHUTDOWN`` for a stopped reply.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence

from nbchat.errors import StreamFailure
from nbchat.events import Finished, FinishReason, StreamError, StreamEvent, TextDelta, Usage
from nbchat.server.model import ChatModel, ModelSetupError, Opened, Options
from nbchat.wire import ChatMessageParam

__all__ = ["FinishHook", "Generation", "ReplyState"]

logger = logging.getLogger("nbchat.server")

FinishHook = Callable[["Generation"], Awaitable[None]]


class ReplyState(enum.Enum):
    """Where a reply is in its life; see the module docstring."""

    OPENING = "opening"
    STREAMING = "streaming"
    DONE = "done"
    STOPPED = "stopped"
    ERROR = "error"


class Generation:
    """One reply: start it, follow its events, stop it; see the module docstring.

    Parameters
    ----------
    model
        What produces the reply.
    messages
        The conversation to answer, system prompt first.
    reply_id
        The reply's id (the assistant message id); event ids are ``{reply_id}:{n}``.
    owner
        Who asked (for per-user limits); ``""`` without authentication.
    session_id
        The session the reply belongs to, or ``None`` (``/v1``).
    grace
        Seconds the reply keeps going with no listener before it is stopped.
    max_tokens
        Stop after this many text pieces, finishing with reason ``length``.
    on_finish
        Awaited once when the reply ends in any state, before the terminal event.
    """

    def __init__(
        self,
        model: ChatModel,
        messages: Sequence[ChatMessageParam],
        *,
        reply_id: str,
        owner: str = "",
        session_id: str | None = None,
        grace: float = 0.0,
        max_tokens: int | None = None,
        on_finish: FinishHook | None = None,
        options: Options | None = None,
        request: tuple[str, str | None] | None = None,
    ) -> None:
        self.model = model
        #: the chat request that started it (its message and ``Idempotency-Key``), so a
        #: re-sent request can join it (see nbchat.server.turns.joined)
        self.request = request
        #: when it was made (``time.monotonic()``)
        self.created_at = time.monotonic()
        self.messages = list(messages)
        #: tools and sampling fields a ``/v1`` request asked for, if any
        self.options = options
        self.reply_id = reply_id
        self.owner = owner
        self.session_id = session_id
        self.grace = grace
        self.max_tokens = max_tokens
        self.on_finish = on_finish
        self.state = ReplyState.OPENING
        #: every event so far; event number n is ``events[n - 1]``
        self.events: list[StreamEvent] = []
        self.usage: Usage | None = None
        self.finish_reason: FinishReason | None = None
        #: why the reply did not complete (its terminal event, for ERROR and STOPPED)
        self.error: StreamError | None = None
        #: set when the model failed before opening: the caller answers with JSON
        self.setup_error: ModelSetupError | None = None
        self.text_pieces = 0
        self._text: list[str] = []
        self._opened = asyncio.Event()
        self._ended = asyncio.Event()
        self._wakeup = asyncio.Event()
        self._listeners = 0
        self._grace_timer: asyncio.TimerHandle | None = None
        self._stop_reason: StreamError | None = None
        self._closing = False  # the outcome is decided: too late to stop
        self._task: asyncio.Task[None] | None = None

    # -- reading --------------------------------------------------------------------

    @property
    def text(self) -> str:
        """The reply's text so far."""
        return "".join(self._text)

    @property
    def ended(self) -> bool:
        """Whether the terminal event has been appended."""
        return self._ended.is_set()

    @property
    def listeners(self) -> int:
        """How many responses follow the reply right now."""
        return self._listeners

    def event_id(self, number: int) -> str:
        """The SSE id of event ``number``: ``{reply_id}:{number}``."""
        return f"{self.reply_id}:{number}"

    async def wait_open(self) -> None:
        """Return once the model accepted the request, failed, or the reply ended."""
        await self._opened.wait()

    async def wait(self) -> None:
        """Return once the reply has ended (in any state)."""
        await self._ended.wait()

    async def follow(
        self, after: int = 0, keepalive: float | None = None
    ) -> AsyncGenerator[list[tuple[int, StreamEvent]], None]:
        """Yield batches of ``(number, event)``: every event after ``after``, live, to the end.

        A batch holds whatever arrived since the previous one (one event while the
        follower keeps up; more when it lags, so a busy server writes fewer, larger
        packets); an empty batch after ``keepalive`` seconds without one. Following
        counts as a listener from the first step until the iterator ends or is closed;
        the last listener leaving starts the grace period.
        """
        self._attach()
        try:
            index = max(after, 0)
            while True:
                if index < len(self.events):
                    batch = self.events[index:]
                    yield list(enumerate(batch, start=index + 1))
                    index += len(batch)
                    continue
                if self.ended:
                    return
                if keepalive is None:
                    await self._wakeup.wait()
                    continue
                try:
                    await asyncio.wait_for(self._wakeup.wait(), keepalive)
                except TimeoutError:
                    yield []  # nothing new for a while: the body sends a keep-alive
        finally:
            self._detach()

    # -- control --------------------------------------------------------------------

    def start(self) -> None:
        """Run the model in a new task on the running loop."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"nbchat-reply-{self.reply_id}"
            )

    def stop(self, code: str, message: str) -> None:
        """Stop the reply (no-op once ended); it ends STOPPED with this code and message."""
        if self._closing or self._stop_reason is not None:
            return
        self._stop_reason = StreamError(code, message)
        if self._task is not None:
            self._task.cancel()

    def _attach(self) -> None:
        self._listeners += 1
        if self._grace_timer is not None:
            self._grace_timer.cancel()
            self._grace_timer = None

    @property
    def followed(self) -> bool:
        """Whether a client follows the reply now (not: the grace period after a drop)."""
        return self._listeners > 0

    def expect_listener(self, window: float, started_by: str) -> None:
        """Stop the reply if nobody follows it within ``window`` seconds (a reply started
        without a stream, by ``started_by``: a client that never comes to follow it
        does not keep it running)."""
        if self._listeners or self._grace_timer is not None or self.ended:
            return
        why = f"nobody followed the reply started by {started_by} within {window:g} s"
        self._grace_timer = asyncio.get_running_loop().call_later(window, self._orphaned, why)

    def _detach(self) -> None:
        self._listeners -= 1
        if self._listeners == 0:
            self._unfollowed()

    def _unfollowed(self) -> None:
        if self.ended:
            return
        if self.grace <= 0:
            self.stop("CLIENT_GONE", "the client disconnected before the reply finished")
        else:
            loop = asyncio.get_running_loop()
            why = f"no client followed the reply for {self.grace:g} s after a disconnect"
            self._grace_timer = loop.call_later(self.grace, self._orphaned, why)

    def _orphaned(self, why: str) -> None:
        self._grace_timer = None
        if self._listeners == 0:
            self.stop("CLIENT_GONE", why)

    # -- the task -------------------------------------------------------------------

    def _append(self, event: StreamEvent) -> None:
        self.events.append(event)
        # Wake every follower: each waits on the event that was current when it slept.
        wakeup, self._wakeup = self._wakeup, asyncio.Event()
        wakeup.set()

    def _open(self) -> None:
        if self.state is ReplyState.OPENING:
            self.state = ReplyState.STREAMING
            self._opened.set()

    async def _run(self) -> None:
        terminal: Finished | StreamError | None = None
        external_cancel = False
        try:
            if self._stop_reason is None:  # stopped before it started: nothing to run
                terminal = await self._consume()
        except asyncio.CancelledError:
            if self._stop_reason is None:
                # Cancelled by someone else (the loop is closing): still end cleanly.
                external_cancel = True
                self._stop_reason = StreamError("SERVER_SHUTDOWN", "the server is shutting down")
        except ModelSetupError as exc:
            terminal = self._fail_setup(exc)
        except StreamFailure as exc:
            if self.state is ReplyState.OPENING:
                terminal = self._fail_setup(
                    ModelSetupError(
                        f"The model provider failed: {exc.message}", code="AI_ERROR", status=502
                    )
                )
            else:
                terminal = StreamError("AI_ERROR", f"The model provider failed: {exc.message}")
        except Exception:
            logger.exception("reply %s: the model raised", self.reply_id)
            terminal = StreamError(
                "STREAM_ERROR", "The server failed while generating the reply; see its log."
            )
        self._closing = True
        if self._stop_reason is not None:
            terminal = self._stop_reason
        elif terminal is None:
            terminal = Finished("stop")  # the model ended without saying how: a full reply
        if isinstance(terminal, Finished):
            self.state = ReplyState.DONE
            self.finish_reason = terminal.reason
        else:
            self.state = ReplyState.STOPPED if terminal is self._stop_reason else ReplyState.ERROR
            self.error = terminal
        await self._finish(terminal)
        if external_cancel:
            raise asyncio.CancelledError

    async def _consume(self) -> Finished | StreamError | None:
        """Feed the model's events into the buffer; return the terminal one, if any."""
        stream = self.model.stream(self.messages, self.options)
        try:
            async for event in stream:
                self._open()
                if isinstance(event, Opened):
                    continue
                if isinstance(event, Finished):
                    return event
                if isinstance(event, StreamError):
                    return StreamError(
                        "AI_ERROR", f"The model reported an error ({event.code}): {event.message}"
                    )
                if isinstance(event, Usage):
                    self.usage = event
                self._append(event)
                if isinstance(event, TextDelta):
                    self._text.append(event.text)
                    self.text_pieces += 1
                    if self.max_tokens is not None and self.text_pieces >= self.max_tokens:
                        return Finished("length", "length")
        finally:
            # Close the model's generator now (not when collected): that is what ends
            # the upstream request on Stop, grace expiry or max_tokens.
            close = getattr(stream, "aclose", None)
            if close is not None:
                await close()
        return None

    def _fail_setup(self, error: ModelSetupError) -> StreamError:
        self.setup_error = error
        return StreamError(error.code, error.message)

    async def _finish(self, terminal: StreamEvent) -> None:
        if self._grace_timer is not None:
            self._grace_timer.cancel()
            self._grace_timer = None
        if self.on_finish is not None:
            try:
                # Shielded: a second cancellation (shutdown) must not lose the save.
                await asyncio.shield(self.on_finish(self))
            except asyncio.CancelledError:
                pass
            except Exception:
                logger.exception("reply %s: saving the reply failed", self.reply_id)
        self._append(terminal)
        self._ended.set()
        self._opened.set()
