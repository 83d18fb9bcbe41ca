"""Progress bars in real JupyterLab + headless Debian Chromium, used like a person would.

A demo job's bar advances through spec 004's stages and shows an ETA; Cancel stops it
within a second; after one finished run the next run's ETA says it was learned; a
Python loop's bar updates while its cell is still running; the static copy of each bar
stays hidden while the live bar shows. Screenshots go to test-artifacts/browser/.
"""

from __future__ import annotations

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
NOTEBOOK = "progress-ui.ipynb"

CELLS = [
    'import time\nimport nbchat\n\njob = nbchat.Progress(name="browser job")\njob',
    "job.start()",
    'for i in nbchat.progress(range(30), name="slow loop"):\n    time.sleep(0.1)',
]

JS_BARS = """() => Array.from(document.querySelectorAll('.nbchat-bars > .nbchat-progress'))
  .map(el => {
    const part = (name) => el.querySelector(`:scope > * > .nbchat-progress-${name}`);
    const text = (name) => { const n = part(name); return n && !n.hidden ? n.textContent : ''; };
    return {
      status: el.dataset.status, title: text('title'), stage: text('stage'),
      percent: text('percent'), count: text('count'), elapsed: text('elapsed'),
      eta: text('eta'), etaTitle: (part('eta') || {}).title || '',
      dots: Array.from(el.querySelectorAll(':scope > .nbchat-progress-stages > li'))
        .map(d => d.dataset.state),
      result: (el.querySelector(':scope > details.nbchat-result:not([hidden]) > pre') || {})
        .textContent || '',
      error: (el.querySelector(':scope > .nbchat-progress-error:not([hidden])') || {})
        .textContent || '',
    };
  })"""
JS_STATIC_SHOWN = """() => Array.from(document.querySelectorAll('[data-nbchat-static]'))
  .filter(el => el.offsetParent !== null).length"""


def _notebook() -> str:
    return jupyter.notebook_json(CELLS)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterLab]:
    with JupyterLab.serving(
        tmp_path_factory, lambda root: (root / NOTEBOOK).write_text(_notebook())
    ) as server:
        yield server


def job_bar(page: Any) -> dict[str, Any] | None:
    return next((b for b in page.evaluate(JS_BARS) if b["title"] == "browser job"), None)


def run_cell(page: Any, position: int) -> None:
    page.evaluate(jupyter.JS_RUN_CELL, jupyter.code_cells(page)[position]["index"])


def test_job_bar_stages_eta_cancel_learning_and_a_loop_bar(lab: JupyterLab, page: Any) -> None:
    jupyter.open_notebook(page, lab, NOTEBOOK)
    run_cell(page, 0)
    wait_until(lambda: (job_bar(page) or {}).get("status") == "idle", 30, "the idle bar")

    # A run: the bar goes through the stages with a percent and an ETA.
    run_cell(page, 1)
    seen: list[dict[str, Any]] = []

    def through_generating() -> bool:
        bar = job_bar(page)
        if bar:
            seen.append(bar)
        return bool(bar and bar["stage"] == "Generating")

    wait_until(through_generating, 20, "the generating stage")
    bar = seen[-1]
    assert bar["status"] == "running" and bar["percent"] == "40 %"
    assert bar["dots"] == ["done", "done", "current", "ahead", "ahead", "ahead"]
    assert bar["eta"].startswith("about") and "server" in bar["etaTitle"]
    assert bar["elapsed"].endswith(" s")
    assert page.evaluate(JS_STATIC_SHOWN) == 0, "the static copy shows next to the live bar"
    page.screenshot(path=str(ARTIFACTS / "progress-1-running.png"))

    # Cancel: the bar says so within a second.
    clicked = time.monotonic()
    page.locator(".nbchat-bars .nbchat-progress-cancel").first.click()
    wait_until(lambda: (job_bar(page) or {}).get("status") == "cancelled", 1.0, "cancelled")
    took = time.monotonic() - clicked
    (ARTIFACTS / "progress-cancel-latency.txt").write_text(f"{took:.3f} s from click\n")
    page.screenshot(path=str(ARTIFACTS / "progress-2-cancelled.png"))

    # A finished run (Run again), then a second one shows an ETA learned from the first.
    for run in (1,):
        page.locator(".nbchat-bars .nbchat-progress-retry").first.click()
        wait_until(lambda: (job_bar(page) or {}).get("status") == "running", 10, "running")
        bar = wait_until(
            lambda: (b := job_bar(page)) and b["status"] == "done" and b, 30, f"run {run} done"
        )
        assert "Squat" in bar["result"] and bar["elapsed"].startswith("done in")
    page.locator(".nbchat-bars .nbchat-progress-retry").first.click()
    learned = wait_until(
        lambda: (b := job_bar(page)) and "learned from 1 earlier run" in b["etaTitle"] and b,
        15,
        "an ETA learned from the finished runs",
    )
    assert learned["eta"].startswith(("about", "less than"))
    page.screenshot(path=str(ARTIFACTS / "progress-3-learned-eta.png"))
    wait_until(lambda: (job_bar(page) or {}).get("status") == "done", 30, "the third run")

    # A Python loop in a blocking cell: its bar moves while the cell still runs.
    run_cell(page, 2)

    def loop_count() -> str:
        bars = [b for b in page.evaluate(JS_BARS) if b["title"] == "slow loop"]
        return bars[0]["count"] if bars else ""

    counts: list[str] = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        pending = jupyter.code_cells(page)[2]["pending"]
        count = loop_count()
        if pending and count and count not in counts:
            counts.append(count)
        if not pending and counts:
            break
        time.sleep(0.1)
    assert len(counts) >= 3, f"the loop bar did not move while its cell ran: {counts}"
    page.screenshot(path=str(ARTIFACTS / "progress-4-loop.png"))
    loop = wait_until(
        lambda: next(
            (
                b
                for b in page.evaluate(JS_BARS)
                if b["title"] == "slow loop" and b["status"] == "done"
            ),
            None,
        ),
        15,
        "the loop bar done",
    )
    assert loop["count"].startswith("30 / 30")
    jupyter.assert_no_nbchat_errors(page)
