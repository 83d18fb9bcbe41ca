"""Offline replays in real JupyterLab + headless Debian Chromium: Retry, tools, reasoning, progress.

One notebook (each extra one costs ~6.5 s) holds four chats that replay recorded
streams instead of calling a server:

1. a 2-turn nbchat recording whose first turn (OpenAI Chat) is cut mid-reply, before
   ``data: [DONE]``: the reply ends ``interrupted`` with a marker and a Retry button;
   clicking Retry in the browser plays the second, complete turn in its place;
2. the Anthropic tool-use fixture: the tool call renders with its name and arguments;
3. a composed Anthropic stream with a thinking block: the reasoning renders, closed;
4. a spec-004 progress body: the bar ends at the last percent and the result shows.

Screenshots of each widget go to test-artifacts/browser/replay-*.png.
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

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "browser"
STREAMS = REPO / "tests" / "fixtures" / "llm-streams"
EXPECTED = json.loads((STREAMS / "expected.json").read_text())["transcripts"]
NOTEBOOK = "replay-ui.ipynb"
LIVE = ("connecting", "reconnecting", "streaming")  # phases of a running turn

# Widget order in the notebook (one chat per cell, in this order).
RETRY, TOOLS, REASONING, PROGRESS = range(4)

REASONING_TEXT = "The user wants a number. 6 times 7 is 42."
REASONING_ANSWER = "The answer is 42."
PROGRESS_STAGES = [
    ("started", 5, "Starting"),
    ("fetching-exercises", 15, "Loading the exercise library"),
    ("generating", 40, "Generating"),
    ("validating", 70, "Validating"),
    ("storing", 85, "Saving"),
    ("complete", 100, "Done"),
]
PROGRESS_RESULT = {"exercises": [{"name": "Squat", "sets": 3, "reps": 10}], "plan_id": "p-42"}

# Everything the checks need from the k-th chat widget, in one round trip.
JS_WIDGET = """(k) => {
  const root = document.querySelectorAll('.nbchat')[k];
  if (!root) return null;
  const text = (el, sel) => { const x = el.querySelector(sel); return x ? x.textContent : null; };
  const attr = (el, sel, name) => {
    const x = el.querySelector(sel); return x ? x.getAttribute(name) : null; };
  return {
    phase: root.dataset.phase,
    retry: Array.from(root.querySelectorAll('button.nbchat-retry')).map(b => ({
      visible: !!(b.offsetWidth || b.offsetHeight), disabled: b.disabled,
      in: b.closest('.nbchat-message') ? b.closest('.nbchat-message').dataset.id : null})),
    messages: Array.from(root.querySelectorAll('.nbchat-message')).map(el => ({
      id: el.dataset.id, role: el.dataset.role, status: el.dataset.status,
      // the reply's text: its parts, without the tool rows shown between them
      text: Array.from(el.querySelectorAll(
        '.nbchat-content .nbchat-part, .nbchat-content:not(:has(.nbchat-part))'))
        .map((p) => p.textContent).join('').trim(),
      markers: Array.from(el.querySelectorAll('.nbchat-marker')).map(m => m.dataset.kind),
      error: text(el, '.nbchat-error'),
      reasoning: el.querySelector('details.nbchat-reasoning') ? {
        open: el.querySelector('details.nbchat-reasoning').open,
        hidden: el.querySelector('details.nbchat-reasoning').hidden,
        summary: text(el, '.nbchat-reasoning-summary'),
        text: text(el, '.nbchat-reasoning-text')} : null,
      tools: Array.from(el.querySelectorAll('details.nbchat-tool')).map(t => ({
        id: t.dataset.id, status: t.dataset.status,
        name: text(t, '.nbchat-tool-name'), args: text(t, 'pre.nbchat-tool-args')})),
      progress: el.querySelector('.nbchat-progress') ? {
        status: attr(el, '.nbchat-progress', 'data-status'),
        indeterminate: attr(el, '.nbchat-progress', 'data-indeterminate'),
        valuenow: attr(el, '.nbchat-progress-bar', 'aria-valuenow'),
        width: el.querySelector('.nbchat-progress-fill').style.width,
        stage: text(el, '.nbchat-progress-stage'),
        eta: el.querySelector('.nbchat-progress-eta').hidden} : null,
      result: el.querySelector('details.nbchat-result') ? {
        open: el.querySelector('details.nbchat-result').open,
        body: text(el, 'pre.nbchat-result-body')} : null,
    })),
  };
}"""


def _sse(obj: dict[str, Any], event: str | None = None) -> str:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(obj)}\n\n"


def write_data(root: Path) -> dict[str, Path]:
    """The replay files the notebook plays, written next to it."""
    # 1. Retry: turn 1 is the OpenAI text fixture cut mid-reply (no finish, no [DONE]);
    # turn 2 is the whole fixture.
    body = (STREAMS / "openai-chat-text.sse").read_text()
    events = [e + "\n\n" for e in body.split("\n\n") if e.strip()]
    assert events[-1].strip() == "data: [DONE]"
    cut = events[:10]
    lines: list[dict[str, Any]] = [{"format": "nbchat-recording", "version": 1}]
    for number, chunks in ((1, cut), (2, events)):
        lines.append(
            {
                "turn": number,
                "dialect": "openai-chat",
                "model": "gpt-4o-2024-08-06",
                "content_type": "text/event-stream",
            }
        )
        lines += [{"t": round(i * 0.01, 3), "text": chunk} for i, chunk in enumerate(chunks)]
        lines.append({"end": number, "t": round(len(chunks) * 0.01, 3)})
    recording = root / "retry.jsonl"
    recording.write_text("".join(json.dumps(line) + "\n" for line in lines))

    # 3. Reasoning: an Anthropic stream with a thinking block before the text.
    half = len(REASONING_TEXT) // 2
    thinking = root / "thinking.sse"

    def block(index: int, kind: str, **fields: Any) -> dict[str, Any]:
        return {"type": kind, "index": index, **fields}

    def delta(index: int, kind: str, key: str, value: str) -> dict[str, Any]:
        return block(index, "content_block_delta", delta={"type": kind, key: value})

    message = {"id": "msg_think", "type": "message", "role": "assistant", "content": []}
    message.update(model="claude-test", usage={"input_tokens": 12, "output_tokens": 1})
    anthropic = [
        {"type": "message_start", "message": message},
        block(0, "content_block_start", content_block={"type": "thinking", "thinking": ""}),
        delta(0, "thinking_delta", "thinking", REASONING_TEXT[:half]),
        delta(0, "thinking_delta", "thinking", REASONING_TEXT[half:]),
        delta(0, "signature_delta", "signature", "c2lnbmF0dXJl"),
        block(0, "content_block_stop"),
        block(1, "content_block_start", content_block={"type": "text", "text": ""}),
        delta(1, "text_delta", "text", REASONING_ANSWER),
        block(1, "content_block_stop"),
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn"},
            "usage": {"output_tokens": 9},
        },
        {"type": "message_stop"},
    ]
    thinking.write_text("".join(_sse(event, event["type"]) for event in anthropic))

    # 4. Progress (spec 004): the six stages, then the result.
    progress = root / "progress.sse"
    progress.write_text(
        "".join(
            _sse(
                {
                    "stage": stage,
                    "progress": percent,
                    "message": message,
                    "estimatedTimeRemaining": (100 - percent) * 10,
                }
            )
            for stage, percent, message in PROGRESS_STAGES
        )
        + _sse({"type": "result", "data": PROGRESS_RESULT})
    )
    return {"retry": recording, "thinking": thinking, "progress": progress}


def write_notebook(root: Path, files: dict[str, Path]) -> None:
    tool_sse = STREAMS / "anthropic-tool-use.sse"
    cells = [
        "import json\nimport nbchat",
        # A replay at 1x: ~0.1 s for the cut turn, ~0.35 s for the whole one.
        f"retry_chat = nbchat.Chat(replay={str(files['retry'])!r}, dialect='openai-chat',\n"
        "                        history=None, name='retry')\n"
        "display(retry_chat)\n"
        "first = await retry_chat.send('What is the weather in San Francisco?')\n"
        "first.status",
        f"tool_chat = nbchat.Chat(replay={str(tool_sse)!r}, dialect='anthropic',\n"
        "                       replay_speed=4, history=None, name='tools')\n"
        "display(tool_chat)\n"
        "(await tool_chat.send('Weather in Paris?')).status",
        f"think_chat = nbchat.Chat(replay={str(files['thinking'])!r}, dialect='anthropic',\n"
        "                        replay_speed=4, history=None, name='reasoning')\n"
        "display(think_chat)\n"
        "(await think_chat.send('What is 6 times 7?')).status",
        f"progress_chat = nbchat.Chat(replay={str(files['progress'])!r}, dialect='progress',\n"
        "                            replay_speed=2, history=None, name='progress')\n"
        "display(progress_chat)\n"
        "(await progress_chat.send('Plan exercises for a knee rehabilitation patient')).status",
        # The kernel's view, re-run after the Retry click.
        "print(json.dumps([[{'role': m.role, 'status': m.status, 'content': m.content}\n"
        "                   for m in c.messages]\n"
        "                  for c in (retry_chat, tool_chat, think_chat, progress_chat)]))",
    ]
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    nbformat.write(nb, str(root / NOTEBOOK))


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterLab]:
    with JupyterLab.serving(
        tmp_path_factory, lambda root: write_notebook(root, write_data(root))
    ) as server:
        yield server


@pytest.fixture
def page(lab: JupyterLab, tmp_path: Path) -> Iterator[Any]:
    with jupyter.chromium_page(
        tmp_path / "chromium-profile", ARTIFACTS / "replay-last.png"
    ) as page:
        yield page


def widget(page: Any, k: int) -> dict[str, Any]:
    state = page.evaluate(JS_WIDGET, k)
    assert state is not None, f"chat widget {k} is not on the page"
    return state


def settled(page: Any, k: int) -> dict[str, Any] | None:
    """The widget once its last reply ended and no turn runs, else None."""
    state = page.evaluate(JS_WIDGET, k)
    if not state or not state["messages"] or state["phase"] in LIVE:
        return None
    return None if state["messages"][-1]["status"] == "streaming" else state


def shoot(page: Any, k: int, name: str) -> None:
    page.locator(".nbchat").nth(k).screenshot(path=str(ARTIFACTS / f"replay-{name}.png"))


def cell_text(cell: dict[str, Any]) -> str:
    parts = []
    for out in cell["outputs"]:
        if out["output_type"] == "stream":
            text = out["text"]
            parts.append("".join(text) if isinstance(text, list) else text)
    return "".join(parts)


def test_retry_tools_reasoning_progress(lab: JupyterLab, page: Any) -> None:
    jupyter.open_notebook(page, lab, NOTEBOOK)
    cells = jupyter.run_all_cells(page, timeout=60)
    wait_until(
        lambda: page.evaluate("() => document.querySelectorAll('.nbchat').length") == 4,
        20,
        "the four chat widgets",
    )

    # ---- 1. An interrupted reply, then Retry clicked in the browser ------------------
    full = EXPECTED["openai-chat-text.sse"]["expected"]["text"]
    state = wait_until(lambda: settled(page, RETRY), 20, "the cut reply to end")
    user, reply = state["messages"]
    assert (user["role"], reply["role"]) == ("user", "assistant"), state
    assert reply["status"] == "interrupted", reply
    assert "interrupted" in reply["markers"], reply
    partial = reply["text"]
    assert partial and full.startswith(partial) and partial != full, (partial, full)
    assert [r["in"] for r in state["retry"]] == [reply["id"]], state["retry"]
    assert state["retry"][0]["visible"] and not state["retry"][0]["disabled"]
    shoot(page, RETRY, "1a-interrupted")

    page.locator(".nbchat").nth(RETRY).locator("button.nbchat-retry").click()

    def retried() -> dict[str, Any] | None:
        now = settled(page, RETRY)
        if not now or now["messages"][-1]["id"] == reply["id"]:
            return None
        return now

    state = wait_until(retried, 20, "the retried reply to end")
    assert [m["role"] for m in state["messages"]] == ["user", "assistant"], state["messages"]
    assert state["messages"][0]["id"] == user["id"]
    again = state["messages"][1]
    assert again["status"] == "done", again
    assert again["text"] == full, again["text"]
    assert again["markers"] == [] and again["error"] is None, again
    # A finished reply offers Regenerate instead of Retry.
    assert [r["in"] for r in state["retry"]] == [again["id"]], state["retry"]
    button = page.locator(".nbchat").nth(RETRY).locator("button.nbchat-retry")
    assert button.text_content() == "Regenerate"
    shoot(page, RETRY, "1b-retried")

    # ---- 2. Tool call --------------------------------------------------------------------
    tool_expected = EXPECTED["anthropic-tool-use.sse"]["expected"]
    state = wait_until(lambda: settled(page, TOOLS), 20, "the tool-use reply to end")
    reply = state["messages"][-1]
    assert reply["status"] == "done", reply
    assert reply["text"] == tool_expected["text"], reply["text"]
    (call,) = tool_expected["tool_calls"]
    assert len(reply["tools"]) == 1, reply["tools"]
    tool = reply["tools"][0]
    assert tool["status"] == "done", tool
    assert tool["id"] == call["id"], tool
    assert tool["name"] == call["name"], tool
    assert json.loads(tool["args"]) == call["input"], tool["args"]
    shoot(page, TOOLS, "2-tool-call")

    # ---- 3. Reasoning --------------------------------------------------------------------
    state = wait_until(lambda: settled(page, REASONING), 20, "the reasoning reply to end")
    reply = state["messages"][-1]
    assert reply["status"] == "done", reply
    assert reply["text"] == REASONING_ANSWER, reply["text"]
    reasoning = reply["reasoning"]
    assert reasoning is not None, reply
    assert reasoning["text"] == REASONING_TEXT, reasoning
    assert reasoning["summary"] == "Reasoning" and not reasoning["open"] and not reasoning["hidden"]
    shoot(page, REASONING, "3-reasoning")

    # ---- 4. Progress ---------------------------------------------------------------------
    state = wait_until(lambda: settled(page, PROGRESS), 20, "the progress reply to end")
    reply = state["messages"][-1]
    assert reply["status"] == "done", reply
    progress = reply["progress"]
    assert progress is not None, reply
    final = PROGRESS_STAGES[-1][1]
    assert progress["status"] == "done", progress
    assert progress["valuenow"] == str(final), progress
    assert progress["width"] == f"{final}%" and progress["indeterminate"] is None, progress
    assert progress["eta"], "the ETA still shows after the end"
    result = reply["result"]
    assert result is not None and result["open"], reply
    assert json.loads(result["body"]) == PROGRESS_RESULT, result["body"]
    shoot(page, PROGRESS, "4-progress")

    # ---- The kernel agrees (last cell re-run after the Retry) ----------------------------
    last = cells[-1]
    page.evaluate(jupyter.JS_RUN_CELL, last["index"])
    rerun = wait_until(
        lambda: next(
            (
                c
                for c in jupyter.code_cells(page)
                if c["index"] == last["index"] and not c["pending"] and c["count"] != last["count"]
            ),
            None,
        ),
        20,
        "the summary cell to run again",
    )
    assert not rerun["error"], rerun["outputs"]
    kernel = json.loads(cell_text(rerun))
    assert [(m["role"], m["status"]) for m in kernel[RETRY]] == [
        ("user", "done"),
        ("assistant", "done"),
    ]
    assert kernel[RETRY][1]["content"] == full
    assert [m["status"] for m in kernel[TOOLS]] == ["done", "done"]
    assert [m["status"] for m in kernel[PROGRESS]] == ["done", "done"]
    jupyter.assert_no_nbchat_errors(page)
