"""The chat's controls, in JupyterLab and Notebook 7 with headless Debian Chromium.

``%%chat`` streams into its cell's output and into the chat; then, from the widget:
Edit and resend the last question, Regenerate the last reply, Clear (a note) and Undo,
the model picker (a model the demo server does not serve fails with a clear error,
Retry with the right one works), Export as a download, New, the Conversations panel
(open an old one, delete one with a confirming click), and after a kernel restart the
cell reopens the conversation chosen last. Screenshots go to test-artifacts/browser/.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import jupyter
from tests.browser.jupyter import JupyterLab, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.timeout(420)]

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "browser"
MAGIC_TEXT = "What does the magic do?"
CELLS = [
    'import nbchat\n\nchat = nbchat.Chat(models=["demo", "demo-2"])\nchat',
    "%load_ext nbchat",
    f"%%chat\n{MAGIC_TEXT}",
]

JS_CHAT = """() => {
  const root = document.querySelector('.nbchat');
  if (!root) return null;
  return {
    messages: Array.from(root.querySelectorAll('.nbchat-message')).map(m => ({
      id: m.dataset.id, role: m.dataset.role, status: m.dataset.status,
      text: ((m.dataset.role === 'note' ? m : m.querySelector('.nbchat-content')) || {})
        .textContent || ''})),
    phase: root.dataset.phase,
    empty: !root.querySelector('.nbchat-empty').hidden,
    input: root.querySelector('.nbchat-input').value,
    model: root.querySelector('.nbchat-model-picker').value,
    rows: Array.from(root.querySelectorAll('.nbchat-conversation')).map(r => ({
      name: r.dataset.name, current: r.hasAttribute('data-current'),
      title: r.querySelector('.nbchat-conversation-title').textContent})),
  };
}"""
JS_MAGIC_OUTPUT = """() => {
  const cells = Array.from(document.querySelectorAll('.jp-CodeCell'));
  const out = cells[2] && cells[2].querySelector('.jp-OutputArea-output');
  return out ? out.textContent : '';
}"""
JS_RESTART = """async () => {
  const k = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
  await k.restart();
  return true;
}"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterLab]:
    with JupyterLab.serving(tmp_path_factory, lambda _root: None, {"NBCHAT_DEMO_TPS": "40"}) as s:
        yield s


def chat(page: Any) -> dict[str, Any]:
    return page.evaluate(JS_CHAT) or {}


def users(state: dict[str, Any]) -> list[str]:
    return [m["text"].strip() for m in state.get("messages", []) if m["role"] == "user"]


def idle_with(page: Any, replies: int) -> dict[str, Any] | None:
    """The chat once no reply streams and it shows ``replies`` finished replies."""
    state = chat(page)
    messages = state.get("messages", [])
    ended = [m for m in messages if m["role"] == "assistant" and m["status"] != "streaming"]
    busy = state.get("phase") in ("connecting", "reconnecting", "streaming")
    return state if not busy and len(ended) == replies else None


def tool(page: Any, action: str) -> Any:
    return page.locator(f'.nbchat-toolbar button[data-action="{action}"]')


def send(page: Any, text: str) -> None:
    box = page.locator(".nbchat .nbchat-input")
    box.click()
    box.fill(text)
    box.press("Enter")


