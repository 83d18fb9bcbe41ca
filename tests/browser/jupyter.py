"""A throwaway JupyterLab on 127.0.0.1 for browser tests (private config, own process group).

Modeled on shared/tools/browser-notebook-check: no calls to the outside world, the app
exposed as ``window.jupyterapp`` so tests can run commands and read the notebook model.
Also the steps every browser test shares: a headless Chromium page, opening a
notebook, running its cells and waiting for them, polling the page.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.net import free_port

CHROMIUM = os.environ.get("NBCHAT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

JS_PANEL = """() => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  if (!w || !w.sessionContext || !w.content) return {ready: false};
  const k = w.sessionContext.session && w.sessionContext.session.kernel;
  return {ready: true, kernel: k ? k.status : null};
}"""
JS_CELLS = """() => {
  const nb = window.jupyterapp.shell.currentWidget.content;
  return nb.widgets.map((cell, i) => {
    const m = cell.model;
    if (m.type !== 'code') return {index: i, type: m.type};
    const p = cell.node.querySelector('.jp-InputPrompt');
    const outs = [];
    for (let j = 0; j < m.outputs.length; j++) outs.push(m.outputs.get(j).toJSON());
    return {index: i, type: 'code', count: m.executionCount,
            pending: !!(p && p.textContent.includes('*')),
            error: outs.some(o => o.output_type === 'error'), outputs: outs};
  });
}"""
JS_RUN_CELL = """(i) => {
  const panel = window.jupyterapp.shell.currentWidget;
  panel.content.activeCellIndex = i;
  window.jupyterapp.commands.execute('notebook:run-cell');
  return true;
}"""
JS_RUN_ALL = "() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }"


class JupyterLab:
    """``start()`` a server serving ``root``; ``stop()`` ends it and its kernels."""

    def __init__(self, root: Path, state: Path, env: dict[str, str]) -> None:
        self.root = root
        self.state = state
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 90.0) -> None:
        config = self.state / "config"
        settings = self.state / "settings"
        for folder in (config, settings, self.state / "runtime", self.state / "workspaces"):
            folder.mkdir(parents=True, exist_ok=True)
        (config / "jupyter_server_config.py").write_text(
            f"""
