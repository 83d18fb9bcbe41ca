"""Load test of the sessions API: N concurrent streaming sessions over loopback.

An ``nbchat serve`` subprocess (demo model at ``--tps`` tokens/s, SQLite file in a
temporary folder, no concurrency limit) gets ``--sessions`` clients at once; each
creates a session, sends a message and reads its reply as server-sent events. Then
every session is read back and checked: the stored user message, and an assistant
message ``done`` whose text equals both the streamed chunks and the ``complete``
event's content (no lost or doubled message). Prints the time to first chunk
(p50/p95/max, from sending the chat request), the reply times and the total.
One warm-up session runs first (a server that has already served; its first
request pays for lazy imports). Everything is bounded by ``--timeout``; the exit
status is 1 if any session failed.

Run: ``.venv/bin/python bench/sessions.py`` (``--sessions 50 --tps 100`` by default).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nbchat.stream.sse import SSEDecoder  # noqa: E402
from tests.net import free_port  # noqa: E402


@dataclass
class Outcome:
    session_id: str
    first_chunk_s: float
    reply_s: float
    streamed: str
    completed: str
    chunks: int


async def one_session(client: httpx.AsyncClient, index: int) -> Outcome:
    created = await client.post("/sessions", json={"title": f"bench {index}"})
    created.raise_for_status()
    session_id = created.json()["id"]
    message = f"Session {index}: how do I compute a rolling mean of column {index} in pandas?"
    decoder = SSEDecoder()
    parts: list[str] = []
    completed = ""
    first = 0.0
    started = time.perf_counter()
    async with client.stream(
        "POST", f"/sessions/{session_id}/chat", json={"message": message}
    ) as response:
        response.raise_for_status()
        async for chunk in response.aiter_bytes():
            for event in decoder.feed(chunk):
                data = json.loads(event.data)
                if event.event == "chunk":
                    if not parts:
                        first = time.perf_counter() - started
                    parts.append(data["content"])
                elif event.event == "complete":
                    completed = data["content"]
                else:
                    raise RuntimeError(f"session {index}: {event.event} {data}")
    return Outcome(
        session_id, first, time.perf_counter() - started, "".join(parts), completed, len(parts)
    )


async def check(client: httpx.AsyncClient, outcome: Outcome) -> list[str]:
    stored = (await client.get(f"/sessions/{outcome.session_id}")).json()["messages"]
    problems = []
    roles = [(m["role"], m["status"]) for m in stored]
    if roles != [("user", "done"), ("assistant", "done")]:
        problems.append(f"{outcome.session_id}: stored {roles}")
    elif stored[1]["content"] != outcome.streamed:
        problems.append(f"{outcome.session_id}: stored reply differs from the streamed one")
    if outcome.completed != outcome.streamed:
        problems.append(f"{outcome.session_id}: complete differs from the chunks")
    if not outcome.streamed:
        problems.append(f"{outcome.session_id}: no text streamed")
    return problems


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def start_server(port: int, tps: float, db: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NBCHAT_DATA_DIR": str(db.parent)}
    env.pop("NBCHAT_SERVER_TOKEN", None)
    command = [sys.executable, "-m", "nbchat", "serve", "--port", str(port), "--tps", str(tps)]
    command += ["--db", str(db), "--max-concurrent", "0", "--log-level", "warning"]
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )


async def wait_healthy(url: str, proc: subprocess.Popen[str]) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=1) as client:
        for _ in range(400):
            if proc.poll() is not None:
                raise RuntimeError(
                    f"the server exited: {proc.stderr.read() if proc.stderr else ''}"
                )
            try:
                if (await client.get("/health")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError("the server did not start")


async def run(sessions: int, tps: float, timeout: float) -> int:  # noqa: ASYNC109
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "bench.sqlite3"
        proc = start_server(port, tps, db)
        try:
            await wait_healthy(url, proc)
            limits = httpx.Limits(max_connections=sessions * 2, max_keepalive_connections=sessions)
            # TCP_NODELAY: httpx writes a POST's headers and body apart, which Nagle +
            # delayed ACK can hold back 40 ms; that would be the client's cost, not the
            # server's.
            transport = httpx.AsyncHTTPTransport(
                limits=limits, socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
            )
            async with httpx.AsyncClient(base_url=url, timeout=30, transport=transport) as client:
                await one_session(client, -1)  # warm-up: a server that has served before
                started = time.perf_counter()
                outcomes = await asyncio.wait_for(
                    asyncio.gather(*(one_session(client, i) for i in range(sessions))), timeout
                )
                total = time.perf_counter() - started
                problems = [p for o in outcomes for p in await check(client, o)]
        finally:
            proc.terminate()
            proc.communicate(timeout=15)
    firsts = [o.first_chunk_s * 1000 for o in outcomes]
    replies = [o.reply_s for o in outcomes]
    chunks = sum(o.chunks for o in outcomes)
    print(f"{sessions} concurrent streaming sessions, demo model at {tps:g} tokens/s, SQLite file")
    print(f"time to first chunk  p50 {percentile(firsts, 0.5):7.1f} ms   "
          f"p95 {percentile(firsts, 0.95):7.1f} ms   max {max(firsts):7.1f} ms")  # fmt: skip
    print(f"reply time           p50 {statistics.median(replies):7.2f} s    "
          f"max {max(replies):7.2f} s")  # fmt: skip
    print(f"total wall time          {total:7.2f} s  ({chunks} chunks, {chunks / total:,.0f}/s)")
    print(f"messages checked         {2 * sessions}, lost or different: {len(problems)}")
    for problem in problems[:10]:
        print("  " + problem)
    return 1 if problems else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--tps", type=float, default=100.0)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds for all sessions")
    args = parser.parse_args()
    raise SystemExit(asyncio.run(run(args.sessions, args.tps, args.timeout)))
