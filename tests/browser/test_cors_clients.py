"""A web page on another origin uses ``nbchat serve`` from real Chromium: the browser's own
``EventSource`` follows a reply, and a streaming ``fetch`` with a token (what
``useChat`` and ``fetch-event-source`` do) reads spec 000's route, once ``--cors``
allows the page's origin; without it the browser refuses the answers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

from nbchat.server import DemoModel, ServerThread, create_app
from tests.browser import jupyter

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
PROMPT = "How do I read a CSV file?"
TOKEN = "page-token-1"

#: the page's script: EventSource without a token, then a streaming fetch with one
SCRIPT = """
async function viaEventSource() {
  const base = document.body.dataset.open;
  const json = { "Content-Type": "application/json" };
  const session = await (await fetch(`${base}/sessions`, { method: "POST", headers: json })).json();
  await fetch(`${base}/sessions/${session.id}/messages`, {
    method: "POST", headers: json, body: JSON.stringify({ message: PROMPT }),
  });
  return await new Promise((resolve) => {
    const source = new EventSource(`${base}/sessions/${session.id}/stream`);
    let text = "";
    source.addEventListener("chunk", (ev) => (text += JSON.parse(ev.data).content));
    source.addEventListener("complete", () => { source.close(); resolve(text); });
    source.addEventListener("error", () => { source.close(); resolve("EventSource error"); });
  });
}
async function viaFetch() {
  const base = document.body.dataset.locked;
  const response = await fetch(`${base}/functions/v1/openrouter-chat`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify({ message: PROMPT }),
  });
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "", text = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    const blocks = buffer.split("\\n\\n");
    buffer = blocks.pop();
    for (const block of blocks) {
      const data = block.split("\\n").find((line) => line.startsWith("data: "));
      if (data) text += JSON.parse(data.slice(6)).content ?? "";
    }
  }
  return { text, session: response.headers.get("X-Session-Id"),
           type: response.headers.get("Content-Type") };
}
async function run(step) {
  try { return await step(); } catch (err) { return `failed: ${err}`; }
}
window.result = {
  eventSource: await run(viaEventSource),
  fetch: await run(viaFetch),
};
"""


def _page_app(servers: list[str]) -> Starlette:
    async def index(_request: Any) -> HTMLResponse:
        script = f"const PROMPT = {json.dumps(PROMPT)}; const TOKEN = {json.dumps(TOKEN)};"
        return HTMLResponse(
            f'<!doctype html><body data-open="{servers[0]}" data-locked="{servers[1]}">'
            f'<script type="module">{script}{SCRIPT}</script></body>'
        )

    return Starlette(routes=[Route("/", index)])


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[Any]:
    with jupyter.chromium_page(tmp_path / "profile", ARTIFACTS / "cors.png") as page:
        yield page


def _run_page(chromium: Any, *, allow: bool) -> dict[str, Any]:
    servers: list[str] = []
    page_server = ServerThread(_page_app(servers))
    page_url = page_server.start()
    origins = [page_url] if allow else []
    # A browser EventSource cannot send a token: it meets a server without tokens; the
    # streaming fetch sends one to a server that requires it.
    open_server = ServerThread(create_app(tokens_per_second=3000, cors_origins=origins))
    locked = create_app(tokens_per_second=3000, cors_origins=origins, users={"page": TOKEN})
    locked_server = ServerThread(locked)
    servers.extend([open_server.start(), locked_server.start()])
    try:
        chromium.goto(page_url)
        chromium.wait_for_function("window.result !== undefined", timeout=30_000)
        result: dict[str, Any] = chromium.evaluate("window.result")
        return result
    finally:
        locked_server.stop()
        open_server.stop()
        page_server.stop()


def test_a_page_allowed_by_cors_streams_with_eventsource_and_fetch(chromium: Any) -> None:
    result = _run_page(chromium, allow=True)
    expected = DemoModel().reply([{"role": "user", "content": PROMPT}])
    assert result["eventSource"] == expected
    assert result["fetch"]["text"] == expected
    assert result["fetch"]["type"] == "text/event-stream"
    assert result["fetch"]["session"]  # an exposed header the page can read


def test_a_page_not_allowed_is_refused_by_the_browser(chromium: Any) -> None:
    result = _run_page(chromium, allow=False)
    assert str(result["eventSource"]).startswith("failed: TypeError")
    assert str(result["fetch"]).startswith("failed: TypeError")
