"""``%%chat`` in a real kernel (nbclient): the reply streams into the cell's output."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.timeout(120)


def run(cells: list[str], tmp_path: Path) -> nbformat.NotebookNode:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    NotebookClient(
        notebook, timeout=90, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    return notebook


def printed(cell: nbformat.NotebookNode) -> list[str]:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream").split()


def outputs(cell: nbformat.NotebookNode) -> list[str]:
    return [o.get("data", {}).get("text/markdown", "") for o in cell.outputs]


def test_chat_magic_streams_the_reply_into_its_cell_without_blocking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NBCHAT_DEMO_TPS", "100")
    notebook = run(
        [
            "import nbchat\n%load_ext nbchat\nchat = nbchat.Chat(history=None)\n"
            # record the refreshes of the cell's output (nbclient keeps only those sent
            # while their own cell runs; a front end applies every one)
            "import IPython.display as shown\nupdates = []\nupdate = shown.update_display\n"
            "def record(bundle, **kw):\n    updates.append(bundle['text/markdown'])\n"
            "    update(bundle, **kw)\nshown.update_display = record",
            "%%chat\nExplain server-sent events",
            # the magic cell returned at once: the reply still streams while this runs
            "print(chat.state.busy)\nawait chat.turn\nprint(chat.messages[-1].status)\n"
            "print(len(updates) > 2, updates[-1] == chat.messages[-1].content)",
            "%%chat other\nA second conversation",
            "other = nbchat.magic.chat_for('other', {})\nawait other.turn\n"
            "print(len(chat.messages), len(other.messages), other is not chat)",
        ],
        tmp_path,
    )
    magic, waited, _other, counts = (notebook.cells[i] for i in (1, 2, 3, 4))
    # busy after the magic returned; streamed in several refreshes, the last the reply
    assert printed(waited) == ["True", "done", "True", "True"]
    assert len(outputs(magic)) == 1, magic.outputs  # one output, refreshed by display_id
    assert printed(counts) == ["2", "2", "True"]


def test_an_empty_chat_cell_says_what_to_write(tmp_path: Path) -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell("%load_ext nbchat"),
        nbformat.v4.new_code_cell("%%chat\n   \n"),
    ]
    client = NotebookClient(notebook, timeout=90, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(tmp_path)}})  # fmt: skip
    client.execute()
    error = next(o for o in notebook.cells[1].outputs if o.output_type == "error")
    assert error["ename"] == "ConfigurationError" and "cell is empty" in error["evalue"]
