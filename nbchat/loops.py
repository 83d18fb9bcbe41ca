"""The event loops a turn runs on: the caller's, or a private one for blocking scripts.

A turn is a task on a running loop (a notebook cell always has one). ``running_loop``
finds it, or says why there is none; ``run_blocking`` gives a script (no running loop)
a private loop on a thread and maps Ctrl-C to Stop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable

from nbchat.errors import ConfigurationError
from nbchat.message import Message
from nbchat.turn import Turn

log = logging.getLogger("nbchat")


def running_loop(what: str) -> asyncio.AbstractEventLoop:
    """The running loop, or a ConfigurationError saying ``what`` needs one."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        raise ConfigurationError(
            f"{what} needs a running event loop, as in a notebook cell; "
            "in a script use chat.ask(text)"
        ) from None


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


def _wait_interruptibly(future: concurrent.futures.Future[Message]) -> Message:
    # Waiting in short slices lets the main thread take a KeyboardInterrupt promptly.
    while True:
        try:
            return future.result(timeout=0.1)
        except concurrent.futures.TimeoutError:
            continue


__all__ = ["run_blocking", "running_loop"]
