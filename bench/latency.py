"""Turn latency benchmark: the first turn of a chat vs later ones (kept-alive client).

A demo server on loopback (1,000 tokens/s, so the model's pace does not hide the
client's) answers a chat six times. For each turn, measured in this run: the time
from ``send`` to the first event in the kernel and to the first widget message, and
the kernel thread's CPU for the whole turn. The first turn opens the loop's pooled
connection; later ones reuse it. Printed: turn 1, the median of turns 2-6, and their
ratio. Run: ``make bench``.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nbchat import Chat
from nbchat.changes import Change, TextAppended
from nbchat.server import ServerThread, create_app
from nbchat.widget import ChatWidget


class TimingWidget(ChatWidget):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.first_send: float | None = None
        super().__init__(*args, **kwargs)

    def send(self, content: Any, buffers: Any = None) -> None:
        batch = content.get("type") == "batch"
        if self.first_send is None and batch and any(op["op"] == "text" for op in content["ops"]):
            self.first_send = time.perf_counter()


async def turn(chat: Chat, widget: TimingWidget) -> tuple[float, float, float]:
    first_event: list[float] = []

    def on_change(change: Change) -> None:
        if isinstance(change, TextAppended) and not first_event:
            first_event.append(time.perf_counter())

    unsubscribe = chat.subscribe(on_change)
    widget.first_send = None
    started, cpu = time.perf_counter(), time.thread_time()
    message = await chat.send("Explain numpy broadcasting")
    cpu = time.thread_time() - cpu
    unsubscribe()
    assert message.status == "done", message.error
    assert widget.first_send is not None
    return first_event[0] - started, widget.first_send - started, cpu


async def main() -> None:
    server = ServerThread(create_app(tokens_per_second=1000.0))
    url = server.start()
    try:
        chat = Chat(url + "/v1", model="demo", history=None)
        widget = TimingWidget(chat)
        runs = [await turn(chat, widget) for _ in range(6)]
        widget.close()
    finally:
        server.stop()
    first, later = runs[0], runs[1:]
    print("turn latency, demo server on loopback (first turn vs median of turns 2-6)")
    for i, label in enumerate(["to first event", "to first widget msg", "kernel CPU/turn"]):
        a = first[i] * 1000
        b = statistics.median(r[i] for r in later) * 1000
        print(f"  {label:<20} first: {a:7.1f} ms   later: {b:7.1f} ms   ratio {a / b:5.1f}")


if __name__ == "__main__":
    asyncio.run(main())
