"""Tools in JupyterLab with headless Debian Chromium: a data tool's row appears and the
reply uses its result; a tool that needs approval waits with Approve / Deny in its row;
Approve runs it (the file is written), Deny declines it (the model is told). All on the
offline demo model. Screenshots go to test-artifacts/browser/.
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
NOTEBOOK = "tools.ipynb"
CELL = """import pathlib

import pandas as pd

import nbchat

sales = pd.DataFrame({"region": ["EU", "US", "EU"], "amount": [120.0, 340.5, 99.9]})
nbchat.tools.share(sales, name="sales")
reports = pathlib.Path("reports")
reports.mkdir(exist_ok=True)
chat = nbchat.Chat(tools=nbchat.tools.DATA_TOOLS)


@chat.tool(approve=True)
def save_report(filename: str) -> str:
    \"\"\"Save the sales table as CSV.\"\"\"
    target = reports / pathlib.Path(filename).name
    sales.to_csv(target, index=False)
    return f"saved {len(sales)} rows to {target.name}"


chat"""

JS_TOOLS = """() => {
  const root = document.querySelector('.nbchat');
  if (!root) return null;
  const replies = Array.from(root.querySelectorAll('.nbchat-message[data-role=assistant]'));
  return {
    phase: root.dataset.phase,
    replies: replies.map(m => ({
      status: m.dataset.status,
      text: (m.querySelector('.nbchat-content') || {}).textContent || '',
      tools: Array.from(m.querySelectorAll('.nbchat-tool')).map(t => ({
        id: t.dataset.id, status: t.dataset.status, open: t.open,
        name: t.querySelector('.nbchat-tool-name').textContent,
        state: t.querySelector('.nbchat-tool-state').textContent,
        asking: !t.querySelector('.nbchat-tool-approval').hidden,
        result: (t.querySelector('.nbchat-tool-result') || {}).textContent || '',
      })),
    })),
  };
}"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterLab]:
    with JupyterLab.serving(
        tmp_path_factory,
        lambda root: (root / NOTEBOOK).write_text(jupyter.notebook_json([CELL], ["tools"])),
        {"NBCHAT_DEMO_TPS": "200"},
    ) as server:
        yield server


def state(page: Any) -> dict[str, Any]:
    return page.evaluate(JS_TOOLS) or {"replies": []}


def send(page: Any, text: str) -> None:
    box = page.locator(".nbchat .nbchat-input")
    box.click()
    box.fill(text)
    box.press("Enter")


def ended(page: Any, replies: int) -> dict[str, Any] | None:
    now = state(page)
    done = [r for r in now["replies"] if r["status"] != "streaming"]
    busy = now.get("phase") in ("connecting", "reconnecting", "streaming")
    return now if len(done) == replies and not busy else None


def test_tool_rows_approve_and_deny(lab: JupyterLab, page: Any) -> None:
    jupyter.open_notebook(page, lab, NOTEBOOK)
    jupyter.run_all_cells(page, timeout=120)
    wait_until(
        lambda: state(page)["replies"] is not None and page.locator(".nbchat").count(),
        30,
        "the chat",
    )

    # A data tool: its row shows the call and its result; the reply uses the result.
    send(page, "What is in sales?")
    now = wait_until(lambda: ended(page, 1), 60, "the first reply")
    [reply] = now["replies"]
    assert [(t["name"], t["status"]) for t in reply["tools"]] == [("describe_data", "done")]
    assert "sales: DataFrame with 3 rows" in reply["tools"][0]["result"]
    assert "sales: DataFrame with 3 rows" in reply["text"]

    # A tool that needs approval waits, opened, with Approve / Deny.
    send(page, "save_report as 'eu.csv'")

    def asking() -> dict[str, Any] | None:
        replies = state(page)["replies"]
        tools = replies[-1]["tools"] if len(replies) == 2 else []
        return tools[0] if tools and tools[0]["asking"] else None

    row = wait_until(asking, 30, "the call to wait for approval")
    assert (
        row["status"] == "waiting" and row["open"] and row["state"] == "waiting for your approval"
    )
    page.screenshot(path=str(ARTIFACTS / "tools-1-waiting.png"))
    assert not (lab.root / "reports" / "eu.csv").exists()
    page.locator(f'.nbchat-tool[data-id="{row["id"]}"] .nbchat-approve').click()
    now = wait_until(lambda: ended(page, 2), 60, "the approved call's reply")
    approved = now["replies"][1]
    assert approved["tools"][0]["status"] == "done"
    assert "saved 3 rows to eu.csv" in approved["text"]
    assert (lab.root / "reports" / "eu.csv").read_text().startswith("region,amount")

    # Deny: the call does not run, the model is told the user declined.
    send(page, "save_report as 'us.csv'")
    row = wait_until(
        lambda: (
            (r := state(page)["replies"])
            and len(r) == 3
            and r[2]["tools"]
            and r[2]["tools"][0]["asking"]
            and r[2]["tools"][0]
        ),
        30,
        "the second call to wait",
    )
    page.locator(f'.nbchat-tool[data-id="{row["id"]}"] .nbchat-deny').click()
    now = wait_until(lambda: ended(page, 3), 60, "the declined call's reply")
    declined = now["replies"][2]
    assert declined["tools"][0]["status"] == "denied"
    assert declined["tools"][0]["state"] == "declined"
    assert "The user declined this call" in declined["text"]
    assert not (lab.root / "reports" / "us.csv").exists()
    page.screenshot(path=str(ARTIFACTS / "tools-2-declined.png"))
    jupyter.assert_no_nbchat_errors(page)
