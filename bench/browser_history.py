"""Long-chat browser benchmark: a 10,000-message chat in JupyterLab + headless Chromium.

Two chats are shown in one notebook: one with 10,000 messages of history and, as the
baseline measured in the same run, one with 50 (a single page). For each: the time
from running its cell to its messages on screen, and the page's long tasks (Long
Tasks API) while it opens; then, for the long chat, ten scrolls to the top, each
loading the page of older messages before, with the long tasks while paging. Printed:
open time of each and their ratio, the worst long task of each phase, and how many
messages the DOM holds at the end. Run: ``make bench`` (needs Debian's chromium).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.browser import jupyter
from tests.browser.jupyter import JupyterLab, wait_until

SIZES = {"long": 10_000, "page": 50}

SETUP = """import nbchat
from nbchat import Message

def chat_of(name, count):
    chat = nbchat.Chat(history=None, name=name)
    for i in range(count):
        role = "user" if i % 2 == 0 else "assistant"
        chat.messages.append(Message(role, f"message {i}: " + "lorem ipsum dolor sit amet " * 8))
    return chat

chats = {name: chat_of(name, count) for name, count in SIZES.items()}""".replace(
    "SIZES", json.dumps(SIZES)
)

OBSERVE = """() => {
  window.__longTasks = [];
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) window.__longTasks.push(entry.duration);
  }).observe({ type: "longtask", buffered: false });
  return true;
}"""
TAKE_TASKS = "() => { const t = window.__longTasks; window.__longTasks = []; return t; }"
COUNT = """(k) => {
  const chat = document.querySelectorAll('.nbchat')[k];
  return chat ? chat.querySelectorAll('.nbchat-message').length : 0;
}"""
TO_TOP = """(k) => {
  const list = document.querySelectorAll('.nbchat')[k].querySelector('.nbchat-messages');
  list.scrollTop = 0;
  return list.querySelectorAll('.nbchat-message').length;
}"""


def notebook() -> dict[str, Any]:
    cells = [SETUP, 'chats["page"]', 'chats["long"]']
    return {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "id": f"c{i}",
                "metadata": {},
                "outputs": [],
                "source": source,
            }
            for i, source in enumerate(cells)
        ],
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def run_cell(page: Any, index: int) -> None:
    page.evaluate(jupyter.JS_RUN_CELL, index)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        root = folder / "root"
        root.mkdir()
        (root / "long.ipynb").write_text(json.dumps(notebook()))
        lab = JupyterLab(root, folder / "state", {"NBCHAT_DATA_DIR": str(folder / "data")})
        lab.start()
        try:
            shot = folder / "last.png"
            with jupyter.chromium_page(folder / "profile", shot) as page:
                jupyter.open_notebook(page, lab, "long.ipynb")
                run_cell(page, 0)
                wait_until(lambda: jupyter.code_cells(page)[0].get("count"), 120, "setup")
                page.evaluate(OBSERVE)
                opened: dict[str, float] = {}
                worst: dict[str, float] = {}
                for k, (name, cell) in enumerate([("page", 1), ("long", 2)]):
                    started = time.perf_counter()
                    run_cell(page, cell)
                    wait_until(lambda k=k: page.evaluate(COUNT, k) >= 50, 60, f"{name} shown")
                    opened[name] = time.perf_counter() - started
                    worst[name] = max(page.evaluate(TAKE_TASKS), default=0.0)
                for _ in range(10):
                    before = page.evaluate(TO_TOP, 1)
                    wait_until(lambda b=before: page.evaluate(COUNT, 1) > b, 30, "older page")
                paging = page.evaluate(TAKE_TASKS)
                in_dom = page.evaluate(COUNT, 1)
        finally:
            lab.stop()
    print("a 10,000-message chat in JupyterLab + headless Chromium (baseline: 50 messages)")
    small, large = opened["page"] * 1000, opened["long"] * 1000
    print(f"  open, cell run to messages shown: 50: {small:7.0f} ms   "
          f"10,000: {large:7.0f} ms   ratio {large / small:5.2f}")  # fmt: skip
    print(f"  worst long task while opening   : 50: {worst['page']:7.0f} ms   "
          f"10,000: {worst['long']:7.0f} ms")  # fmt: skip
    print(f"  10 pages loaded by scrolling up : worst long task {max(paging, default=0):.0f} ms, "
          f"{len(paging)} long tasks, {in_dom} messages in the DOM")  # fmt: skip


if __name__ == "__main__":
    main()
