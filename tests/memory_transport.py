"""An in-process transport for tests: canned bodies, no socket, no file."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from nbchat.errors import StreamFailure
from nbchat.stream import DecodedStream, HttpRequest

#: a body's chunks (a failure among them is raised when reached), or a failure to open
Body = Sequence[bytes | StreamFailure] | StreamFailure


class MemoryStream(DecodedStream):
    def __init__(
        self, chunks: Sequence[bytes | StreamFailure], request: HttpRequest, pause: float
    ) -> None:
        super().__init__(request.framing, request.url, 200, "text/event-stream")
        self._chunks = chunks
        self._pause = pause

    async def chunks(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            await asyncio.sleep(self._pause)
            if isinstance(chunk, StreamFailure):
                raise chunk
            yield chunk


class MemoryTransport:
    """Answers the n-th request with ``bodies[n]``: its chunks, or the failure it raises.

    ``pause`` seconds pass before each chunk; ``requests`` lists what was opened.
    """

    def __init__(self, *bodies: Body, pause: float = 0.0) -> None:
        self.bodies = list(bodies)
        self.pause = pause
        self.requests: list[HttpRequest] = []
        self.closed = 0

    def describe(self, url: str) -> str:
        return f"memory:{url}"

    @asynccontextmanager
    async def open(self, request: HttpRequest) -> AsyncIterator[MemoryStream]:
        self.requests.append(request)
        body = self.bodies[min(len(self.requests), len(self.bodies)) - 1]
        if isinstance(body, StreamFailure):
            raise body
        try:
            yield MemoryStream(body, request, self.pause)
        finally:
            self.closed += 1

    async def call(self, request: HttpRequest) -> Any:
        self.requests.append(request)
        return {}

    async def aclose(self) -> None:
        pass


def openai_body(*pieces: str, done: bool = True) -> list[bytes]:
    """An OpenAI chat completions stream of ``pieces``, one chunk per event."""
    chunks = [
        f'data: {{"choices":[{{"index":0,"delta":{{"content":{_json(p)}}}}}]}}\n\n'.encode()
        for p in pieces
    ]
    if done:
        chunks.append(b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n')
        chunks.append(b"data: [DONE]\n\n")
    return chunks


def _json(text: str) -> str:
    import json

    return json.dumps(text)
