"""The ``nbchat`` command line: ``serve`` as a real subprocess, host safety, ``--version``."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import nbchat
from nbchat.cli import is_loopback, main
from nbchat.server import DemoModel
from tests.net import free_port

PROMPT = [{"role": "user", "content": "Say hello from the command line"}]
# The folder that holds the nbchat package, so the subprocess imports this checkout.
SOURCE_ROOT = Path(nbchat.__file__).parent.parent


@pytest.fixture
def serve_process() -> Iterator[tuple[subprocess.Popen[str], int]]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SOURCE_ROOT), *sys.path])}
    env.pop("NBCHAT_DEMO_TPS", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "nbchat", "serve", "--port", str(port), "--tps", "400"],
        cwd=SOURCE_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


def _wait_healthy(proc: subprocess.Popen[str], url: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert proc.poll() is None, "nbchat serve exited early"
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    pytest.fail("nbchat serve did not become healthy")


def test_serve_streams_and_exits_cleanly_on_ctrl_c(
    serve_process: tuple[subprocess.Popen[str], int],
) -> None:
    proc, port = serve_process
    url = f"http://127.0.0.1:{port}"
    _wait_healthy(proc, url)
    body = {"model": "demo", "messages": PROMPT, "stream": True}
    with httpx.Client(base_url=url + "/v1", timeout=10) as client:
        with client.stream("POST", "/chat/completions", json=body) as response:
            data = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
        assert data[-1] == "[DONE]"
        text = "".join(json.loads(d)["choices"][0]["delta"].get("content", "") for d in data[:-1])
        assert text == DemoModel().reply(PROMPT)

        # Ctrl-C while a reply is still streaming: the server must not wait it out.
        with client.stream("POST", "/chat/completions", json=body) as response:
            assert next(response.iter_lines()).startswith("data: ")
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert f"{url} " in out
    assert f"{url}/v1" in out
    assert "Traceback" not in err


def test_refuses_a_public_host_without_allow_remote(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert "refusing to listen on 0.0.0.0" in err
    assert "--allow-remote" in err
    assert "no authentication" in err
    assert main(["serve", "--host", "example.com", "--port", "1"]) == 2


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("nbchat ")


def test_usage_errors_return_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "serve" in capsys.readouterr().out
    assert main(["serve", "--port", "70000"]) == 2
    assert main(["serve", "--tps", "0"]) == 2
    assert main(["bogus"]) == 2


def test_busy_port_is_reported(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 1
    assert "Cannot bind" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.10", False),
        ("example.com", False),
    ],
)
def test_is_loopback(host: str, expected: bool) -> None:
    assert is_loopback(host) is expected
