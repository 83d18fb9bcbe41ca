"""A loopback server that misbehaves on purpose, one route per fault.

``{base}/{case}/chat/completions`` answers as case ``case`` says; every response ends
by itself (no route waits forever), so a client bug shows up as a failed assertion
or a per-test timeout, never as a hung suite.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route


def chunk(text: str, finish: str | None = None) -> bytes:
    body = {
        "id": "chatcmpl-fault",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "fault",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}],
    }
    return f"data: {json.dumps(body)}\n\n".encode()


class FaultLog:
    """What the fault server saw (read by tests from their own thread)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, object]] = []
        self.headers: list[dict[str, str]] = []
        self.disconnected = threading.Event()


def create_fault_app() -> tuple[Starlette, FaultLog]:
    seen = FaultLog()

    async def endpoint(request: Request) -> Response:
        case = request.path_params["case"]
        seen.headers.append(dict(request.headers))
        try:
            seen.requests.append(json.loads(await request.body()))
        except json.JSONDecodeError:
            seen.requests.append({})
        sse = "text/event-stream"
        if case == "ok":
            body = chunk("Hello") + chunk(" world") + chunk("", "stop") + b"data: [DONE]\n\n"
            return Response(body, media_type=sse)
        if case == "eof":  # text, then the connection ends without [DONE]
            return Response(chunk("Half a") + chunk(" reply"), media_type=sse)
        if case == "midstream-error":
            err = b'data: {"error": {"message": "upstream overloaded", "code": "overloaded"}}\n\n'
            return Response(chunk("Partial") + err + b"data: [DONE]\n\n", media_type=sse)
        if case == "malformed":
            return Response(chunk("ok") + b"data: {not json\n\n", media_type=sse)
        if case == "json-200":
            return JSONResponse({"id": "x", "choices": [{"message": {"content": "hi"}}]})
        if case == "json-error-200":
            return JSONResponse({"error": {"message": "quota exceeded", "code": "quota"}})
        if case == "html-200":
            page = "<html><head><title>Sign in - Corp SSO</title></head><body>x</body></html>"
            return Response(page, media_type="text/html")
        if case == "no-content-type":
            return Response(chunk("x"), headers={"content-type": ""})
        if case == "401":
            body = {"error": {"message": "Incorrect API key provided", "code": "invalid_api_key"}}
            return JSONResponse(body, status_code=401)
        if case == "404-spec":
            body = {
                "success": False,
                "error": {"message": "Session not found", "code": "NOT_FOUND"},
            }
            return JSONResponse(body, status_code=404)
        if case == "429":
            return JSONResponse({"error": {"message": "Rate limit reached"}}, status_code=429)
        if case == "500-html":
            page = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
            return Response(page, status_code=500, media_type="text/html")
        if case == "503-empty":
            return Response(b"", status_code=503)
        if case == "400-anthropic":
            body = {"type": "error", "error": {"type": "invalid_request_error", "message": "bad"}}
            return JSONResponse(body, status_code=400)
        if case == "echo-key":  # a server that leaks the key back in its error text
            auth = request.headers.get("authorization", "")
            return PlainTextResponse(f"bad token {auth}", status_code=403)
        if case == "slow":  # many tokens, slowly: for Stop tests
            return StreamingResponse(_slow(request, seen), media_type=sse)
        if case == "silent":  # headers, then nothing at all (stall)
            return StreamingResponse(_silent(), media_type=sse)
        return PlainTextResponse(f"unknown case {case}", status_code=404)

    app = Starlette(routes=[Route("/{case}/chat/completions", endpoint, methods=["POST"])])
    return app, seen


async def _slow(request: Request, seen: FaultLog) -> AsyncIterator[bytes]:
    try:
        for i in range(400):
            yield chunk(f"tok{i} ")
            await asyncio.sleep(0.02)
        yield chunk("", "stop") + b"data: [DONE]\n\n"
    except asyncio.CancelledError:
        seen.disconnected.set()
        raise
    finally:
        if await request.is_disconnected():
            seen.disconnected.set()


async def _silent() -> AsyncIterator[bytes]:
    yield b": hello\n\n"
    await asyncio.sleep(5)
