"""The quickstart in real JupyterLab + headless Debian Chromium, driven like a person would.

Run the notebook, type a message in the widget, watch the reply grow, click Stop
mid-reply (the stopped marker must show within 1 s), restart the kernel, re-run the
chat cell and find the conversation restored. Screenshots go to test-artifacts/browser/.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import jupyter
from tests.browser.jupyter import JupyterLab, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "browser"

JS_RESTART = """async () => {
  const k = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
  await k.restart();
  return true;
}"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterLab]:
    with JupyterLab.serving(
        tmp_path_factory,
        lambda root: shutil.copy(REPO / "notebooks" / "01-quickstart.ipynb", root),
        # A slow demo pace so there is time to watch the reply grow and stop it.
        {"NBCHAT_DEMO_TPS": "12"},
    ) as server:
        yield server


def assistant_messages(page: Any) -> list[dict[str, str]]:
    return page.evaluate(
        """() => Array.from(document.querySelectorAll('.nbchat .nbchat-message')).map(el => ({
             id: el.dataset.id, role: el.dataset.role, status: el.dataset.status,
             text: Array.from(el.querySelectorAll(
               '.nbchat-content .nbchat-part, .nbchat-content:not(:has(.nbchat-part))'))
               .map((p) => p.textContent).join('').trim(),
             marker: (el.querySelector('.nbchat-marker') || {}).textContent || ''}))"""
    )


def test_type_stream_stop_restart_restore(lab: JupyterLab, page: Any) -> None:
    jupyter.open_notebook(page, lab, "01-quickstart.ipynb")
    jupyter.run_all_cells(page, timeout=120)
    page.wait_for_selector(".nbchat .nbchat-input", timeout=30000)
    before = assistant_messages(page)
    assert [m["role"] for m in before] == ["user", "assistant"]
    assert before[1]["status"] == "done" and "demo" in before[1]["text"].lower()
    page.screenshot(path=str(ARTIFACTS / "1-after-run-all.png"))

    # Type a message in the widget and send it with Enter.
    box = page.locator(".nbchat .nbchat-input")
    box.click()
    box.fill("Tell me about server-sent events")
    box.press("Enter")
    assert box.input_value() == ""
    reply = wait_until(
        lambda: next(
            (m for m in assistant_messages(page)[2:] if m["role"] == "assistant" and m["text"]),
            None,
        ),
        20,
        "the reply to start",
    )
    reply_id = reply["id"]
    assert reply["status"] == "streaming"
    button = page.locator(".nbchat .nbchat-send")
    assert button.inner_text().strip().lower() == "stop"

    def text_of() -> str:
        return next(m["text"] for m in assistant_messages(page) if m["id"] == reply_id)

    samples = [len(text_of())]
    for _ in range(3):
        time.sleep(0.4)
        samples.append(len(text_of()))
    assert samples == sorted(samples) and samples[-1] > samples[0], samples
    page.screenshot(path=str(ARTIFACTS / "2-streaming.png"))

    # Stop mid-reply: the marker must show within 1 s.
    clicked = time.monotonic()
    button.click()
    page.wait_for_selector(
        f'.nbchat-message[data-id="{reply_id}"][data-status="stopped"] .nbchat-marker',
        timeout=1000,
    )
    took = time.monotonic() - clicked
    stopped = next(m for m in assistant_messages(page) if m["id"] == reply_id)
    assert "stopped" in stopped["marker"].lower()
    partial = stopped["text"]
    assert partial and len(partial) >= samples[-1]
    time.sleep(0.5)
    assert text_of() == partial, "text kept arriving after Stop"
    assert button.inner_text().strip().lower() == "send"
    page.screenshot(path=str(ARTIFACTS / "3-stopped.png"))
    (ARTIFACTS / "stop-latency.txt").write_text(f"{took:.3f} s from click to stopped marker\n")

    # Restart the kernel and re-run the chat cell: the conversation comes back.
    page.evaluate(JS_RESTART)
    wait_until(
        lambda: page.evaluate(jupyter.JS_PANEL).get("kernel") == "idle", 60, "the restarted kernel"
    )
    page.evaluate(jupyter.JS_RUN_CELL, jupyter.code_cells(page)[0]["index"])  # the chat cell

    def restored() -> list[dict[str, str]] | None:
        messages = assistant_messages(page)
        ids = [m["id"] for m in messages]
        return messages if reply_id in ids and len(messages) == 4 else None

    messages = wait_until(restored, 30, "the restored conversation")
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
    assert messages[2]["text"] == "Tell me about server-sent events"
    assert messages[3]["status"] == "stopped" and messages[3]["text"] == partial
    assert "stopped" in messages[3]["marker"].lower()
    page.screenshot(path=str(ARTIFACTS / "4-restored-after-restart.png"))
    jupyter.assert_no_nbchat_errors(page)
