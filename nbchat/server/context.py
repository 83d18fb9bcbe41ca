"""What every route of one server app shares: model, store, replies, counters.

``create_app`` builds one :class:`ServerContext` and keeps it at
``app.state.context``; routes read it with :func:`context`.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, cast

from starlette.requests import Request

from nbchat.server.model import ChatModel
from nbchat.server.replies import Replies
from nbchat.server.session_store import SessionStore, StoreError

__all__ = ["ServerContext", "ServerStats", "context", "user_of"]


@dataclass
class ServerStats:
    """Counters of the OpenAI-compatible route, shared between the server thread and tests.

    Attributes
    ----------
    requests
        ``POST /v1/chat/completions`` requests received (valid or not).
    streams_started, streams_completed, streams_disconnected
        Streaming replies begun, sent to the end (``[DONE]``), and cut short because
        the client went away.
    tokens_streamed
        Content tokens sent in streaming replies.
    last_request
        The last JSON object posted to ``/v1/chat/completions``.
    disconnected
        Set when any stream sees its client disconnect.
    """

    requests: int = 0
    streams_started: int = 0
    streams_completed: int = 0
    streams_disconnected: int = 0
    tokens_streamed: int = 0
    last_request: dict[str, Any] | None = None
    disconnected: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, counter: str, amount: int = 1) -> None:
        """Increase ``counter`` by ``amount`` atomically (tests read from another thread)."""
        with self._lock:
            setattr(self, counter, getattr(self, counter) + amount)

    def record_request(self, body: dict[str, Any] | None) -> None:
        """Count one chat request and remember its body when it is a JSON object."""
        with self._lock:
            self.requests += 1
            if body is not None:
                self.last_request = body

    def record_disconnect(self) -> None:
        """Count a stream cut short by its client and set :attr:`disconnected`."""
        with self._lock:
            self.streams_disconnected += 1
        self.disconnected.set()


@dataclass
class ServerContext:
    """The shared state of one app (see the module docstring).

    Attributes
    ----------
    model
        What answers (the demo model or the upstream gateway).
    replies
        Replies in progress and recently finished, with the per-user limits.
    grace
        Seconds a sessions reply keeps going after its last client left.
    stats
        Counters of ``/v1/chat/completions``.
    shutting_down
        Set (from any thread) to stop in-flight replies and end open streams.
    store_factory
        Opens the app's own store when the server starts, if it has none; ``None``
        when the store was given by the caller (who closes it).
    """

    model: ChatModel
    replies: Replies
    grace: float
    stats: ServerStats = field(default_factory=ServerStats)
    shutting_down: threading.Event = field(default_factory=threading.Event)
    store_factory: Callable[[], SessionStore] | None = None
    _store: SessionStore | None = None
    auth_enabled: bool = False
    _locks: dict[str, tuple[asyncio.Lock, list[int]]] = field(default_factory=dict)

    @contextlib.asynccontextmanager
    async def locked(self, name: str) -> AsyncIterator[None]:
        """Hold the app's lock called ``name`` (on the app's loop); a lock nobody holds
        or waits for is forgotten, so per-session names do not pile up."""
        lock, users = self._locks.setdefault(name, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if not users[0]:
                del self._locks[name]

    @property
    def store(self) -> SessionStore:
        """The session store; raises StoreError while the server is not running."""
        if self._store is None:
            raise StoreError("the session store is closed (the server is not running)")
        return self._store

    def open_store(self) -> SessionStore:
        """Open the app's own store if it is closed; return the store."""
        if self._store is None:
            if self.store_factory is None:
                raise StoreError("no session store configured")
            self._store = self.store_factory()
        return self._store

    async def close_store(self) -> None:
        """Close the store if the app opened it (a store given by the caller stays open)."""
        if self.store_factory is not None and self._store is not None:
            store, self._store = self._store, None
            await store.close()


def context(request: Request) -> ServerContext:
    """The :class:`ServerContext` of the app serving ``request``."""
    return cast(ServerContext, request.app.state.context)


def user_of(request: Request) -> str:
    """The authenticated user's name (``""`` when the server has no authentication)."""
    return str(getattr(request.state, "user", "") or "")
