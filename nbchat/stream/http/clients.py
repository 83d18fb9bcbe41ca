"""One pooled httpx client per event loop, shared by every chat on that loop.

A new ``httpx.AsyncClient`` per turn cost 17.5 ms of CPU and a new TCP (and TLS)
connection: the first event came after ~21 ms instead of ~2 ms. So an
:class:`~nbchat.stream.http.HttpTransport` without a client of its own borrows the
running loop's client from here: connections to a host are kept alive across turns
and chats. The client belongs to its loop (httpx connections cannot move between
loops) and is closed when the loop ends: asyncio closes a loop's async generators
before closing it (``asyncio.run``, pytest, nbchat's own ``chat.ask``), and a small
generator per loop holds the client and closes it then. A kernel's loop lives as
long as the kernel: at interpreter exit the clients of loops still open are closed on
their loop (run to completion when stopped, or asked from here when it runs in
another thread), so connections end cleanly rather than with the process.

Sockets are opened with ``TCP_NODELAY``: httpx writes a POST's headers and body in two
writes, and Nagle's algorithm with delayed ACKs can hold the body back ~40 ms.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import socket
from collections.abc import AsyncGenerator

import httpx

#: socket options of pooled connections
SOCKET_OPTIONS = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]


class ClientPool:
    """The clients, one per running loop; see the module docstring."""

    def __init__(self) -> None:
        self._clients: dict[asyncio.AbstractEventLoop, httpx.AsyncClient] = {}
        self._keepers: dict[asyncio.AbstractEventLoop, AsyncGenerator[None, None]] = {}
        self._exit_hook = False

    def client(self) -> httpx.AsyncClient:
        """The running loop's client (made on first use)."""
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is not None and not client.is_closed:
            return client
        self._forget_closed_loops()
        client = httpx.AsyncClient(
            transport=httpx.AsyncHTTPTransport(socket_options=SOCKET_OPTIONS),
            follow_redirects=False,
        )
        self._clients[loop] = client
        if not self._exit_hook:
            self._exit_hook = True
            atexit.register(self.close_all)
        keeper = self._keep(loop, client)
        self._keepers[loop] = keeper
        # Its first step (run here, up to its ``yield``) registers the generator with the
        # loop's asyncgen hooks, so the loop's shutdown_asyncgens() closes it, and the
        # client with it.
        with contextlib.suppress(StopIteration):
            keeper.asend(None).send(None)
        return client

    async def _keep(
        self, loop: asyncio.AbstractEventLoop, client: httpx.AsyncClient
    ) -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            if self._clients.get(loop) is client:
                del self._clients[loop]
                self._keepers.pop(loop, None)
            await client.aclose()

    async def aclose(self) -> None:
        """Close the running loop's client now (a new one is made on next use)."""
        loop = asyncio.get_running_loop()
        client = self._clients.pop(loop, None)
        keeper = self._keepers.pop(loop, None)
        if keeper is not None:
            await keeper.aclose()
        if client is not None:
            await client.aclose()

    def close_all(self, wait: float = 2.0) -> None:
        """Close every client whose loop is still open (at interpreter exit).

        A stopped loop runs the closing itself; a loop running in another thread is
        asked to and waited for up to ``wait`` seconds. Never raises: at exit there is
        nobody to tell.
        """
        for loop, keeper in list(self._keepers.items()):
            if loop.is_closed():
                continue
            try:
                if not loop.is_running():
                    loop.run_until_complete(keeper.aclose())
                elif not _runs_here(loop):
                    asyncio.run_coroutine_threadsafe(keeper.aclose(), loop).result(wait)
            except Exception:
                continue
        self._forget_closed_loops()

    def _forget_closed_loops(self) -> None:
        for loop in [loop for loop in self._clients if loop.is_closed()]:
            del self._clients[loop]
            self._keepers.pop(loop, None)


def _runs_here(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


#: the pool every HttpTransport without its own client uses
POOL = ClientPool()

__all__ = ["POOL", "SOCKET_OPTIONS", "ClientPool"]
