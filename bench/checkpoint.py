"""Checkpoint benchmark: what saving a streaming reply every second costs.

A reply is saved when its turn starts and then about once a second while it streams
(``nbchat.turn.CHECKPOINT_S``), so a crash loses at most a second of text. Measured in
the same run:

* one checkpoint (an UPDATE of the reply's row in a WAL SQLite file) for replies of
  10 KB, 100 KB and 1 MB, as milliseconds and as a share of the second between two
  checkpoints;
* the kernel CPU of a whole streamed turn (2,000 events over 3 s, in-process
  transport) with the default SQLite history against the same turn with history in
  memory (no checkpoints): the ratio is the checkpoints' cost.

Run: ``make bench``.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nbchat import ChatController
from nbchat.history import SqliteHistory
from nbchat.message import Message
from nbchat.stream import DecodedStream, HttpRequest

EVENT = b'data: {"choices":[{"index":0,"delta":{"content":"token "}}]}\n\n'
END = b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'


class PacedStream(DecodedStream):
    def __init__(self, request: HttpRequest, events: int, seconds: float) -> None:
        super().__init__(request.framing, request.url, 200, "text/event-stream")
        self._events = events
        self._pause = seconds / events

    async def chunks(self) -> AsyncIterator[bytes]:
        for _ in range(self._events):
            await asyncio.sleep(self._pause)
            yield EVENT
        yield END


class PacedTransport:
    def __init__(self, events: int, seconds: float) -> None:
        self.events, self.seconds = events, seconds

    def describe(self, url: str) -> str:
        return url

    @asynccontextmanager
    async def open(self, request: HttpRequest) -> AsyncIterator[PacedStream]:
        yield PacedStream(request, self.events, self.seconds)

    async def call(self, request: HttpRequest) -> Any:
        return None

    async def aclose(self) -> None:
        pass


def save_cost(folder: Path, size: int, rounds: int = 30) -> float:
    store = SqliteHistory(folder / f"save-{size}.sqlite3")
    message = Message("assistant", "x" * size, status="streaming")
    costs = []
    for _ in range(rounds):
        started = time.perf_counter()
        store.save("bench", message.to_record())
        costs.append(time.perf_counter() - started)
    store.close()
    return statistics.median(costs)


async def turn_cpu(history: object) -> float:
    chat = ChatController("http://bench/v1", model="m", transport=PacedTransport(2000, 3.0),
                          history=history, name="bench")  # fmt: skip
    started = time.process_time()
    message = await chat.send("go")
    assert message.status == "done", message.error
    return time.process_time() - started


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print("checkpoint: one save of a streaming reply (median of 30)")
        for size in (10_000, 100_000, 1_000_000):
            cost = save_cost(folder, size)
            share = cost * 100  # of the second between two checkpoints
            print(
                f"  {size / 1000:>6,.0f} KB reply : {cost * 1000:8.2f} ms = {share:6.2f} % of 1 s"
            )
        await turn_cpu(None)  # warm up
        memory_runs, disk_runs = [], []
        for i in range(5):  # interleaved, so drift hits both alike
            memory_runs.append(await turn_cpu(None))
            disk_runs.append(await turn_cpu(folder / f"turn-{i}.sqlite3"))
        memory, disk = statistics.median(memory_runs), statistics.median(disk_runs)
        print("a 3 s turn of 2,000 events (kernel CPU, median of 5)")
        print(f"  history in memory (no checkpoints): {memory * 1000:8.1f} ms")
        print(f"  SQLite history, checkpoint each 1 s: {disk * 1000:8.1f} ms")
        print(f"  ratio                              : {disk / memory:8.2f}")


if __name__ == "__main__":
    asyncio.run(main())
