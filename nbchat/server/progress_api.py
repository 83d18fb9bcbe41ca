"""Spec 004's generation job on the embedded server: a long job with six stages.

``POST /api/generate-stream`` streams the stages as server-sent events (``{"stage",
"message", "progress", "estimatedTimeRemaining"}``, milliseconds), then ``{"type":
"result", "data": ...}``; ``POST /api/generate`` is the classic mode: the same job,
one JSON answer at the end. The body is ``{"prompt": str}`` (at least 20 characters,
else ``VALIDATION_ERROR``); a prompt that asks for a failure (it contains ``fail``)
ends with ``OPENAI_API_ERROR`` during ``generating``. Stage durations are realistic
and slightly random; ``scale`` shrinks them (tests, notebooks).
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

#: (stage, percent when it starts, message, typical seconds) as spec 004 names them
STAGES: list[tuple[str, int, str, float]] = [
    ("started", 5, "Setting up", 0.3),
    ("fetching-exercises", 15, "Loading the exercise library", 0.8),
    ("generating", 40, "Writing the plan", 3.0),
    ("validating", 70, "Checking the plan", 0.5),
    ("storing", 85, "Saving the plan", 0.4),
    ("complete", 100, "Done", 0.0),
]
MIN_PROMPT = 20


def _problem(prompt: object) -> str | None:
    if not isinstance(prompt, str) or len(prompt.strip()) < MIN_PROMPT:
        return f"prompt must be a string of at least {MIN_PROMPT} characters"
    return None


def _result(prompt: str) -> dict[str, Any]:
    words = prompt.split()
    return {
        "plan_id": f"p-{abs(hash(prompt)) % 10_000:04d}",
        "exercises": [
            {"name": name, "sets": 3, "reps": 8 + len(words) % 5}
            for name in ("Squat", "Push-up", "Row")
        ],
    }


async def _prompt_of(request: Request) -> object:
    try:
        body = await request.json()
    except ValueError:
        return None
    return body.get("prompt") if isinstance(body, dict) else None


def progress_routes(scale: float) -> list[tuple[str, Any]]:
    """``(path, endpoint)`` pairs for the app's routes; durations times ``scale``."""

    def durations() -> list[float]:
        return [seconds * scale * random.uniform(0.85, 1.15) for *_, seconds in STAGES]

    async def generate_stream(request: Request) -> Response:
        prompt = await _prompt_of(request)
        problem = _problem(prompt)

        async def events() -> AsyncIterator[str]:
            if problem is not None:
                yield _event({"stage": "error", "error": "VALIDATION_ERROR", "message": problem})
                return
            assert isinstance(prompt, str)
            plan = durations()
            for i, (stage, percent, message, _typical) in enumerate(STAGES):
                left_ms = round(sum(plan[i:]) * 1000)
                yield _event(
                    {
                        "stage": stage,
                        "message": message,
                        "progress": percent,
                        "estimatedTimeRemaining": left_ms,
                    }
                )
                if stage == "generating" and "fail" in prompt.lower():
                    await asyncio.sleep(plan[i] / 2)
                    yield _event(
                        {"stage": stage, "error": "OPENAI_API_ERROR", "message": "the model failed"}
                    )
                    return
                await asyncio.sleep(plan[i])
            yield _event({"type": "result", "data": _result(prompt)})

        # The content type exactly (no "; charset"): see nbchat.server.sse_body.
        return StreamingResponse(
            events(), headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )

    async def generate(request: Request) -> Response:
        prompt = await _prompt_of(request)
        problem = _problem(prompt)
        if problem is not None:
            return JSONResponse({"error": "VALIDATION_ERROR", "message": problem}, status_code=400)
        assert isinstance(prompt, str)
        await asyncio.sleep(sum(durations()))
        if "fail" in prompt.lower():
            return JSONResponse(
                {"error": "OPENAI_API_ERROR", "message": "the model failed"}, status_code=502
            )
        return JSONResponse(_result(prompt))

    return [("/api/generate-stream", generate_stream), ("/api/generate", generate)]


def _event(data: dict[str, Any]) -> str:
    return f"data: {json.dumps(data)}\n\n"


__all__ = ["MIN_PROMPT", "STAGES", "progress_routes"]
