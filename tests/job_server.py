"""A loopback server for the progress-job tests: a spec 004 job server that misbehaves.

Routes, one case per path segment:

* ``POST /{case}/generate-stream``: the job as a progress stream (``data:`` events of
  ``{"stage", "progress", "message", "estimatedTimeRemaining"}``, then
  ``{"type": "result", "data": ...}``), or the case's way of failing;
* ``POST /{case}/generate``: the classic form (one JSON answer);
* ``GET /{case}/resume``: continues a dropped stream after ``Last-Event-ID`` (as does
  a re-sent ``POST`` with ``Last-Event-ID`` to a ``resumable`` case).

A case's behaviour is named by its first dotted part (``clean.twice`` is ``clean``).

Every case ends by itself (bounded sleeps and bounded waits only), so a client bug
shows up as a failed assertion, never as a hung suite. Per case and route the server
keeps each request's arrival time, headers and body (``log``), and per case whether a
stream saw its client go away before the end (``disconnects``). A *gated* case sends
its next event only once the test calls :meth:`JobServer.release`, so a test can look
at the job between two events without racing the server.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any, Literal

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fault_streams import Dropped, Seen

SSE = "text/event-stream"
RouteKind = Literal["stream", "classic", "resume"]

#: what a finished job answers
RESULT: dict[str, Any] = {"plan": "three days", "exercises": [{"name": "Squat", "sets": 3}]}
#: spec 004's stages with the percent each starts at
STAGES: list[tuple[str, int]] = [
    ("started", 5),
    ("fetching-exercises", 15),
    ("generating", 40),
    ("validating", 70),
    ("storing", 85),
    ("complete", 100),
]
#: the stages and durations (seconds) of the "eta" cases, stable from run to run
ETA_STAGES: list[tuple[str, int, float]] = [
    ("started", 5, 0.1),
    ("generating", 40, 0.2),
    ("storing", 85, 0.1),
]
#: the gated "weird" case: one odd value per event, each with a message of its own
LONG_MESSAGE = "long " + "x" * 4995
HTML_MESSAGE = '<script>alert("x")</script><b>bold</b> &amp; <img src=x onerror=alert(1)>'
WEIRD: list[dict[str, Any]] = [
    {"stage": "started", "progress": -10, "message": "negative", "estimatedTimeRemaining": 1e12},
    {"stage": "generating", "progress": 40, "message": "forty", "estimatedTimeRemaining": -5},
    {
        "stage": "generating",
        "progress": 25,
        "message": "backwards",
        "estimatedTimeRemaining": "soon",
    },
    {"stage": "generating", "progress": None, "message": HTML_MESSAGE},
    {"stage": "generating", "progress": "75", "message": LONG_MESSAGE},
    {"stage": "validating", "progress": 50, "message": "sane", "estimatedTimeRemaining": 3000},
    {"stage": "storing", "progress": 150, "message": "over"},
    {"type": "result", "data": {"weird": True}},
]
#: the longest a gated case waits for the test before it ends the stream
GATE_TIMEOUT_S = 10.0


def sse(data: Any, event_id: str | None = None) -> bytes:
    """One ``data:`` event (JSON unless ``data`` is already text)."""
    text = data if isinstance(data, str) else json.dumps(data)
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}data: {text}\n\n".encode()


def step(stage: str, progress: Any, message: str = "", **extra: Any) -> dict[str, Any]:
    return {"stage": stage, "progress": progress, "message": message or stage, **extra}


def result(data: Any = RESULT) -> dict[str, Any]:
    return {"type": "result", "data": data}


def spec_events(ids: bool = False) -> list[bytes]:
    """The six spec 004 stages then the result, with ids 1..7 when ``ids``."""
    bodies = [step(stage, pct) for stage, pct in STAGES] + [result()]
    return [sse(body, str(i + 1) if ids else None) for i, body in enumerate(bodies)]


class JobServer:
    """What the app saw, per case (written on the server's thread, read from the test's)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seen: dict[tuple[str, RouteKind], Seen] = {}
        #: case -> streams whose client went away before the stream's end
        self.disconnects: dict[str, int] = {}
        #: case -> streams sent to their end
        self.completed: dict[str, int] = {}
        self._released: dict[str, int] = {}

    def log(self, case: str, route: RouteKind = "stream") -> Seen:
        with self.lock:
            return self.seen.setdefault((case, route), Seen())

    def count(self, case: str, route: RouteKind = "stream") -> int:
        return self.log(case, route).count

    def disconnected(self, case: str) -> bool:
        with self.lock:
            return self.disconnects.get(case, 0) > 0

    def release(self, case: str, n: int = 1) -> None:
        """Let the gated ``case`` send its next ``n`` events."""
        with self.lock:
            self._released[case] = self._released.get(case, 0) + n

    async def gate(self, case: str, index: int) -> bool:
        """Wait (bounded) until event ``index`` (0-based) of ``case`` is released."""
        deadline = time.monotonic() + GATE_TIMEOUT_S
        while time.monotonic() < deadline:
            with self.lock:
                if self._released.get(case, 0) > index:
                    return True
            await asyncio.sleep(0.005)
        return False

    def _note(self, table: dict[str, int], case: str) -> None:
        with self.lock:
            table[case] = table.get(case, 0) + 1