@pytest.mark.parametrize("front_end", ["lab", "notebook7"])
def test_controls_from_the_widget(lab: JupyterLab, page: Any, front_end: str) -> None:
    notebook = f"{front_end}-controls.ipynb"
    (lab.root / notebook).write_text(jupyter.notebook_json(CELLS, ["chat", "ext", "magic"]))
    shot = ARTIFACTS / f"controls-{front_end}"
    jupyter.open_notebook(page, lab, notebook, front_end)
    jupyter.run_all_cells(page, timeout=120)

    # %%chat: the reply streams into the cell's output, and into the chat.
    lengths = []
    for _ in range(40):
        lengths.append(len(page.evaluate(JS_MAGIC_OUTPUT)))
        if len(set(lengths)) >= 3:
            break
        time.sleep(0.15)
    assert len(set(lengths)) >= 3 and lengths == sorted(lengths), lengths
    state = wait_until(lambda: idle_with(page, 1), 60, "the %%chat reply")
    assert users(state) == [MAGIC_TEXT]
    assert len(page.evaluate(JS_MAGIC_OUTPUT)) > 100

    # Edit and resend the last question: the old question and reply go.
    send(page, "A second question")
    wait_until(lambda: idle_with(page, 2), 60, "the second reply")
    page.locator(".nbchat-message[data-role=user] .nbchat-edit").click()
    assert chat(page)["input"] == "A second question"
    box = page.locator(".nbchat .nbchat-input")
    box.fill("A second question, edited")
    box.press("Enter")
    state = wait_until(
        # The old question and reply go once the new reply has output.
        lambda: (
            (s := idle_with(page, 2))
            and len(s["messages"]) == 4
            and users(s)[-1].endswith("edited")
            and s
        ),
        60,
        "the edited question's reply",
    )
    assert users(state) == [MAGIC_TEXT, "A second question, edited"]
    page.screenshot(path=f"{shot}-1-edited.png")

    # Regenerate the last reply: a new one replaces it.
    last = state["messages"][-1]["id"]
    page.locator(".nbchat-retry").click()
    state = wait_until(
        lambda: (s := idle_with(page, 2)) and s["messages"][-1]["id"] != last and s,
        60,
        "the regenerated reply",
    )
    assert len(state["messages"]) == 4

    # Clear leaves a note; Undo takes the note back, then the last exchange.
    tool(page, "clear").click()
    state = wait_until(
        lambda: (s := chat(page))["messages"][-1]["role"] == "note" and s, 10, "the note"
    )
    assert "Context cleared" in state["messages"][-1]["text"]
    page.screenshot(path=f"{shot}-2-cleared.png")
    tool(page, "undo").click()
    wait_until(lambda: chat(page)["messages"][-1]["role"] == "assistant", 10, "the note gone")
    tool(page, "undo").click()
    wait_until(lambda: len(chat(page)["messages"]) == 2, 10, "the last exchange gone")

    # The model picker: the demo server has no "demo-2" (a clear error); Retry on "demo".
    page.locator(".nbchat-model-picker").select_option("demo-2")
    wait_until(lambda: chat(page)["model"] == "demo-2", 10, "the model picked")
    send(page, "Which model answers?")
    state = wait_until(lambda: idle_with(page, 2), 60, "the failed reply")
    failed = page.locator(".nbchat-message").last.text_content() or ""
    assert state["messages"][-1]["status"] == "error" and "demo-2" in failed, failed
    page.locator(".nbchat-model-picker").select_option("demo")
    wait_until(lambda: chat(page)["model"] == "demo", 10, "the model picked back")
    page.locator(".nbchat-retry").click()
    state = wait_until(
        lambda: (s := idle_with(page, 2)) and s["messages"][-1]["status"] == "done" and s,
        60,
        "the retried reply",
    )

    # Export downloads the conversation.
    tool(page, "export").click()
    with page.expect_download(timeout=20000) as download:
        page.locator('.nbchat-menu [data-format="markdown"]').click()
    saved = Path(download.value.path()).read_text(encoding="utf-8")
    assert download.value.suggested_filename.endswith("-chat.md")
    assert MAGIC_TEXT in saved and "Which model answers?" in saved

    # New: an empty chat; the old conversation is in the Conversations panel.
    tool(page, "new").click()
    wait_until(lambda: chat(page)["empty"], 10, "an empty chat")
    send(page, "A fresh start")
    wait_until(lambda: idle_with(page, 1), 60, "the new conversation's reply")
    tool(page, "conversations").click()
    rows = wait_until(lambda: len(chat(page)["rows"]) >= 2 and chat(page)["rows"], 10, "the list")
    assert [r["title"] for r in rows][:2] == ["A fresh start", MAGIC_TEXT]
    assert rows[0]["current"] and not rows[1]["current"]
    page.screenshot(path=f"{shot}-3-conversations.png")
    fresh = rows[0]["name"]
    page.locator(
        f'.nbchat-conversation[data-name="{rows[1]["name"]}"] .nbchat-conversation-open'
    ).click()
    wait_until(lambda: users(chat(page))[:1] == [MAGIC_TEXT], 10, "the old conversation")

    # Delete asks once more, then the list no longer has it.
    tool(page, "conversations").click()
    remove = page.locator(f'.nbchat-conversation[data-name="{fresh}"] .nbchat-conversation-delete')
    remove.click()
    assert remove.text_content() == "Delete for good?"
    remove.click()
    wait_until(
        lambda: fresh not in [r["name"] for r in chat(page)["rows"]], 10, "the deleted one gone"
    )

    # A restart: re-running the cell reopens the conversation chosen last.
    page.evaluate(JS_RESTART)
    wait_until(lambda: page.evaluate(jupyter.JS_PANEL).get("kernel") == "idle", 60, "the kernel")
    jupyter.run_all_cells(page, timeout=120)
    state = wait_until(lambda: idle_with(page, 3), 60, "the reopened conversation")
    assert users(state) == [MAGIC_TEXT, "Which model answers?", MAGIC_TEXT]
    page.screenshot(path=f"{shot}-4-reopened.png")
    jupyter.assert_no_nbchat_errors(page)
