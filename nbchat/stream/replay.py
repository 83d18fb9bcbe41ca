"""Play recorded response streams back offline: the replay transport.

A recording is a JSON Lines file (written by :mod:`nbchat.stream.recording`). The
first line says what it is; then each response is a ``turn`` line, its body as
``chunk`` lines (arrival time in seconds since the request and the bytes, as text
when they are UTF-8, else base64) and an ``end`` line::

    {"format": "nbchat-recording", "version": 1}
    {"turn": 1, "dialect": "openai-chat", "model": "m", "content_type": "text/event-stream"}
    {"t": 0.412, "text": "data: {...}\\n\\n"}
    {"end": 1, "t": 2.301}

Any other file (a raw ``.sse`` body such as the provider fixtures) plays as one turn,
one event every :data:`RAW_EVENT_INTERVAL_S` seconds at speed 1. Each request opened
on a :class:`ReplayTransport` plays the next recorded turn (after the last, the
first again), at the recorded pace divided by ``speed``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbchat.errors import ConfigurationError
from nbchat.stream.base import DecodedStream, Framing, HttpRequest

FORMAT = "nbchat-recording"
#: the pace of a raw body (no timings recorded): one event per this many seconds
RAW_EVENT_INTERVAL_S = 0.03


@dataclass
class RecordedTurn:
    """One recorded response: its dialect, content type and timed chunks."""

    dialect: str | None
    content_type: str | None
    model: str | None = None
    chunks: list[tuple[float, bytes]] = field(default_factory=list)
    #: the chunk times were recorded (False: a raw body, played at a made-up pace)
    timed: bool = True


def load_recording(path: str | os.PathLike[str], dialect: str | None = None) -> list[RecordedTurn]:
    """The turns of a recording file, or one turn for a raw response body.

    Raises
    ------
    ConfigurationError
        The file cannot be read, or it holds no turn.
    """
    file = Path(path)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read the recording {file}: {exc}") from exc
    first = raw.split(b"\n", 1)[0]
    try:
        header = json.loads(first)
    except (json.JSONDecodeError, UnicodeDecodeError):
        header = None
    if not (isinstance(header, dict) and header.get("format") == FORMAT):
        return [_raw_turn(raw, dialect)]
    turns: list[RecordedTurn] = []
    for number, line in enumerate(raw.decode("utf-8", errors="replace").splitlines()[1:], 2):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigurationError(f"{file}, line {number}: not JSON ({exc.msg})") from exc
        if "turn" in item:
            turns.append(
                RecordedTurn(item.get("dialect"), item.get("content_type"), item.get("model"))
            )
        elif turns and "t" in item and "end" not in item:
            data = base64.b64decode(item["b64"]) if "b64" in item else item["text"].encode("utf-8")
            turns[-1].chunks.append((float(item["t"]), data))
    if not turns:
        raise ConfigurationError(f"the recording {file} holds no turn")
    return turns


def _raw_turn(raw: bytes, dialect: str | None) -> RecordedTurn:
    # Cut the body after each blank line (SSE) or line (AI SDK 4) so it plays event by event.
    separator = b"\n" if dialect == "ai-sdk-v4" else b"\n\n"
    normalized = raw.replace(b"\r\n", b"\n")
    pieces = [p + separator for p in normalized.split(separator)]
    pieces[-1] = pieces[-1][: -len(separator)]
    turn = RecordedTurn(dialect, None, timed=False)
    turn.chunks = [(i * RAW_EVENT_INTERVAL_S, p) for i, p in enumerate(pieces) if p]
    return turn


class ReplayTransport:
    """A transport that answers every request with the next recorded turn.

    Build it from a file with :meth:`from_file` (which reads it); the constructor
    takes turns already loaded. ``source`` names the recording in messages.
    """

    def __init__(self, turns: Sequence[RecordedTurn], *, speed: float = 1.0, source: str) -> None:
        if not turns:
            raise ConfigurationError(f"the recording {source} holds no turn")
        if not speed > 0:
            raise ConfigurationError(f"replay_speed must be > 0, got {speed!r}")
        self.turns = list(turns)
        self.speed = speed
        self.source = source
        self._next = 0

    @classmethod
    def from_file(
        cls, path: str | os.PathLike[str], *, dialect: str | None = None, speed: float = 1.0
    ) -> ReplayTransport:
        """Read recording ``path`` (see :func:`load_recording`) and play it at ``speed``."""
        return cls(load_recording(path, dialect), speed=speed, source=os.fspath(path))

    def __repr__(self) -> str:
        return f"ReplayTransport(source={self.source!r}, turns={len(self.turns)})"

    def describe(self, url: str) -> str:
        return f"replay of {self.source}"

    @asynccontextmanager
    async def open(self, request: HttpRequest) -> AsyncIterator[ReplayStream]:
        turn = self.turns[self._next % len(self.turns)]
        self._next += 1
        yield ReplayStream(turn, self.speed, request.framing, self.describe(request.url))

    async def call(self, request: HttpRequest) -> Any:
        raise ConfigurationError(
            f"a replayed chat makes no requests ({request.method} {self.describe(request.url)})"
        )

    async def aclose(self) -> None:
        """Nothing to release: the recording was read whole."""


class ReplayStream(DecodedStream):
    """A recorded turn played at its recorded pace divided by ``speed``."""

    def __init__(self, turn: RecordedTurn, speed: float, framing: Framing, url: str) -> None:
        super().__init__(framing, url, 200, turn.content_type)
        self._turn = turn
        self._speed = speed
        self.time_scale = speed if turn.timed else None

    async def chunks(self) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        for at, data in self._turn.chunks:
            delay = start + at / self._speed - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            yield data


__all__ = ["FORMAT", "RecordedTurn", "ReplayStream", "ReplayTransport", "load_recording"]
