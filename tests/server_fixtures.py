"""Helpers for server tests: apps served on loopback, SSE reading, a scripted model.

Import explicitly (``from tests.server_fixtures import ...``); the ``serve`` fixture
must be imported into the test module to be found by pytest.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from nbchat.errors import StreamFailure
from nbchat.events import Finished, TextDelta, Usage
from nbchat.server import ServerThread
from nbchat.server.model import SAMPLING_FIELDS, ModelEvent, ModelSetupError, Opened
from nbchat.stream.sse import SSEDecoder
from nbchat.wire import ChatMessageParam


@dataclass
class Served:
    """One app on loopback: its URL, a client for it, the app and its thread."""

    url: str
    client: httpx.Client
    app: Starlette
    thread: ServerThread

    def client_for(self, token: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, timeout=15, headers=headers)


Serve = Callable[..., Served]


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Start apps in ServerThreads; hand back a :class:`Served`; stop everything after."""
    started: list[Served] = []

    def start(app: Starlette, token: str | None = None) -> Served:
        thread = ServerThread(app)
        url = thread.start()
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        served = Served(url, httpx.Client(base_url=url, timeout=15, headers=headers), app, thread)
        started.append(served)
        return served

    yield start
    for served in started:
        served.client.close()
        served.thread.stop()


@dataclass(frozen=True)
class Event:
    """One dispatched server-sent event with its JSON data decoded."""

    event: str
    id: str
    data: Any
    retry: int | None = None


def decode(body: bytes) -> list[Event]:
    """Every event of a whole SSE body."""
    decoder = SSEDecoder()
    raw = decoder.feed(body) + decoder.close()
    return [Event(e.event, e.id, json.loads(e.data)) for e in raw]


class EventReader:
    """Reads the events of a streaming response in several steps."""

    def __init__(self, response: httpx.Response) -> None:
        self._chunks = response.iter_bytes()
        self._decoder = SSEDecoder()
        self._pending: list[Event] = []
        self._eof = False

    def _fill(self) -> bool:
        if self._eof:
            return False
        try:
            chunk = next(self._chunks)
        except StopIteration:
            self._eof = True
            raw = self._decoder.close()
        else:
            raw = self._decoder.feed(chunk)
        self._pending.extend(Event(e.event, e.id, json.loads(e.data)) for e in raw)
        return True

    def take(self, count: int | None = None) -> list[Event]:
        """The next ``count`` events (all the rest when ``None``)."""
        while (count is None or len(self._pending) < count) and self._fill():
            pass
        if count is None:
            taken, self._pending = self._pending, []
        else:
            taken, self._pending = self._pending[:count], self._pending[count:]
        return taken


def read_events(response: httpx.Response, stop_after: int | None = None) -> list[Event]:
    """Events of a streaming response, stopping after ``stop_after`` events if given."""
    return EventReader(response).take(stop_after)


def text_of(events: Sequence[Event]) -> str:
    """The text of the ``chunk`` events."""
    return "".join(e.data["content"] for e in events if e.event == "chunk")


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll ``predicate`` until it holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail("condition not reached in time")
        time.sleep(0.02)


@dataclass
class ScriptedModel:
    """A ChatModel that replies with ``pieces`` and records every conversation it got.

    ``delay`` paces the pieces; ``fail_before_open`` is raised before anything is
    yielded; ``fail_at`` raises ``fail_with`` before that piece; ``check_error`` makes
    ``check`` fail; ``on_call`` is awaited (on the server's loop) when a turn starts.
    """

    pieces: list[str] = field(default_factory=lambda: ["Hello", ",", " world", "!"])
    delay: float = 0.0
    fail_before_open: Exception | None = None
    fail_at: int | None = None
    fail_with: Exception | None = None
    check_error: ModelSetupError | None = None
    on_call: Callable[[list[ChatMessageParam]], Awaitable[None]] | None = None
    name: str = "scripted"
    sampling: frozenset[str] = frozenset(SAMPLING_FIELDS)
    description: str = "scripted test model"
    calls: list[list[ChatMessageParam]] = field(default_factory=list)
    produced: int = 0
    closed: threading.Event = field(default_factory=threading.Event)

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    def check(self) -> None:
        if self.check_error is not None:
            raise self.check_error

    async def stream(
        self, messages: Sequence[ChatMessageParam], options: Any = None
    ) -> AsyncIterator[ModelEvent]:
        self.calls.append(list(messages))
        if self.on_call is not None:
            await self.on_call(list(messages))
        if self.fail_before_open is not None:
            raise self.fail_before_open
        try:
            yield Opened()
            for index, piece in enumerate(self.pieces):
                if self.delay:
                    await asyncio.sleep(self.delay)
                if self.fail_at == index:
                    assert self.fail_with is not None
                    raise self.fail_with
                self.produced += 1
                yield TextDelta(piece)
            yield Usage(7, len(self.pieces))
            yield Finished("stop", "stop")
        finally:
            self.closed.set()

    async def aclose(self) -> None:
        pass


def upstream_failure(message: str = "could not connect to http://127.0.0.1:9/v1") -> Exception:
    """A transport-style failure."""
    from nbchat.errors import ConnectionFailed

    failure: StreamFailure = ConnectionFailed(message, url="http://127.0.0.1:9/v1")
    return failure
