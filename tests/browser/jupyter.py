"""A throwaway JupyterLab on 127.0.0.1 for browser tests (private config, own process group).

Modeled on shared/tools/browser-notebook-check: no calls to the outside world, the app
exposed as ``window.jupyterapp`` so tests can run commands and read the notebook model.
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
from pathlib import Path

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
