"""Rendered replies in real JupyterLab + headless Debian Chromium.

The quickstart's demo reply (a heading, a list, a table, an equation, a code block)
streams and renders as Markdown; the Copy buttons put the code, and the reply's
Markdown, on the clipboard; the chat cell's static transcript is hidden while the
widget is live. A notebook saved after running (no widget state), opened again with a
fresh kernel, shows the transcript. Screenshots go to test-artifacts/browser/.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from tests.browser import jupyter
from tests.browser.jupyter import JupyterLab, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "browser"


def fill(root: Path) -> None:
    shutil.copy(REPO / "notebooks" / "01-quickstart.ipynb", root / "render.ipynb")
    # The same notebook run by a kernel and saved: what a user reopens the next day.
    notebook = nbformat.read(REPO / "notebooks" / "01-quickstart.ipynb", as_version=4)
    env = {"NBCHAT_DEMO_TPS": "2000", "NBCHAT_DATA_DIR": str(root / ".nbchat-data")}
    previous = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        NotebookClient(notebook, timeout=120, resources={"metadata": {"path": str(root)}}).execute()
    finally:
        for name, value in previous.items():
            if value is None:
                del os.environ[name]
            else:
                os.environ[name] = value
    nbformat.write(notebook, root / "saved.ipynb")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterLab]:
    with JupyterLab.serving(tmp_path_factory, fill, {"NBCHAT_DEMO_TPS": "400"}) as server:
        yield server


@pytest.fixture
def page(lab: JupyterLab, tmp_path: Path) -> Iterator[Any]:
    with jupyter.chromium_page(tmp_path / "profile", ARTIFACTS / "render-last.png") as page:
        page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=lab.url)
        yield page


RENDERED = """() => {
  const replies = document.querySelectorAll('.nbchat .nbchat-message[data-role=assistant]');
  const reply = replies[replies.length - 1];
  if (!reply || reply.dataset.status !== 'done') return null;
  const md = reply.querySelector('.nbchat-markdown');
  const transcript = document.querySelector('[data-nbchat-transcript]');
  return {
    heading: (md.querySelector('h2') || {}).textContent || '',
    cells: md.querySelectorAll('table td').length,
    math: md.querySelectorAll('math').length,
    keywords: md.querySelectorAll('pre code .hljs-keyword').length,
    code: (md.querySelector('.nbchat-code pre code') || {}).textContent || '',
    rawMarkers: /(^|\\n)#+ |\\*\\*|```/.test(md.textContent),
    transcriptShown: !!(transcript && transcript.getClientRects().length),
    transcriptInDom: !!transcript,
    // still following the reply at its end: at the bottom, no "new messages" pill
    atBottom: (() => { const l = reply.closest('.nbchat-messages');
      return l.scrollHeight - l.scrollTop - l.clientHeight <= 16; })(),
    jumpShown: !document.querySelector('.nbchat .nbchat-jump').hidden,
  };
}"""

CLIPBOARD = "() => navigator.clipboard.readText()"

DARK = """() => window.jupyterapp.commands.execute('apputils:change-theme',
  {theme: 'JupyterLab Dark'})"""
COLOURS = """() => {
  if (document.body.dataset.jpThemeLight !== 'false') return null;
  const md = document.querySelector(
    '.nbchat .nbchat-message[data-role=assistant] .nbchat-markdown');
  const chat = md.closest('.nbchat');
  const code = md.querySelector('.nbchat-code pre code');
  const style = (el) => getComputedStyle(el);
  return { text: style(md).color, background: style(chat).backgroundColor,
           code: style(code).color,
           codeBackground: style(md.querySelector('.nbchat-code')).backgroundColor };
}"""


def luminance(css: str) -> float:
    """Relative luminance (0 black .. 1 white) of an ``rgb(...)`` colour."""
    import re

    red, green, blue = (int(x) / 255 for x in re.findall(r"\d+", css)[:3])
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


@pytest.mark.parametrize("front_end", ["lab", "notebook7"])
def test_a_reply_renders_and_copies(lab: JupyterLab, page: Any, front_end: str) -> None:
    jupyter.open_notebook(page, lab, "render.ipynb", front_end)
    jupyter.run_all_cells(page, timeout=120)
    shown = wait_until(lambda: page.evaluate(RENDERED), 30, "the rendered reply")
    page.screenshot(path=str(ARTIFACTS / f"render-1-reply-{front_end}.png"))
    assert shown["heading"].startswith("Show me how to read a CSV file")
    assert shown["cells"] >= 8 and shown["math"] >= 1 and shown["keywords"] >= 2, shown
    assert not shown["rawMarkers"], "Markdown syntax shows as text"
    assert shown["transcriptInDom"] and not shown["transcriptShown"], shown
    assert shown["atBottom"] and not shown["jumpShown"], shown

    reply = page.locator(".nbchat .nbchat-message[data-role=assistant]").last
    reply.locator(".nbchat-code button.nbchat-copy").first.click()
    wait_until(lambda: page.evaluate(CLIPBOARD) == shown["code"], 5, "the code on the clipboard")
    assert "def about_read_csv_file" in shown["code"]
    reply.hover()
    reply.locator(":scope > button.nbchat-copy").click()

    def reply_copied() -> str | None:
        text: str = page.evaluate(CLIPBOARD)
        return text if text.startswith("## ") else None

    copied = wait_until(reply_copied, 5, "the reply copied")
    assert "| measure | value |" in copied and "```python" in copied
    if front_end == "lab":
        # Readable in the dark theme: text, code and links follow the theme's colours.
        page.evaluate(DARK)
        colours = wait_until(lambda: page.evaluate(COLOURS), 20, "the dark theme")
        page.screenshot(path=str(ARTIFACTS / "render-1-reply-dark.png"))
        assert colours["text"] != colours["background"], colours
        assert luminance(colours["text"]) > luminance(colours["background"]) + 0.4, colours
        assert luminance(colours["code"]) > luminance(colours["codeBackground"]) + 0.3, colours
        page.evaluate(DARK.replace("JupyterLab Dark", "JupyterLab Light"))  # as it was
    jupyter.assert_no_nbchat_errors(page)


@pytest.mark.parametrize("front_end", ["lab", "notebook7"])
def test_a_saved_notebook_reopened_shows_the_transcript(
    lab: JupyterLab, page: Any, front_end: str
) -> None:
    jupyter.open_notebook(page, lab, "saved.ipynb", front_end)  # a new kernel: no widgets
    # (JupyterLab sanitizes an untrusted notebook's HTML: the data attribute goes, the
    # class stays.)
    transcript = page.locator(".jp-OutputArea-output .nbchat-transcript").first
    transcript.wait_for(state="visible", timeout=30000)
    text = transcript.inner_text()
    page.screenshot(path=str(ARTIFACTS / f"render-2-reopened-{front_end}.png"))
    assert "Show me how to read a CSV file with pandas" in text
    assert transcript.locator("table").count() >= 1  # the reply as Markdown, not raw
    assert "| measure |" not in text