def create_job_server() -> tuple[Starlette, JobServer]:
    state = JobServer()

    async def record(request: Request, route: RouteKind) -> tuple[str, int]:
        case = request.path_params["case"]
        raw = await request.body()
        seen = state.log(case, route)
        with state.lock:
            n = seen.add(request, raw)
        return case, n

    async def stream_route(request: Request) -> Response:
        case, _n = await record(request, "stream")
        last_id = request.headers.get("last-event-id")
        if last_id is not None and case.split(".", 1)[0] == "resumable":
            return _resume(case, last_id, state)  # a server that resumes a re-sent POST
        return await _stream(case, state)

    async def classic_route(request: Request) -> Response:
        case, _n = await record(request, "classic")
        return await _classic(case)

    async def resume_route(request: Request) -> Response:
        case, _n = await record(request, "resume")
        return _resume(case, request.headers.get("last-event-id"), state)

    routes = [
        Route("/{case}/generate-stream", stream_route, methods=["POST"]),
        Route("/{case}/generate", classic_route, methods=["POST"]),
        Route("/{case}/resume", resume_route, methods=["GET"]),
    ]
    return Starlette(routes=routes), state


def _watched(state: JobServer, case: str, body: AsyncGenerator[bytes, None]) -> StreamingResponse:
    """A streaming response that notes whether its client left before the end.

    With uvicorn's ASGI 2.3 scope, Starlette cancels the body when the client
    disconnects: the cancellation lands at the body's current ``await``.
    """

    async def watched() -> AsyncGenerator[bytes, None]:
        try:
            async with aclosing(body) as parts:
                async for part in parts:
                    yield part
        except (asyncio.CancelledError, GeneratorExit):
            state._note(state.disconnects, case)
            raise
        state._note(state.completed, case)

    return StreamingResponse(watched(), media_type=SSE)


async def _paced(parts: list[bytes], pause: float) -> AsyncGenerator[bytes, None]:
    for part in parts:
        yield part
        await asyncio.sleep(pause)


