"""Spec 004's demo job on the embedded server, read through nbchat's progress dialect."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from nbchat import Chat
from nbchat.server import ServerThread, create_app


@pytest.fixture
def url() -> Iterator[str]:
    thread = ServerThread(create_app(progress_scale=0.01))
    try:
        yield thread.start()
    finally:
        thread.stop()


async def test_the_job_streams_six_stages_then_the_result(url: str) -> None:
    chat = Chat(url, model="job", dialect="progress", history=None)
    seen: list[str] = []

    def note(_change: object) -> None:
        progress = chat.messages[-1].progress if chat.messages else None
        if progress is not None:
            seen.append(str(progress["stage"]))

    chat.subscribe(note)
    reply = await chat.send("Plan a knee rehabilitation programme for a runner")
    assert reply.status == "done", reply.error
    assert reply.progress is not None and reply.progress["stage"] == "complete"
    assert reply.progress["percent"] == 100
    assert reply.result["exercises"][0]["name"] == "Squat"
    stages = list(dict.fromkeys(seen))
    assert stages == [
        "started",
        "fetching-exercises",
        "generating",
        "validating",
        "storing",
        "complete",
    ]


@pytest.mark.parametrize(
    ("prompt", "code"),
    [
        ("too short", "VALIDATION_ERROR"),
        ("Please fail while generating this plan", "OPENAI_API_ERROR"),
    ],
)
async def test_errors_are_streamed_with_their_code(url: str, prompt: str, code: str) -> None:
    chat = Chat(url, model="job", dialect="progress", history=None)
    reply = await chat.send(prompt)
    assert reply.status == "error" and reply.error is not None
    assert reply.error["code"] == code and reply.error["message"]


def test_classic_mode_answers_once(url: str) -> None:
    ok = httpx.post(f"{url}/api/generate", json={"prompt": "A plan for a shoulder after surgery"})
    assert ok.status_code == 200 and ok.json()["exercises"]
    bad = httpx.post(f"{url}/api/generate", json={"prompt": "short"})
    assert bad.status_code == 400 and bad.json()["error"] == "VALIDATION_ERROR"
