"""The hostile corpus inside real JupyterLab and Notebook 7 (headless Debian Chromium).

One reply streams every case of ``tests/hostile_corpus.py`` (OpenAI-style deltas of a
few characters, replayed by ``Chat(replay=...)`` in the kernel), then the page is
reloaded and the widget shows it again from the kernel's state. Both times the
transcript must hold no active element, no handler, no unsafe link; no dialog opens,
no request goes to another origin, the page does not navigate. (Joined in one reply,
a case can change how the next ones parse, e.g. an open fence; each case on its own,
in every place a reply's text goes, and the static transcript are checked in
``test_hostile.py``.)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest

from tests.browser import jupyter
from tests.browser.jupyter import JupyterLab, wait_until
from tests.hostile_corpus import corpus

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "browser"
PAGE_JS = (Path(__file__).parent / "hostile.js").read_text()
CHUNK = 5


def body() -> str:
    """An OpenAI Chat Completions stream whose reply is the whole corpus, in small deltas."""
    text = "\n\n".join(corpus())
    events = [
        {"choices": [{"index": 0, "delta": {"content": text[at : at + CHUNK]}}]}
        for at in range(0, len(text), CHUNK)
    ]
    events.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    return "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"


def fill(root: Path) -> None:
    (root / "hostile.sse").write_text(body())
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(
            "import nbchat\n"
            'chat = nbchat.Chat(replay="hostile.sse", dialect="openai-chat", replay_speed=500,\n'
            '                   history=None, name="hostile")\n'
            "chat"
        ),
        nbformat.v4.new_code_cell('reply = await chat.send("go")\nprint(reply.status)'),
    ]
    nbformat.write(notebook, root / "hostile.ipynb")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterLab]:
    with JupyterLab.serving(tmp_path_factory, fill) as server:
        yield server


@pytest.fixture
def page(lab: JupyterLab, tmp_path: Path) -> Iterator[Any]:
    with jupyter.chromium_page(tmp_path / "profile", ARTIFACTS / "hostile-lab-last.png") as page:
        page.leaks = []
        page.dialogs = []
        page.on("dialog", lambda d: dialog(page, d))
        page.route(
            "**/*",
            lambda route: (
                route.continue_()
                if route.request.url.startswith(lab.url)
                else (page.leaks.append(route.request.url), route.abort())
            ),
        )
        yield page


def dialog(page: Any, shown: Any) -> None:
    if shown.type == "beforeunload":  # JupyterLab asks before a reload: leave
        shown.accept()
    else:  # alert, confirm, prompt: a payload ran
        page.dialogs.append(shown.message)
        shown.dismiss()


def check(page: Any, lab_url: str) -> None:
    page.add_script_tag(content=PAGE_JS)
    page.evaluate("() => { window.__pwned = 0; window.__pwn = () => { window.__pwned += 1; }; }")
    result = page.evaluate("(s) => window.hostile.check(s)", ".nbchat .nbchat-messages")
    assert not result["bad"], result["bad"][:10]
    assert not page.dialogs, page.dialogs
    assert not page.leaks, page.leaks
    assert result["url"].startswith(lab_url), "the page navigated"


@pytest.mark.parametrize("front_end", ["lab", "notebook7"])
def test_the_corpus_streams_and_reloads_inert(lab: JupyterLab, page: Any, front_end: str) -> None:
    jupyter.open_notebook(page, lab, "hostile.ipynb", front_end)
    cells = jupyter.run_all_cells(page, timeout=180)
    assert "done" in json.dumps(cells[-1]["outputs"])
    done = '.nbchat .nbchat-message[data-role=assistant][data-status="done"] .nbchat-part'
    page.wait_for_selector(done, timeout=30000)
    page.screenshot(path=str(ARTIFACTS / f"hostile-{front_end}-live.png"))
    check(page, lab.url)

    # Saved, then reloaded: the outputs come back from the file, the widget from the
    # kernel's state (what a reader sees after a browser refresh).
    page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    wait_until(
        lambda: page.evaluate("() => !window.jupyterapp.shell.currentWidget.context.model.dirty"),
        30,
        "the notebook saved",
    )
    page.reload(wait_until="domcontentloaded")
    page.wait_for_selector(done, timeout=60000)
    wait_until(lambda: page.evaluate("() => !!window.jupyterapp"), 30, "the app")
    page.screenshot(path=str(ARTIFACTS / f"hostile-{front_end}-reloaded.png"))
    check(page, lab.url)
