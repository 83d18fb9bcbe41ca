"""The quickstart as a Voila dashboard in headless Debian Chromium: the reply renders as
Markdown (table, math, highlighted code), the static transcript stays hidden behind
the live widget, and nothing logs an error. Screenshot: test-artifacts/browser/voila.png.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.jupyter import CHROMIUM, CHROMIUM_ARGS

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "browser"

SHOWN = """() => {
  const md = document.querySelector(
    '.nbchat .nbchat-message[data-role=assistant] .nbchat-markdown');
  const transcripts = Array.from(document.querySelectorAll('[data-nbchat-transcript]'));
  return {
    tables: md.querySelectorAll('table').length,
    math: md.querySelectorAll('math').length,
    keywords: md.querySelectorAll('.hljs-keyword').length,
    transcriptShown: transcripts.some((t) => t.getClientRects().length > 0),
    transcripts: transcripts.length,
  };
}"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def voila(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "NBCHAT_DEMO_TPS": "2000", "NBCHAT_DATA_DIR": str(tmp_path / "data")}
    log = (tmp_path / "voila.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "voila", "--no-browser", f"--port={port}",
         "--Voila.ip=127.0.0.1", str(REPO / "notebooks" / "01-quickstart.ipynb")],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
        start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(url + "api/status", timeout=2)
                break
            except OSError:
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def test_the_quickstart_renders_in_voila(voila: str) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 1200})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        try:
            page.goto(voila, timeout=90000)
            done = ".nbchat .nbchat-message[data-role=assistant][data-status=done]"
            page.wait_for_selector(f"{done} .nbchat-markdown h2", timeout=90000)
            shown = page.evaluate(SHOWN)
        finally:
            page.screenshot(path=str(ARTIFACTS / "voila.png"))
            browser.close()
    assert shown["tables"] >= 1 and shown["math"] >= 1 and shown["keywords"] >= 1, shown
    assert shown["transcripts"] >= 1 and not shown["transcriptShown"], shown
    assert not errors, errors
