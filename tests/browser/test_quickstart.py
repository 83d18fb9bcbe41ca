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

from tests.browser.jupyter import CHROMIUM, CHROMIUM_ARGS, JupyterLab

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "browser"

JS_PANEL = """() => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  if (!w || !w.sessionContext || !w.content) return {ready: false};
  const k = w.sessionContext.session && w.sessionContext.session.kernel;
  return {ready: true, kernel: k ? k.status : null};
}"""
JS_CELLS = """() => {
  const nb = window.jupyterapp.shell.currentWidget.content;
  return nb.widgets.map((cell, i) => {
    const m = cell.model;
    if (m.type !== 'code') return {index: i, type: m.type};
    const p = cell.node.querySelector('.jp-InputPrompt');
    const outs = [];
    for (let j = 0; j < m.outputs.length; j++) outs.push(m.outputs.get(j).toJSON());
    return {index: i, type: 'code', count: m.executionCount,
            pending: !!(p && p.textContent.includes('*')),
            error: outs.some(o => o.output_type === 'error'), outputs: outs};
  });
}"""
JS_RUN_CELL = """(i) => {
  const panel = window.jupyterapp.shell.currentWidget;
  panel.content.activeCellIndex = i;
  window.jupyterapp.commands.execute('notebook:run-cell');
  return true;
}"""
JS_RESTART = """async () => {
  const k = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
  await k.restart();
  return true;
}"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterLab]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make chromium` (Debian's chromium package)")
    root = tmp_path_factory.mktemp("lab-root")
    shutil.copy(REPO / "notebooks" / "01-quickstart.ipynb", root)
    data = tmp_path_factory.mktemp("nbchat-data")
    server = JupyterLab(
        root,
        tmp_path_factory.mktemp("lab-state"),
        # A slow demo pace so there is time to watch the reply grow and stop it.
        {"NBCHAT_DATA_DIR": str(data), "NBCHAT_DEMO_TPS": "12"},
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def page(lab: JupyterLab, tmp_path: Path) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 1000},
        )
        page = context.pages[0] if context.pages else context.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if "nbchat" in m.text.lower() else None)
        page.nbchat_errors = errors
        try:
            yield page
        finally:
            page.screenshot(path=str(ARTIFACTS / "last.png"))
            context.close()


def wait_until(predicate: Any, timeout: float, what: str, step: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def open_notebook(page: Any, lab: JupyterLab) -> None:
    page.goto(lab.lab_url("01-quickstart.ipynb"), wait_until="domcontentloaded", timeout=60000)
    page.wait_for_function("() => !!(window.jupyterapp && window.jupyterapp.shell)", timeout=60000)

    def ready() -> bool:
        dialog = page.query_selector(".jp-Dialog .jp-mod-accept")
        if dialog:
            dialog.click()
        state = page.evaluate(JS_PANEL)
        return bool(state.get("ready") and state.get("kernel") == "idle")

    wait_until(ready, 90, "the notebook and an idle kernel")


def wait_cells_done(page: Any, timeout: float = 120) -> list[dict[str, Any]]:
    def done() -> list[dict[str, Any]] | None:
        cells = [c for c in page.evaluate(JS_CELLS) if c["type"] == "code"]
        if any(c["pending"] for c in cells):
            return None
        if any(c["error"] for c in cells):  # Run All stops at an error
            return cells
        return None if any(c["count"] is None for c in cells) else cells

    cells = wait_until(done, timeout, "every code cell to finish", step=0.1)
    errors = [c for c in cells if c["error"]]
    assert not errors, errors
    return cells


def assistant_messages(page: Any) -> list[dict[str, str]]:
    return page.evaluate(
        """() => Array.from(document.querySelectorAll('.nbchat .nbchat-message')).map(el => ({
             id: el.dataset.id, role: el.dataset.role, status: el.dataset.status,
             text: (el.querySelector('.nbchat-content') || {}).textContent || '',
             marker: (el.querySelector('.nbchat-marker') || {}).textContent || ''}))"""
    )


def test_type_stream_stop_restart_restore(lab: JupyterLab, page: Any) -> None:
    open_notebook(page, lab)
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
    wait_cells_done(page)
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
    wait_until(lambda: page.evaluate(JS_PANEL).get("kernel") == "idle", 60, "the restarted kernel")
    code_cells = [c for c in page.evaluate(JS_CELLS) if c["type"] == "code"]
    chat_cell = code_cells[0]["index"]
    page.evaluate(JS_RUN_CELL, chat_cell)

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
    assert not [e for e in page.nbchat_errors if "error" in e.lower()], page.nbchat_errors