async def _stream(case: str, state: JobServer) -> Response:
    kind = case.split(".", 1)[0]  # "clean.twice" behaves as "clean"

    if kind == "clean":
        return _watched(state, case, _paced(spec_events(), 0.05))

    if kind in ("drop-no-ids", "drop-ids", "resume", "resumable"):
        ids = kind != "drop-no-ids"

        async def dropping() -> AsyncGenerator[bytes, None]:
            if ids:
                yield b"retry: 100\n\n"
            for part in spec_events(ids)[:2]:
                yield part
                await asyncio.sleep(0.05)
            raise Dropped(case)

        return StreamingResponse(dropping(), media_type=SSE)

    if kind == "keepalive":  # one step, 3 s of comments only, then the rest

        async def pings() -> AsyncGenerator[bytes, None]:
            events = spec_events()
            yield events[0]
            for _ in range(10):
                await asyncio.sleep(0.3)
                yield b": ping\n\n"
            yield events[1]
            await asyncio.sleep(0.2)
            for part in events[2:]:
                yield part

        return _watched(state, case, pings())

    if kind == "silent-headers":  # no byte at all, not even the headers, for 1.5 s
        await asyncio.sleep(1.5)
        return Response(b"".join(spec_events()), media_type=SSE)

    if kind == "silent-mid":  # one step, then 1.5 s without a byte

        async def silent() -> AsyncGenerator[bytes, None]:
            events = spec_events()
            yield events[0]
            await asyncio.sleep(1.5)
            for part in events[1:]:
                yield part

        return _watched(state, case, silent())

    if kind == "complete-no-result":  # every stage up to complete / 100, then a clean end
        return _watched(state, case, _paced(spec_events()[:-1], 0.02))

    if kind == "early-end":  # a clean end at 40 %
        return _watched(state, case, _paced(spec_events()[:3], 0.02))

    if kind == "slow":  # two steps, then up to 5 s of work (in short sleeps)

        async def slow() -> AsyncGenerator[bytes, None]:
            events = spec_events()
            yield events[0]
            yield events[1]
            for _ in range(100):
                await asyncio.sleep(0.05)
            for part in events[2:]:
                yield part

        return _watched(state, case, slow())

    if kind == "error-event":
        parts = [
            sse(step("started", 5)),
            sse(step("generating", 40)),
            sse(
                {
                    "stage": "generating",
                    "error": "OPENAI_API_ERROR",
                    "message": "The model is overloaded",
                }
            ),
            sse(result()),  # after the error: must be ignored
        ]
        return _watched(state, case, _paced(parts, 0.02))

    if kind == "status-401":
        body = {"error": "AUTHENTICATION_ERROR", "message": "Invalid or expired API key"}
        return JSONResponse(body, status_code=401)

    if kind == "status-400":
        body = {"error": "VALIDATION_ERROR", "message": "prompt must be at least 10 characters"}
        return JSONResponse(body, status_code=400)

    if kind == "not-json":
        parts = [sse(step("started", 5)), b"data: <html>oops</html>\n\n", sse(result())]
        return _watched(state, case, _paced(parts, 0.02))

    if kind == "weird":  # gated: each event waits for the test's release

        async def weird() -> AsyncGenerator[bytes, None]:
            for i, body in enumerate(WEIRD):
                if not await state.gate(case, i):
                    return
                yield sse(body)

        return _watched(state, case, weird())

    if kind in ("eta", "eta-fail"):

        async def timed() -> AsyncGenerator[bytes, None]:
            for i, (stage, pct, seconds) in enumerate(ETA_STAGES):
                yield sse(step(stage, pct))
                if kind == "eta-fail" and i == 1:
                    yield sse({"stage": stage, "error": "SERVER_ERROR", "message": "disk full"})
                    return
                await asyncio.sleep(seconds)
            yield sse(step("complete", 100)) + sse(result())

        return _watched(state, case, timed())

    return JSONResponse({"error": "NOT_FOUND", "message": f"unknown case {case}"}, 404)


async def _classic(case: str) -> Response:
    kind = case.split(".", 1)[0]
    if kind == "classic":
        await asyncio.sleep(0.3)
        return JSONResponse(RESULT)
    if kind == "classic-500":
        body = {"error": "SERVER_ERROR", "message": "database unavailable"}
        return JSONResponse(body, status_code=500)
    return JSONResponse({"error": "NOT_FOUND", "message": f"unknown case {case}"}, 404)


def _resume(case: str, last_id: str | None, state: JobServer) -> Response:
    """The rest of a stream with ids, after ``Last-Event-ID`` (all of it without one)."""
    start = int(last_id) if last_id and last_id.isdigit() else 0
    events = spec_events(ids=True)
    return _watched(state, case, _paced([b"retry: 100\n\n", *events[start:]], 0.02))


__all__ = [
    "ETA_STAGES",
    "HTML_MESSAGE",
    "LONG_MESSAGE",
    "RESULT",
    "STAGES",
    "WEIRD",
    "JobServer",
    "RouteKind",
    "create_job_server",
]
