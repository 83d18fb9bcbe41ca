"""History-length benchmark: does a turn cost more in a long chat than in a new one?

The same 200-token turn (in-process transport: no network, no disk) is run in a chat
with an empty history and in one with 10,000 earlier messages, each with its widget
attached. Printed, each measured in this run:

* kernel CPU of the turn, and its ratio long / new (the goal is <= 1.2), with the
  default context limit (the newest 100 messages are sent), and the CPU of building
  the request with no limit, for comparison (10,000 messages are ~3 MB of JSON);
* bytes sent toward the browser during the turn (snapshot traits + batches);
* the widget's first message size when a view opens (the snapshot);
* the static transcript (HTML, Markdown, text) written into the cell's saved output.

Run: ``make bench``.
"""

from __future__ import annotations

import asyncio
import gc
import json
import statistics
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from measuring import MeasuringWidget

from nbchat import Chat, ContextLimit, Message
from nbchat.dialects import get_dialect
from nbchat.stream import DecodedStream, HttpRequest

TOKENS = 200
HISTORY = 10_000


def body() -> list[bytes]:
    event = b'data: {"choices":[{"index":0,"delta":{"content":"word "}}]}\n\n'
    end = b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
    return [event] * TOKENS + [end, b"data: [DONE]\n\n"]


class Stream(DecodedStream):
    async def chunks(self) -> AsyncIterator[bytes]:
        for chunk in body():
            await asyncio.sleep(0)
            yield chunk


class Transport:
    def describe(self, url: str) -> str:
        return url

    @asynccontextmanager
    async def open(self, request: HttpRequest) -> AsyncIterator[Stream]:
        yield Stream(request.framing, request.url, 200, "text/event-stream")

    async def call(self, request: HttpRequest) -> Any:
        return None

    async def aclose(self) -> None:
        pass


def chat_with(history: int) -> Chat:
    chat = Chat("http://bench/v1", model="m", history=None, transport=Transport())
    for i in range(history):
        role = "user" if i % 2 == 0 else "assistant"
        chat.messages.append(Message(role, f"message {i}: " + "lorem ipsum dolor sit amet " * 20))
    return chat


async def turn(history: int) -> tuple[float, int, int, int, float]:
    chat = chat_with(history)
    widget = MeasuringWidget(chat)
    opened = len(json.dumps(widget.snapshot))
    widget.reset()
    gc.collect()  # not the garbage of building 10,000 messages
    started = time.process_time()
    message = await chat.send("go")
    widget.flush()
    cpu = time.process_time() - started
    assert message.status == "done", message.error
    started = time.process_time()
    everything = ContextLimit(messages=None)
    context_messages = chat.conversation.context(chat.system, everything, until=message)
    get_dialect(chat.endpoint.dialect).request(chat.endpoint, context_messages)
    unlimited = time.process_time() - started
    markdown = sum(len(v) for v in chat._transcript_bundle().values())
    widget.close()
    return cpu, widget.bytes, opened, markdown, unlimited


async def main(rounds: int) -> None:
    await turn(0)  # warm up
    new: list[tuple[float, int, int, int, float]] = []
    long: list[tuple[float, int, int, int, float]] = []
    for _ in range(rounds):  # interleaved, so drift hits both alike
        new.append(await turn(0))
        long.append(await turn(HISTORY))

    def median(runs: list[tuple[float, int, int, int, float]], i: int) -> float:
        return statistics.median(r[i] for r in runs)

    def least(runs: list[tuple[float, int, int, int, float]], i: int) -> float:
        return min(r[i] for r in runs)  # other work on the machine only ever adds time

    print(f"a {TOKENS}-token turn, new chat vs {HISTORY:,} messages of history ({rounds} rounds)")
    rows = [("kernel CPU ms", least, 0, 1000.0), ("bytes sent", median, 1, 1.0)]
    for label, pick, i, scale in rows:
        a, b = pick(new, i) * scale, pick(long, i) * scale
        print(f"  {label:<16} new: {a:>12,.1f}   long: {b:>14,.1f}   ratio {b / a:8.2f}")
    for label, i, scale in [
        ("widget open B", 2, 1),
        ("saved output B", 3, 1),
        ("no-limit req ms", 4, 1000),
    ]:
        a, b = median(new, i) * scale, median(long, i) * scale
        print(f"  {label:<16} new: {a:>12,.1f}   long: {b:>14,.1f}")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 9))