c.ServerApp.ip = "127.0.0.1"
c.ServerApp.port = {self.port}
c.ServerApp.port_retries = 0
c.ServerApp.open_browser = False
c.ServerApp.allow_root = True
c.ServerApp.root_dir = {str(self.root)!r}
c.IdentityProvider.token = {self.token!r}
c.LabApp.news_url = None
c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"
c.LabApp.extension_manager = "readonly"
c.LabApp.expose_app_in_browser = True
c.JupyterNotebookApp.expose_app_in_browser = True
c.LabApp.user_settings_dir = {str(settings)!r}
c.LabApp.workspaces_dir = {str(self.state / "workspaces")!r}
"""
        )
        notify = settings / "@jupyterlab" / "apputils-extension"
        notify.mkdir(parents=True, exist_ok=True)
        (notify / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False})
        )
        env = dict(os.environ)
        env.update(self.env)
        env.update(
            JUPYTER_CONFIG_DIR=str(config),
            JUPYTER_RUNTIME_DIR=str(self.state / "runtime"),
            JUPYTERLAB_SETTINGS_DIR=str(settings),
            JUPYTERLAB_WORKSPACES_DIR=str(self.state / "workspaces"),
        )
        log = open(self.state / "jupyter.log", "wb")  # noqa: SIM115 - lives as long as the server
        self.process = subprocess.Popen(
            [sys.executable, "-m", "jupyter", "lab"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                urllib.request.urlopen(f"{self.url}/api/status?token={self.token}", timeout=2)
                return
            except OSError:
                time.sleep(0.2)
        self.stop()
        tail = (self.state / "jupyter.log").read_text(errors="replace")[-3000:]
        raise RuntimeError(f"JupyterLab did not start:\n{tail}")

    def stop(self) -> None:
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
        self.process = None

    def lab_url(self, notebook: str) -> str:
        return f"{self.url}/lab/tree/{notebook}?token={self.token}&reset"

    def notebook7_url(self, notebook: str) -> str:
        """The same notebook in Notebook 7 (one document per page)."""
        return f"{self.url}/notebooks/{notebook}?token={self.token}"

    @classmethod
    @contextmanager
    def serving(
        cls,
        tmp_path_factory: pytest.TempPathFactory,
        fill: Callable[[Path], object],
        env: dict[str, str] | None = None,
    ) -> Iterator[JupyterLab]:
        """A started server whose root ``fill(root)`` wrote; nbchat data in a fresh folder."""
        if not Path(CHROMIUM).exists():
            pytest.fail(f"{CHROMIUM} is missing: run `make chromium` (Debian's chromium package)")
        root = tmp_path_factory.mktemp("lab-root")
        fill(root)
        data = tmp_path_factory.mktemp("nbchat-data")
        server = cls(
            root,
            tmp_path_factory.mktemp("lab-state"),
            {"NBCHAT_DATA_DIR": str(data), **(env or {})},
        )
        server.start()
        try:
            yield server
        finally:
            server.stop()


@contextmanager
def chromium_page(profile: Path, last_screenshot: Path) -> Iterator[Any]:
    """A headless Chromium page; ``page.nbchat_errors`` collects page errors and nbchat logs.

    ``last_screenshot`` is taken when the test ends, passed or not.
    """
    from playwright.sync_api import sync_playwright

    last_screenshot.parent.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 1000},
        )
        page = context.pages[0] if context.pages else context.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if "nbchat" in m.text.lower() else None)
        page.nbchat_errors = errors
        try:
            yield page
        finally:
            page.screenshot(path=str(last_screenshot))
            context.close()


def wait_until(predicate: Any, timeout: float, what: str, step: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something true, and return that."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}; last: {value!r}")


def open_notebook(page: Any, lab: JupyterLab, notebook: str, front_end: str = "lab") -> None:
    """Open ``notebook`` in JupyterLab (or ``front_end="notebook7"``) and wait for its
    kernel to be idle (accepting any dialog)."""
    url = lab.notebook7_url(notebook) if front_end == "notebook7" else lab.lab_url(notebook)
    page.goto(url, wait_until="domcontentloaded", timeout=60000)
    page.wait_for_function("() => !!(window.jupyterapp && window.jupyterapp.shell)", timeout=60000)

    def ready() -> bool:
        dialog = page.query_selector(".jp-Dialog .jp-mod-accept")
        if dialog:
            dialog.click()
        state = page.evaluate(JS_PANEL)
        return bool(state.get("ready") and state.get("kernel") == "idle")

    wait_until(ready, 90, "the notebook and an idle kernel")


def code_cells(page: Any) -> list[dict[str, Any]]:
    """The open notebook's code cells: index, count, pending, error, outputs."""
    return [c for c in page.evaluate(JS_CELLS) if c["type"] == "code"]


def run_all_cells(page: Any, timeout: float) -> list[dict[str, Any]]:
    """Run the whole notebook, wait for every code cell, and fail on any error."""
    page.evaluate(JS_RUN_ALL)

    def done() -> list[dict[str, Any]] | None:
        cells = code_cells(page)
        if any(c["pending"] for c in cells):
            return None
        if any(c["error"] for c in cells):  # Run All stops at an error
            return cells
        return None if any(c["count"] is None for c in cells) else cells

    cells = wait_until(done, timeout, "every code cell to finish", step=0.1)
    errors = [c["outputs"] for c in cells if c["error"]]
    assert not errors, errors
    return cells


def assert_no_nbchat_errors(page: Any) -> None:
    """No page error and no nbchat console message mentioning an error."""
    assert not [e for e in page.nbchat_errors if "error" in e.lower()], page.nbchat_errors


def notebook_json(cells: list[str], ids: list[str] | None = None) -> str:
    """A notebook (nbformat 4.5) of code cells with these sources (and cell ids)."""
    return json.dumps(
        {
            "cells": [
                {
                    "cell_type": "code",
                    "id": ids[i] if ids else f"cell-{i}",
                    "metadata": {},
                    "execution_count": None,
                    "outputs": [],
                    "source": source,
                }
                for i, source in enumerate(cells)
            ],
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
            "nbformat": 4,
            "nbformat_minor": 5,
        }
    )
