"""The event loops a turn or a job runs on: the caller's, or a private one for scripts.

A turn (or a progress job) is a task on a running loop (a notebook cell always has
one). ``running_loop`` finds it, or says why there is none; ``run_blocking`` gives a
script (no running loop) a private loop on a thread and maps Ctrl-C to Stop / Cancel.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable, Generator
from typing import Any, Generic, Protocol, TypeVar

from nbchat.errors import ConfigurationError

log = logging.getLogger("nbchat")


T = TypeVar("T", covariant=True)
R = TypeVar("R")


class Cancellable(Protocol[T]):
    """What runs on a loop and can be stopped: a :class:`~nbchat.turn.Turn`, a job."""

    def cancel(self) -> None: ...

    def __await__(self) -> Generator[Any, None, T]: ...


def running_loop(what: str, script: str = "chat.ask(text)") -> asyncio.AbstractEventLoop:
    """The running loop, or a ConfigurationError saying ``what`` needs one (and that a
    script uses ``script`` instead)."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        raise ConfigurationError(
            f"{what} needs a running event loop, as in a notebook cell; in a script use {script}"
        ) from None


class LoopTask(Generic[R]):
    """Work run as one task on an event loop (a chat's turn, a progress job), stoppable
    from any thread.

    Subclasses set ``_loop`` and ``_task`` when they start, ``_running`` when the task's
    body begins, and end their ``except asyncio.CancelledError`` with
    :meth:`_stop_absorbed`: a cancellation belongs to whoever asked for it.
    """

    def __init__(self) -> None:
        self.stop_requested = False
        self._task: asyncio.Task[R] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._running = False

    def cancel(self) -> None:
        """Stop now (safe from any thread); what arrived so far is kept."""
        self.stop_requested = True
        loop = self._loop
        if loop is None or self.done():
            return
        call_on(loop, self._cancel_task)

    def _cancel_task(self) -> None:
        # A task that has not run its first step is not cancelled: its body would never
        # run (no except clause sees that cancellation); it sees stop_requested instead.
        if self._task is not None and self._running and not self._task.done():
            self._task.cancel()

    def done(self) -> bool:
        """True once the task has ended, in any state."""
        return self._task is not None and self._task.done()

    def _stop_absorbed(self) -> bool:
        """In the task's ``except asyncio.CancelledError``: True when the cancellation
        was this object's own Stop (absorbed: the task ends normally), False when it
        belongs to someone else (the loop shutting down, an interrupted cell): re-raise."""
        task = asyncio.current_task()
        return self.stop_requested and task is not None and task.uncancel() == 0


def call_on(loop: asyncio.AbstractEventLoop, fn: Callable[[], object]) -> None:
    """Run ``fn`` on ``loop``: now when called on it, else soon (from any thread)."""
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        fn()
    else:
        loop.call_soon_threadsafe(fn)


def run_blocking(start: Callable[[], Cancellable[R]]) -> R:
    """Run ``start()`` (which starts a turn or a job) on a private loop thread; wait for
    what it gives.

    For scripts: a KeyboardInterrupt (Ctrl-C, or a kernel interrupt) stops the turn or
    cancels the job, waits for it to end cleanly (a partial reply kept), and is raised
    again.
    """
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="nbchat blocking", daemon=True)
    thread.start()
    started: list[Cancellable[R]] = []

    async def run() -> R:
        running = start()
        started.append(running)
        return await running

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
        # As asyncio.run does: close the loop's async generators (and so the pooled
        # HTTP connections made on it) before closing the loop.
        closing = asyncio.run_coroutine_threadsafe(loop.shutdown_asyncgens(), loop)
        try:
            closing.result(timeout=10)
        except Exception:
            log.exception("nbchat: closing the private loop's connections failed")
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


def _wait_interruptibly(future: concurrent.futures.Future[R]) -> R:
    # Waiting in short slices lets the main thread take a KeyboardInterrupt promptly.
    while True:
        try:
            return future.result(timeout=0.1)
        except concurrent.futures.TimeoutError:
            continue


__all__ = ["Cancellable", "LoopTask", "call_on", "run_blocking", "running_loop"]
