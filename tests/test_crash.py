"""A kernel killed mid-reply (SIGKILL) loses at most a checkpoint interval of text."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nbchat import ChatController
from nbchat.server import DemoModel
from nbchat.turn import CHECKPOINT_S
from tests.crash_child import PROMPT


@pytest.mark.timeout(60)
def test_sigkill_mid_stream_keeps_the_partial_marked_interrupted(tmp_path: Path) -> None:
    history = tmp_path / "h.sqlite3"
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root), "NBCHAT_DEMO_TPS": "30"}
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.crash_child", str(history)],
        cwd=root, env=env, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    shown: list[tuple[float, int]] = []
    assert child.stdout is not None
    try:
        for line in child.stdout:
            at, chars = line.split()
            shown.append((float(at), int(chars)))
            first = next((t for t, n in shown if n), None)
            if first is not None and shown[-1][0] - first > 2.3:
                break
    finally:
        killed_at = time.monotonic()
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        child.stdout.close()
    expected = DemoModel().reply([{"role": "user", "content": PROMPT}])
    assert shown[-1][1] < len(expected), "the reply ended before the kill: slow the model down"
    chat = ChatController(history=history, name="crash")
    user, reply = chat.messages
    assert (user.role, user.content) == ("user", PROMPT)
    assert reply.status == "interrupted" and reply.error is not None
    assert "kernel stopped during this reply" in reply.error["message"]
    assert reply.content and expected.startswith(reply.content)
    # at most one checkpoint interval (plus scheduling slack) of text is lost
    before = [n for t, n in shown if t <= killed_at - CHECKPOINT_S - 0.5]
    assert before and len(reply.content) >= before[-1]
