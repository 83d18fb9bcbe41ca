"""Living with chats, in JupyterLab and Notebook 7 with headless Debian Chromium.

Two chats in two cells are two conversations; Enter while a reply streams queues the
message and sends it when the reply ends; a kernel restart turns the old widgets into
"not connected" ones that keep the draft; re-running the cells reopens each cell's own
conversation. Screenshots go to test-artifacts/browser/.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import jupyter
from tests.browser.jupyter import JupyterLab, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "browser"
NOTEBOOK = "two-chats.ipynb"
CELLS = ["import nbchat\n\nfirst = nbchat.Chat()\nfirst", "second = nbchat.Chat()\nsecond"]

JS_CHATS = """() => Array.from(document.querySelectorAll('.nbchat')).map(root => ({
  messages: Array.from(root.querySelectorAll('.nbchat-message')).map(m => ({
    role: m.dataset.role, status: m.dataset.status,
    text: (m.querySelector('.nbchat-content') || {}).textContent || ''})),
  queued: (q => q && !q.hidden ? q.textContent : '')(root.querySelector('.nbchat-queued')),
  gone: (g => g && !g.hidden ? g.textContent : '')(root.querySelector('.nbchat-gone')),
  draft: root.querySelector('.nbchat-input').value,
  readOnly: root.querySelector('.nbchat-input').readOnly,
}))"""
JS_RESTART = """async () => {
  const k = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
  await k.restart();
  return true;
}"""


def _notebook() -> str:
    return jupyter.notebook_json(CELLS, [f"chat-cell-{i}" for i in range(len(CELLS))])


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterLab]:
    with JupyterLab.serving(
        tmp_path_factory,
        lambda root: (root / NOTEBOOK).write_text(_notebook()),
        {"NBCHAT_DEMO_TPS": "15"},
    ) as server:
        yield server


def chats(page: Any) -> list[dict[str, Any]]:
    return page.evaluate(JS_CHATS)


def send(page: Any, which: int, text: str) -> None:
    box = page.locator(".nbchat .nbchat-input").nth(which)
    box.click()
    box.fill(text)
    box.press("Enter")


def settled(page: Any, which: int, replies: int) -> list[dict[str, Any]] | None:
    shown = chats(page)
    if len(shown) <= which:
        return None
    messages = shown[which]["messages"]
    done = [m for m in messages if m["role"] == "assistant" and m["status"] == "done"]
    return messages if len(done) >= replies else None


@pytest.mark.parametrize("front_end", ["lab", "notebook7"])
def test_two_chats_queue_restart_and_reopen(lab: JupyterLab, page: Any, front_end: str) -> None:
    notebook = f"{front_end}-{NOTEBOOK}"
    (lab.root / notebook).write_text(_notebook())
    jupyter.open_notebook(page, lab, notebook, front_end)
    jupyter.run_all_cells(page, timeout=120)
    wait_until(lambda: len(chats(page)) == 2, 30, "two chat widgets")

    # Two cells, two conversations.
    send(page, 0, "Tell me about the first chat")
    send(page, 1, "Something for the second chat")

    # Enter while the first reply streams: the message waits, shown above the box.
    def streaming() -> bool:
        messages = chats(page)[0]["messages"]
        return bool(messages) and messages[-1]["status"] == "streaming"

    wait_until(streaming, 20, "the first reply to stream")
    send(page, 0, "And a follow-up")
    state = chats(page)[0]
    assert "And a follow-up" in state["queued"] and state["draft"] == ""
    page.screenshot(path=str(ARTIFACTS / f"conversations-{front_end}-1-queued.png"))
    first = wait_until(lambda: settled(page, 0, 2), 90, "the queued message's reply")
    assert [m["role"] for m in first] == ["user", "assistant", "user", "assistant"]
    assert first[2]["text"].strip() == "And a follow-up"
    assert chats(page)[0]["queued"] == ""
    second = wait_until(lambda: settled(page, 1, 1), 60, "the second chat's reply")
    assert [m["text"].strip() for m in second if m["role"] == "user"] == [
        "Something for the second chat"
    ]

    # A restart: both widgets say they are not connected, and keep the draft.
    page.locator(".nbchat .nbchat-input").nth(1).fill("a draft")
    page.evaluate(JS_RESTART)
    gone = wait_until(
        lambda: (shown := chats(page)) and all(c["gone"] for c in shown) and shown,
        10,
        "both widgets to say the kernel is gone",
    )
    assert "Re-run this cell" in gone[0]["gone"]
    assert gone[1]["draft"] == "a draft" and gone[1]["readOnly"]
    page.screenshot(path=str(ARTIFACTS / f"conversations-{front_end}-2-gone.png"))

    # Re-running the cells reopens each cell's own conversation.
    wait_until(lambda: page.evaluate(jupyter.JS_PANEL).get("kernel") == "idle", 60, "the kernel")
    jupyter.run_all_cells(page, timeout=120)

    def reopened() -> list[dict[str, Any]] | None:
        shown = chats(page)
        live = [c for c in shown if not c["gone"]]
        return live if len(live) == 2 and all(c["messages"] for c in live) else None

    again = wait_until(reopened, 30, "both conversations back")
    assert [m["text"].strip() for m in again[0]["messages"] if m["role"] == "user"] == [
        "Tell me about the first chat",
        "And a follow-up",
    ]
    assert [m["text"].strip() for m in again[1]["messages"] if m["role"] == "user"] == [
        "Something for the second chat"
    ]
    page.screenshot(path=str(ARTIFACTS / f"conversations-{front_end}-3-reopened.png"))
    jupyter.assert_no_nbchat_errors(page)
