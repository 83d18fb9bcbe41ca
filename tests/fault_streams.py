"""A loopback server for the stream-policy tests: drops, stalls, retries, redirects, gzip.

Every case answers ``POST /{case}/chat/completions`` in the OpenAI Chat dialect and
ends by itself (bounded sleeps only), so a client bug shows up as a failed assertion
or a per-test timeout, never as a hung suite. The server remembers, per case, each
request's arrival time and headers (``log``) so tests can assert how many requests
were made, when, and with which credentials.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email.utils import formatdate

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

SSE = "text/event-stream"
DONE = b"data: [DONE]\n\n"
WORDS = ["Alpha ", "beta ", "gamma ", "delta ", "epsilon ", "zeta"]
FULL = "".join(WORDS)


def chunk(text: str, finish: str | None = None, event_id: str | None = None) -> bytes:
    body = {"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}]}
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}data: {json.dumps(body)}\n\n".encode()


def words(start: int = 0, ids: bool = True) -> list[bytes]:
    return [
        chunk(w, event_id=str(i + 1) if ids else None) for i, w in enumerate(WORDS) if i >= start
    ]


class Dropped(Exception):
    """Raised inside a streaming body: uvicorn closes the connection mid-response."""


@dataclass
class Seen:
    """What one case saw: arrival times and headers of each request."""

    times: list[float] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    bodies: list[object] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.times)

    def add(self, request: Request, raw: bytes) -> int:
        """Note one request (its body ``raw``, read already); its number in the case."""
        self.times.append(time.monotonic())
        self.headers.append({k.lower(): v for k, v in request.headers.items()})
        try:
            self.bodies.append(json.loads(raw) if raw else None)
        except json.JSONDecodeError:
            self.bodies.append(raw.decode(errors="replace"))
        return self.count


class FaultStreams:
    """The app plus what it saw, per case (read from the test thread)."""

    def __init__(self) -> None:
        self.seen: dict[str, Seen] = {}
        self.lock = threading.Lock()
        self.other_origin = ""  # set by the fixture: http://localhost:<port>
        self.finished: dict[str, float] = {}

    def log(self, case: str) -> Seen:
        with self.lock:
            return self.seen.setdefault(case, Seen())


async def _paced(parts: list[bytes], pause: float) -> AsyncIterator[bytes]:
    for part in parts:
        yield part
        await asyncio.sleep(pause)


def create_fault_streams() -> tuple[Starlette, FaultStreams]:
    state = FaultStreams()

    async def endpoint(request: Request) -> Response:
        case = request.path_params["case"]
        seen = state.log(case)
        raw = await request.body()
        with state.lock:
            n = seen.add(request, raw)
        last_id = request.headers.get("last-event-id")
        return await _answer(case, n, last_id, request, state)

    routes = [Route("/{case}/chat/completions", endpoint, methods=["POST", "GET"])]
    return Starlette(routes=routes), state


async def _answer(
    case: str, n: int, last_id: str | None, request: Request, state: FaultStreams
) -> Response:
    start = int(last_id) if last_id and last_id.isdigit() else 0

    if case in ("drop-ids", "drop-no-ids", "drop-always"):
        ids = case != "drop-no-ids"

        async def body() -> AsyncIterator[bytes]:
            yield b"retry: 100\n\n" if ids else b""
            parts = words(start, ids=ids)
            cut = 3 if (n == 1 or case == "drop-always") else len(parts)
            for part in parts[:cut]:
                yield part
                await asyncio.sleep(0.01)
            if cut < len(parts) or case == "drop-always":
                raise Dropped(case)
            yield chunk("", "stop") + DONE

        return StreamingResponse(body(), media_type=SSE)

    if case == "eof-ids":  # clean EOF before [DONE] on the first connection
        parts = words(start)
        if n == 1:
            return Response(b"retry: 50\n\n" + b"".join(parts[:2]), media_type=SSE)
        return Response(b"".join(parts) + chunk("", "stop") + DONE, media_type=SSE)

    if case == "restart-ignores-id":  # a server that ignores Last-Event-ID
        parts = words(0)
        if n == 1:
            return Response(b"retry: 50\n\n" + b"".join(parts[:4]), media_type=SSE)
        return Response(b"".join(parts) + chunk("", "stop") + DONE, media_type=SSE)

    if case in ("retry-300", "retry-bogus"):
        field_line = b"retry: 300\n\n" if case == "retry-300" else b"retry: -5\nretry: 1e3\n\n"
        parts = words(start)
        if n == 1:
            return Response(field_line + b"".join(parts[:2]), media_type=SSE)
        return Response(b"".join(parts) + chunk("", "stop") + DONE, media_type=SSE)

    if case == "stall-headers":
        await asyncio.sleep(3)
        return Response(b"".join(words(ids=False)) + DONE, media_type=SSE)

    if case in ("stall-mid", "stall-mid-ids"):
        ids = case == "stall-mid-ids"
        if n > 1:
            parts = words(start, ids=ids)
            return Response(b"".join(parts) + chunk("", "stop") + DONE, media_type=SSE)

        async def stalling() -> AsyncIterator[bytes]:
            yield b"retry: 50\n\n" if ids else b""
            for part in words(0, ids=ids)[:2]:
                yield part
            await asyncio.sleep(3)

        return StreamingResponse(stalling(), media_type=SSE)

    if case == "keepalive":  # 3 s of comments only (longer than a short read timeout)

        async def pings() -> AsyncIterator[bytes]:
            yield chunk("Hi")
            for _ in range(30):
                yield b": keep-alive\n\n"
                await asyncio.sleep(0.1)
            for part in words(ids=False):
                yield part
            yield chunk("", "stop") + DONE

        return StreamingResponse(pings(), media_type=SSE)

    if case == "401-refresh":
        if request.headers.get("authorization") != "Bearer fresh-token":
            body = {"error": {"message": "token expired", "code": "invalid_api_key"}}
            return JSONResponse(body, status_code=401)
        return Response(b"".join(words(ids=False)) + DONE, media_type=SSE)

    if case.startswith("then-ok-"):  # then-ok-<status>[-<form>]: fails once, then streams
        status_text, _, form = case.removeprefix("then-ok-").partition("-")
        if n == 1:
            headers: dict[str, str] = {}
            if form == "seconds":
                headers["retry-after"] = "1"
            elif form == "date":
                headers["retry-after"] = formatdate(time.time() + 2, usegmt=True)
            elif form == "ms":
                headers["retry-after-ms"] = "200"
            elif form == "long":
                headers["retry-after"] = "3600"
            return JSONResponse(
                {"error": {"message": f"try later ({status_text})"}},
                status_code=int(status_text),
                headers=headers,
            )
        return Response(b"".join(words(ids=False)) + DONE, media_type=SSE)

    if case.startswith("always-"):  # always-<status>-<json|html|empty>
        status_text, _, kind = case.removeprefix("always-").partition("-")
        status = int(status_text)
        if kind == "json":
            body = {"success": False, "error": {"message": "model crashed", "code": "AI_ERROR"}}
            return JSONResponse(body, status_code=status)
        if kind == "html":
            page = "<html><head><title>Gateway Timeout</title></head><body>x</body></html>"
            return Response(page, status_code=status, media_type="text/html")
        return Response(b"", status_code=status)

    if case == "invalid-utf8":
        body = chunk("caf") + b'data: {"choices":[{"delta":{"content":"\xff\xfe!"}}]}\n\n'
        return Response(body + chunk("", "stop") + DONE, media_type=SSE + "; charset=latin-1")

    if case == "big-event":
        text = "x" * (10 * 1024 * 1024)

        async def big() -> AsyncIterator[bytes]:
            data = chunk(text)
            for i in range(0, len(data), 65536):  # a real server writes it in pieces
                yield data[i : i + 65536]
            yield chunk("", "stop") + DONE

        return StreamingResponse(big(), media_type=SSE)

    if case == "drip":  # one byte every 50 ms
        data = b'data: {"choices":[{"delta":{"content":"hi"}}]}\n\n' + DONE

        async def drip() -> AsyncIterator[bytes]:
            for i in range(len(data)):
                yield data[i : i + 1]
                await asyncio.sleep(0.05)

        return StreamingResponse(drip(), media_type=SSE)

    if case == "redirect-307":
        return Response(status_code=307, headers={"location": "/redirect-target/chat/completions"})
    if case == "redirect-308":
        return Response(status_code=308, headers={"location": "/redirect-target/chat/completions"})
    if case == "redirect-302":
        return Response(status_code=302, headers={"location": "/redirect-target/chat/completions"})
    if case == "redirect-cross":
        target = f"{state.other_origin}/redirect-target/chat/completions"
        return Response(status_code=307, headers={"location": target})
    if case == "redirect-loop":
        return Response(status_code=307, headers={"location": "/redirect-loop/chat/completions"})
    if case == "redirect-target":
        if not request.headers.get("authorization") and not request.headers.get("x-api-key"):
            body = {"error": {"message": "no credentials", "code": "missing_key"}}
            return JSONResponse(body, status_code=401)
        return Response(b"".join(words(ids=False)) + DONE, media_type=SSE)

    if case == "gzip":
        compressor = zlib.compressobj(wbits=31)  # gzip container

        async def gz() -> AsyncIterator[bytes]:
            for part in words(ids=False):
                yield compressor.compress(part) + compressor.flush(zlib.Z_SYNC_FLUSH)
                await asyncio.sleep(0.2)
            state.finished["gzip"] = time.monotonic()
            yield compressor.compress(DONE) + compressor.flush()

        return StreamingResponse(gz(), media_type=SSE, headers={"content-encoding": "gzip"})

    if case == "v4-lines":  # the AI SDK 4 data stream: lines, served as text/plain
        body = b'0:"Hel"\n0:"lo"\nd:{"finishReason":"stop"}\n'
        return Response(body, media_type="text/plain; charset=utf-8")

    if case == "million":  # 1,000,000 tiny events, written in large pieces
        event = b'data: {"choices":[{"delta":{"content":"x"}}]}\n\n'

        async def many() -> AsyncIterator[bytes]:
            block = event * 10_000
            for _ in range(100):
                yield block
            yield DONE

        return StreamingResponse(many(), media_type=SSE)

    return JSONResponse({"error": {"message": f"unknown case {case}"}}, status_code=404)


__all__ = ["FULL", "WORDS", "FaultStreams", "create_fault_streams"]
