"""Pipeline benchmark: nbchat's kernel side against bare httpx-sse + json.loads.

One loopback server streams the same OpenAI-style body (``--tokens`` chunks, as fast
as the socket takes them). In the same run we measure:

* baseline: ``httpx_sse.aconnect_sse`` + ``aiter_sse`` + ``json.loads`` per event;
* nbchat:  a ``Chat`` with its widget attached (SSE decoding, dialect, accumulation,
  metrics, controller events, batching), history in memory;

and print events/s of each, their ratio, and the bytes that would go to the browser
per streamed token (batches alone, and with the snapshots). Wall-clock rates on a
shared 2-core machine are noisy, so the ratio that matters is also given by CPU: the
client's own thread time per event (the server runs in another thread), paired
within each round, median over rounds. Run: ``make bench``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from httpx_sse import aconnect_sse
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nbchat import Chat
from nbchat.server import ServerThread
from nbchat.widget import ChatWidget


def make_body(tokens: int) -> bytes:
    words = ["lorem", " ipsum", " dolor", " sit", " amet", ",", " consectetur", "\n"]
    parts = []
    for i in range(tokens):
        chunk = {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "bench",
            "choices": [{"index": 0, "delta": {"content": words[i % len(words)]}}],
        }
        parts.append(f"data: {json.dumps(chunk)}\n\n")
    end = {"id": "x", "object": "chat.completion.chunk", "created": 1, "model": "bench",
           "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}  # fmt: skip
    parts.append(f"data: {json.dumps(end)}\n\ndata: [DONE]\n\n")
    return "".join(parts).encode()


def make_app(body: bytes) -> Starlette:
    async def stream(_request: Request) -> StreamingResponse:
        async def pieces() -> AsyncIterator[bytes]:
            for start in range(0, len(body), 16384):
                yield body[start : start + 16384]

        return StreamingResponse(pieces(), media_type="text/event-stream")

    return Starlette(routes=[Route("/v1/chat/completions", stream, methods=["POST"])])


async def baseline(url: str) -> tuple[int, float, float]:
    async with httpx.AsyncClient(timeout=60) as client:
        started = time.perf_counter()
        cpu = time.thread_time()
        count = 0
        async with aconnect_sse(client, "POST", url + "/v1/chat/completions", json={}) as source:
            async for sse in source.aiter_sse():
                if sse.data != "[DONE]":
                    json.loads(sse.data)
                    count += 1
        return count, time.perf_counter() - started, time.thread_time() - cpu


class MeasuringWidget(ChatWidget):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.batch_bytes = 0
        self.snapshot_bytes = 0
        super().__init__(*args, **kwargs)
        self.observe(self._count_snapshot, "snapshot")

    def _count_snapshot(self, change: dict[str, Any]) -> None:
        self.snapshot_bytes += len(json.dumps(change["new"]))

    def send(self, content: Any, buffers: Any = None) -> None:
        self.batch_bytes += len(json.dumps(content))


async def pipeline(url: str) -> tuple[int, float, int, int, float]:
    chat = Chat(url + "/v1", model="bench", history=None, name="bench")
    widget = MeasuringWidget(chat)
    started = time.perf_counter()
    cpu = time.thread_time()
    message = await chat.send("go")
    elapsed = time.perf_counter() - started
    cpu = time.thread_time() - cpu
    widget.flush()
    assert message.status == "done", message.error
    tokens = message.metrics.get("output_tokens", 0)
    widget.close()
    return tokens, elapsed, widget.batch_bytes, widget.snapshot_bytes, cpu


async def main(tokens: int, rounds: int) -> None:
    body = make_body(tokens)
    server = ServerThread(make_app(body))
    url = server.start()
    try:
        base_rates, nb_rates, per_token, per_token_all, cpu_ratios = [], [], [], [], []
        for _ in range(rounds):
            count, seconds, base_cpu = await baseline(url)
            base_rates.append(count / seconds)
            n, seconds, batch_bytes, snap_bytes, nb_cpu = await pipeline(url)
            nb_rates.append(n / seconds)
            cpu_ratios.append((nb_cpu / n) / (base_cpu / count))
            per_token.append(batch_bytes / n)
            per_token_all.append((batch_bytes + snap_bytes) / n)
    finally:
        server.stop()
    base, nb = statistics.median(base_rates), statistics.median(nb_rates)
    print(f"stream: {tokens} chunks, {len(body) / 1e6:.1f} MB over loopback; median of {rounds}")
    print(f"baseline httpx-sse + json.loads : {base:12,.0f} events/s")
    print(f"nbchat pipeline with widget     : {nb:12,.0f} events/s")
    print(f"ratio nbchat / baseline         : {nb / base:12.2f}")
    cpu = statistics.median(cpu_ratios)
    print(f"CPU per event, nbchat / baseline: {cpu:12.2f}  (events/s ratio {1 / cpu:.2f})")
    print(f"bytes toward browser per token  : {statistics.median(per_token):12.1f} (batches)")
    print(f"                  incl. snapshots: {statistics.median(per_token_all):12.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.tokens, args.rounds))
