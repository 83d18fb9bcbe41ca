"""A saved notebook shows the conversation where no kernel runs: nbconvert's HTML.

The quickstart is executed by a real kernel (nbclient), the way a user runs it, then
exported with ``jupyter nbconvert``'s HTML exporter: the chat cell's output must carry
the transcript of the turn the notebook sent (refreshed by display id at its end),
and nothing of the widget's error text.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbconvert import HTMLExporter

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.timeout(180)


def test_nbconvert_html_shows_the_conversation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NBCHAT_DEMO_TPS", "2000")
    notebook = nbformat.read(REPO / "notebooks/01-quickstart.ipynb", as_version=4)
    NotebookClient(notebook, timeout=120, kernel_name="python3", resources={
        "metadata": {"path": str(tmp_path)}
    }).execute()  # fmt: skip
    chat_cell = next(c for c in notebook.cells if c.cell_type == "code")
    html_outputs = [o.get("data", {}).get("text/html", "") for o in chat_cell.outputs]
    transcripts = [html for html in html_outputs if "data-nbchat-transcript" in html]
    assert len(transcripts) == 1, chat_cell.outputs
    body, _resources = HTMLExporter().from_notebook_node(notebook)
    assert "data-nbchat-transcript" in body
    assert "Show me how to read a CSV file with pandas" in body  # the user's message
    assert re.search(r"<h2[^>]*>Show me how to read a CSV file", body)  # the reply, rendered
    assert "model not found" not in body
    assert "<script>alert" not in body
