"""Recordings of raw response streams: write them while chatting, play them back offline.

A recording is a JSON Lines file. The first line says what it is; then each turn is a
``turn`` line, its body as ``chunk`` lines (arrival time in seconds since the request
and the bytes, as text when they are UTF-8, else base64) and an ``end`` line::

    {"format": "nbchat-recording", "version": 1}
    {"turn": 1, "dialect": "openai-chat", "model": "m", "content_type": "text/event-stream"}
    {"t": 0.412, "text": "data: {...}\\n\\n"}
    {"end": 1, "t": 2.301}

Only response bytes are kept: no request headers, so no API key; a key that a server
echoes back in its body is replaced by ``***`` too. Any other file (a raw ``.sse``
body such as the provider fixtures) plays as one turn, one event every
:data:`RAW_EVENT_INTERVAL_S` seconds at speed 1.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from nbchat.dialects.base import DecodedStream, Framing
from nbchat.errors import ConfigurationError, HistoryError
from nbchat.sse import ServerSentEvent

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


class Recorder:
    """Appends the raw stream of each turn to a recording file (``chat.record(path)``)."""

    def __init__(self, path: str | os.PathLike[str], secrets: tuple[str, ...] = ()) -> None:
        self.path = Path(path)
        self._secrets = tuple(s for s in secrets if len(s) >= 8)
        self._file: IO[str] | None = None
        self._turn = 0
        self._started = 0.0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fresh = not self.path.exists() or self.path.stat().st_size == 0
            self._file = self.path.open("a", encoding="utf-8")
            if fresh:
                self._write({"format": FORMAT, "version": 1})
            else:
                self._turn = sum(1 for _ in _turn_lines(self.path))
        except OSError as exc:
            raise HistoryError(f"cannot write the recording {self.path}: {exc}") from exc

    def start(self, dialect: str, model: str, content_type: str | None) -> None:
        """A response opened: its chunks follow."""
        self._turn += 1
        self._started = time.monotonic()
        self._write(
            {"turn": self._turn, "dialect": dialect, "model": model, "content_type": content_type}
        )

    def chunk(self, data: bytes) -> None:
        line: dict[str, Any] = {"t": round(time.monotonic() - self._started, 4)}
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            line["b64"] = base64.b64encode(data).decode("ascii")
        else:
            for secret in self._secrets:
                text = text.replace(secret, "***")
            line["text"] = text
        self._write(line)

    def end(self) -> None:
        self._write({"end": self._turn, "t": round(time.monotonic() - self._started, 4)})

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _write(self, obj: dict[str, Any]) -> None:
        if self._file is None:
            return
        try:
            self._file.write(json.dumps(obj, ensure_ascii=False) + "\n")
            self._file.flush()
        except OSError as exc:
            raise HistoryError(f"cannot write the recording {self.path}: {exc}") from exc


def _turn_lines(path: Path) -> Iterator[str]:
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.startswith('{"turn"'):
                yield line


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
    turn = RecordedTurn(dialect, None)
    turn.chunks = [(i * RAW_EVENT_INTERVAL_S, p) for i, p in enumerate(pieces) if p]
    return turn


class ReplayStream(DecodedStream):
    """A recorded turn played at its recorded pace divided by ``speed``.

    Same attributes and iteration as :class:`nbchat.transport.EventStream`.
    """

    def __init__(self, turn: RecordedTurn, speed: float, framing: Framing, url: str) -> None:
        super().__init__(framing, url, 200, turn.content_type)
        self._turn = turn
        self._speed = speed

    async def batches(self) -> AsyncIterator[list[ServerSentEvent]]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        for at, data in self._turn.chunks:
            delay = start + at / self._speed - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self.bytes_received += len(data)
            events = self._decoder.feed(data)
            if events:
                yield events
        events = self._decoder.close()
        if events:
            yield events


@asynccontextmanager
async def open_replay(
    turn: RecordedTurn, speed: float, framing: Framing, url: str
) -> AsyncIterator[ReplayStream]:
    """The recorded turn as a stream (the replay twin of ``transport.open_events``)."""
    yield ReplayStream(turn, speed, framing, url)


class Recording:
    """Returned by ``chat.record(path)``: ends the recording when its ``with`` block ends."""

    def __init__(self, stop: Callable[[], object]) -> None:
        self._stop = stop

    def stop(self) -> None:
        """Stop recording (later turns are not saved)."""
        self._stop()

    def __enter__(self) -> Recording:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = [
    "RecordedTurn",
    "Recorder",
    "Recording",
    "ReplayStream",
    "load_recording",
    "open_replay",
]
