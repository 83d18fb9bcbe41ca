"""The built widget on a fake model in headless Chromium: no Jupyter, no kernel.

For what needs many replies, fast, in a real browser: the hostile-reply corpus and the
streaming-render benchmark. A loopback server serves the bundle (``nbchat/static``),
the test doubles of ``js/test/fakes.js`` and a page whose ``window.nb`` mounts a chat
(``nb.mount(snapshot)``), plays the kernel (``nb.custom(batch)``,
``nb.setSnapshot(snapshot)``) and renders the same text without nbchat for the
tests' positive controls (``nb.unsafe(html)``). Every request the page makes to any
other origin is recorded in ``Harness.leaks`` and refused.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.browser.jupyter import CHROMIUM, CHROMIUM_ARGS

REPO = Path(__file__).resolve().parents[2]

PAGE = """<!doctype html>
<meta charset="utf-8">
<title>nbchat harness</title>
<link rel="stylesheet" href="/widget.css">
<div id="out" style="width: 900px"></div>
<div id="unsafe"></div>
<script type="module">
import widget from "/widget.js";
import { batch, createFakeModel, message, proxy, snapshot, toolCall } from "/fakes.js";

window.nb = {
  message, snapshot, batch, toolCall,
  mount(snap) {
    const out = document.getElementById("out");
    out.textContent = "";
    const el = document.createElement("div");
    out.append(el);
    this.model = createFakeModel({ snapshot: snap, transcript_id: "" });
    this.cleanup = widget.render({ model: proxy(this.model, {}), el });
    return true;
  },
  custom(content) { this.model.custom(content); },
  setSnapshot(snap) { this.model.setSnapshot(snap); },
  // A positive control: the same text put into the page with no rendering rules.
  unsafe(html) { document.getElementById("unsafe").innerHTML = html; },
  frame() { return new Promise((resolve) => requestAnimationFrame(() => resolve(true))); },
};
window.nbReady = true;
</script>
"""

FILES = {
    "/widget.js": (REPO / "nbchat/static/widget.js", "text/javascript"),
    "/widget.css": (REPO / "nbchat/static/widget.css", "text/css"),
    "/fakes.js": (REPO / "js/test/fakes.js", "text/javascript"),
}


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path in FILES:
            file, kind = FILES[path]
            body = file.read_bytes()
        elif path in ("/", "/index.html"):
            body, kind = PAGE.encode(), "text/html"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("content-type", f"{kind}; charset=utf-8")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: Any) -> None:
        pass


class Harness:
    """A Chromium page on the harness (``page``), the server's ``url``, and ``leaks``."""

    def __init__(self, page: Any, url: str) -> None:
        self.page = page
        self.url = url
        #: requests to anywhere but the harness server (refused)
        self.leaks: list[str] = []
        #: dialogs (alert, confirm, prompt) a reply opened
        self.dialogs: list[str] = []

    def open(self) -> None:
        self.page.goto(self.url)
        self.page.wait_for_function("window.nbReady === true")

    def call(self, script: str, *args: Any) -> Any:
        return self.page.evaluate(script, list(args) if len(args) != 1 else args[0])


@contextmanager
def harness(viewport: tuple[int, int] = (1000, 900)) -> Iterator[Harness]:
    """Serve the harness and open it in Debian's Chromium."""
    from playwright.sync_api import sync_playwright

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
            page = context.new_page()
            found = Harness(page, url)

            context.route("**/*", lambda r: _route(r, url, found))
            page.on("dialog", lambda d: _dismiss(d, found))
            found.open()
            try:
                yield found
            finally:
                context.close()
                browser.close()
    finally:
        server.shutdown()
        server.server_close()


def _dismiss(dialog: Any, found: Harness) -> None:
    found.dialogs.append(dialog.message)
    with contextlib.suppress(Exception):  # the page may be gone already
        dialog.dismiss()


def _route(route: Any, url: str, found: Harness) -> None:
    if route.request.url.startswith(url):
        route.continue_()
    else:
        found.leaks.append(route.request.url)
        route.abort()
