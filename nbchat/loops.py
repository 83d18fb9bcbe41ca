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
from typing import Any, Protocol, TypeVar

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


__all__ = ["Cancellable", "call_on", "run_blocking", "running_loop"]
