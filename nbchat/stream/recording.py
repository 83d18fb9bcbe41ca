"""Record raw response streams while chatting: a wrapper around any transport.

``chat.record(path)`` wraps the chat's transport in a :class:`RecordingTransport`:
requests go through the wrapped transport unchanged, and the body of every response
is appended to a JSON Lines file that :class:`~nbchat.stream.replay.ReplayTransport`
plays back (the format is described there). Only response bytes are kept: no request
headers, so no API key; a key that a server echoes back in its body is replaced by
``***`` too. A recording that cannot be written is logged and stopped; it never
breaks the reply.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import IO, Any

from nbchat.errors import HistoryError
from nbchat.stream.base import DecodedStream, HttpRequest, Transport
from nbchat.stream.replay import FORMAT

log = logging.getLogger("nbchat")


class Recorder:
    """Appends the raw stream of each response to an open recording file.

    :meth:`open` opens (or creates) the file; the constructor takes it open.
    """

    def __init__(
        self, path: Path, file: IO[str], *, turns: int = 0, secrets: tuple[str, ...] = ()
    ) -> None:
        self.path = path
        self._file: IO[str] | None = file
        self._turn = turns
        self._secrets = tuple(s for s in secrets if len(s) >= 8)
        self._started = 0.0

    @classmethod
    def open(cls, path: str | os.PathLike[str], secrets: tuple[str, ...] = ()) -> Recorder:
        """Open ``path`` for appending (writing the header line to a new file).

        Raises
        ------
        HistoryError
            The file cannot be created or written.
        """
        file = Path(path)
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
            fresh = not file.exists() or file.stat().st_size == 0
            turns = 0 if fresh else _count_turns(file)
            handle = file.open("a", encoding="utf-8")
        except OSError as exc:
            raise HistoryError(f"cannot write the recording {file}: {exc}") from exc
        recorder = cls(file, handle, turns=turns, secrets=secrets)
        if fresh:
            recorder._write({"format": FORMAT, "version": 1})
        return recorder

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


def _count_turns(path: Path) -> int:
    with path.open(encoding="utf-8") as lines:
        return sum(1 for line in lines if line.startswith('{"turn"'))


class RecordingTransport:
    """``inner`` with every response body also written to ``recorder``."""

    def __init__(self, inner: Transport, recorder: Recorder) -> None:
        self.inner = inner
        self.recorder: Recorder | None = recorder

    def __repr__(self) -> str:
        where = self.recorder.path if self.recorder is not None else None
        return f"RecordingTransport({self.inner!r}, to={str(where)!r})"

    def describe(self, url: str) -> str:
        return self.inner.describe(url)

    @asynccontextmanager
    async def open(self, request: HttpRequest) -> AsyncIterator[DecodedStream]:
        async with self.inner.open(request) as stream:
            self._record(lambda r: r.start(request.dialect, request.model, stream.content_type))
            stream.taps.append(self._chunk)
            try:
                yield stream
            finally:
                self._record(Recorder.end)

    async def call(self, request: HttpRequest) -> Any:
        return await self.inner.call(request)

    async def aclose(self) -> None:
        """Close the recording file (the inner transport is its owner's to close)."""
        self.close()

    def close(self) -> None:
        recorder, self.recorder = self.recorder, None
        if recorder is not None:
            recorder.close()

    def _chunk(self, data: bytes) -> None:
        self._record(lambda r: r.chunk(data))

    def _record(self, write: Callable[[Recorder], None]) -> None:
        recorder = self.recorder
        if recorder is None:
            return
        try:
            write(recorder)
        except HistoryError as exc:
            # A recording that cannot be written must not break the reply.
            log.error("nbchat: %s; recording stopped", exc)
            self.close()


def recording_of(
    transport: Transport, path: str | os.PathLike[str] | None, secrets: tuple[str, ...] = ()
) -> Transport:
    """``transport`` recording to ``path`` (a recording already on it ends); None: no recording."""
    if isinstance(transport, RecordingTransport):
        transport.close()
        transport = transport.inner
    if path is None:
        return transport
    return RecordingTransport(transport, Recorder.open(path, secrets))


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


__all__ = ["Recorder", "Recording", "RecordingTransport", "recording_of"]
