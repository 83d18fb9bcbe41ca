"""A turn: one request and its streamed reply, running as an asyncio task.

``chat.send`` returns a :class:`Turn` at once; ``await turn`` gives the final
assistant :class:`~nbchat.message.Message` and never raises for a stopped or failed
reply (its ``status`` and ``error`` say what happened). ``turn.cancel()`` is Stop: it
works from any phase and from any thread; the partial text is kept.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable, Generator
from typing import Any

from nbchat.message import Message

log = logging.getLogger("nbchat")


class Turn:
    """Handle on a running or finished turn; see the module docstring."""

    def __init__(self, user: Message, reply: Message) -> None:
        self.user_message = user
        self.message = reply
        self._task: asyncio.Task[Message] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.stop_requested = False

    def _attach(self, task: asyncio.Task[Message], loop: asyncio.AbstractEventLoop) -> None:
        self._task = task
        self._loop = loop

    @property
    def status(self) -> str:
        return self.message.status

    def done(self) -> bool:
        """True once the reply has ended, in any state."""
        return self._task is not None and self._task.done()

    def cancel(self) -> None:
        """Stop the reply now, keeping what arrived (safe from any thread)."""
        self.stop_requested = True
        task, loop = self._task, self._loop
        if task is None or loop is None or task.done():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            task.cancel()
        else:
            loop.call_soon_threadsafe(task.cancel)

    async def wait(self) -> Message:
        """Wait for the reply to end and return it (also reachable as ``await turn``)."""
        assert self._task is not None
        try:
            return await self._task
        except asyncio.CancelledError:
            # Stop ends the task quietly; any other cancellation (the awaiting cell was
            # interrupted, the loop is shutting down) must propagate.
            if self._task.done() and self.stop_requested:
                return self.message
            raise

    def __await__(self) -> Generator[Any, None, Message]:
        return self.wait().__await__()

    def __repr__(self) -> str:
        return f"Turn(status={self.message.status!r}, chars={len(self.message.content)})"


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
