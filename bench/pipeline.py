"""Pipeline benchmark: nbchat's kernel side against bare httpx-sse + json.loads.

One loopback server streams the same OpenAI-style body (``--tokens`` chunks, as fast
as the socket takes them: 16 KB pieces, 64 events a write, 1 event a write), and a
*paced* stream of its first 2,000 events, one a write with a 1 ms pause after each, as
a model streams (faster). Unpaced, one event a write is a race: a client that falls
behind reads several events at once and looks cheaper per event, so that figure moves
with the machine's load (least of rounds or not); the paced one has every client read
every event on its own, as in real use, where the event loop's wake-up per event (~150
us) dwarfs both parsers, so its ratio mostly shows that nothing else costs much, and
moves ±10% with the machine. In the same run we measure:

* baseline: ``httpx_sse.aconnect_sse`` + ``aiter_sse`` + ``json.loads`` per event;
* nbchat:  a ``Chat`` with its widget attached (SSE decoding, dialect, accumulation,
  metrics, controller events, batching), history in memory;

and print events/s of each, their ratio, and the bytes that would go to the browser
per streamed token (batches alone, and with the snapshots). Wall-clock rates on a
shared 2-core machine are noisy, so the ratio that matters is also given by CPU: the
client's own thread time per event, the least over rounds (interleaved, so drift
hits all three alike; other work on the machine only ever adds time).
The server runs in a process of its own (as a model server would): in a thread of
the client's process it would take the GIL in turns with the client and blur the
figure. Run: ``make bench``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import multiprocessing
import multiprocessing.queues
import statistics
import sys
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from httpx_sse import aconnect_sse
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from measuring import MeasuringWidget

from nbchat import Chat
from nbchat.server import ServerThread


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


#: events of the paced stream, and the pause after each (a model's pace, faster)
PACED_EVENTS = 2000
PACED_PAUSE_S = 0.001


def make_app(body: bytes) -> Starlette:
    """``/{write}/v1/chat/completions``: the body as 16 KB pieces, ``n`` events a write,
    or (``paced``) its first :data:`PACED_EVENTS` events one a write with a pause after
    each, then its end."""
    events = [e + b"\n\n" for e in body.split(b"\n\n") if e]

    async def stream(request: Request) -> StreamingResponse:
        write = request.path_params["write"]

        async def pieces() -> AsyncIterator[bytes]:
            if write == "16k":
                for start in range(0, len(body), 16384):
                    yield body[start : start + 16384]
                return
            if write == "paced":
                for event in [*events[:PACED_EVENTS], *events[-2:]]:
                    yield event
                    await asyncio.sleep(PACED_PAUSE_S)
                return
            n = int(write)
            for start in range(0, len(events), n):
                yield b"".join(events[start : start + n])

        return StreamingResponse(pieces(), media_type="text/event-stream")

    return Starlette(routes=[Route("/{write}/v1/chat/completions", stream, methods=["POST"])])


async def openai_sdk(url: str) -> tuple[int, float]:
    from openai import AsyncOpenAI

    async with AsyncOpenAI(base_url=url + "/v1", api_key="bench") as client:
        cpu = time.thread_time()
        count = 0
        stream = await client.chat.completions.create(model="bench", messages=[], stream=True)
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content is not None:
                count += 1
        return count, time.thread_time() - cpu


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
    return tokens, elapsed, widget.message_bytes, widget.trait_bytes, cpu


def serve(tokens: int, urls: multiprocessing.queues.Queue[str]) -> None:
    """The server process: serve ``make_body(tokens)`` until killed."""
    server = ServerThread(make_app(make_body(tokens)))
    urls.put(server.start())
    threading.Event().wait()


async def main(tokens: int, rounds: int, writes: list[str]) -> None:
    body = make_body(tokens)
    spawn = multiprocessing.get_context("spawn")
    urls: multiprocessing.queues.Queue[str] = spawn.Queue()
    server = spawn.Process(target=serve, args=(tokens, urls), daemon=True)
    server.start()
    root = urls.get(timeout=60)
    try:
        size = len(body) / 1e6
        print(f"stream: {tokens} events, {size:.1f} MB over loopback; least of {rounds} rounds")
        print("CPU per event (the client's thread), as a ratio to httpx-sse + json.loads:")
        for write in writes:
            url = f"{root}/{write}"
            base_cpus, nb_cpus, sdk_cpus = [], [], []
            base_rates, nb_rates, per_token, per_token_all = [], [], [], []
            for _ in range(rounds):  # paired within a round
                # Each starts without the others' garbage (the SDK leaves plenty).
                gc.collect()
                count, seconds, base_cpu = await baseline(url)
                base_rates.append(count / seconds)
                base_cpus.append(base_cpu / count)
                gc.collect()
                n, seconds, batch_bytes, snap_bytes, nb_cpu = await pipeline(url)
                nb_rates.append(n / seconds)
                nb_cpus.append(nb_cpu / n)
                gc.collect()
                sdk_n, sdk_cpu = await openai_sdk(url)
                sdk_cpus.append(sdk_cpu / sdk_n)
                per_token.append(batch_bytes / n)
                per_token_all.append((batch_bytes + snap_bytes) / n)
            # The least CPU each took: other work on the machine only ever adds time.
            base_us = min(base_cpus)
            nb, sdk = min(nb_cpus) / base_us, min(sdk_cpus) / base_us
            # And the ratio within each round (the three ran back to back), its median:
            # steadier where the least swings with how many events each read caught.
            paired = statistics.median(n / b for n, b in zip(nb_cpus, base_cpus, strict=True))
            label = {"16k": "16 KB pieces", "paced": "1 a write, paced"}.get(
                write, f"{write} event(s) a write"
            )
            print(f"  {label:<18} nbchat {nb:5.2f} (paired median {paired:4.2f})   "
                  f"openai SDK {sdk:5.2f}   nbchat / openai {nb / sdk:5.2f}   "
                  f"(httpx-sse {base_us * 1e6:.1f} us)")  # fmt: skip
        base, rate = statistics.median(base_rates), statistics.median(nb_rates)
        print(f"wall clock, 16 KB pieces: httpx-sse {base:,.0f} events/s, nbchat {rate:,.0f}")
        print(f"bytes toward browser per token  : {statistics.median(per_token):12.1f} (batches)")
        print(f"          incl. snapshot and head: {statistics.median(per_token_all):12.1f}")
    finally:
        server.kill()
        server.join()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument(
        "--writes",
        nargs="+",
        default=["paced", "1", "64", "16k"],
        choices=["paced", "1", "64", "16k"],
        help="which streams to measure (default: all)",
    )
    args = parser.parse_args()
    asyncio.run(main(args.tokens, args.rounds, args.writes))
