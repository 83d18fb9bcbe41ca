"""The ``nbchat`` command line: ``serve`` as a real subprocess, host safety, ``--version``."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

import nbchat
from nbchat.cli import is_loopback, main
from nbchat.server import DemoModel, ServerThread, create_app
from tests.net import free_port

PROMPT = [{"role": "user", "content": "Say hello from the command line"}]
# The folder that holds the nbchat package, so the subprocess imports this checkout.
SOURCE_ROOT = Path(nbchat.__file__).parent.parent


Start = Callable[..., tuple[subprocess.Popen[str], int]]


@pytest.fixture
def start_serve() -> Iterator[Start]:
    """Run ``nbchat serve`` subprocesses on free ports; kill leftovers at the end."""
    procs: list[subprocess.Popen[str]] = []

    def start(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], int]:
        port = free_port()
        full_env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SOURCE_ROOT), *sys.path])}
        full_env.pop("NBCHAT_DEMO_TPS", None)
        full_env.pop("NBCHAT_SERVER_TOKEN", None)
        full_env.update(env or {})
        proc = subprocess.Popen(
            [sys.executable, "-m", "nbchat", "serve", "--port", str(port), *args],
            cwd=SOURCE_ROOT,
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        procs.append(proc)
        return proc, port

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


@pytest.fixture
def serve_process(start_serve: Start) -> tuple[subprocess.Popen[str], int]:
    return start_serve("--tps", "400", "--cors", "http://localhost:3000")


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
    assert "Auth: off" in out
    assert "Browser pages allowed (CORS): http://localhost:3000" in out
    assert "Traceback" not in err


def test_refuses_a_public_host_without_allow_remote(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert "refusing to listen on 0.0.0.0" in err
    assert "--allow-remote" in err
    assert "no authentication" in err
    assert main(["serve", "--host", "example.com", "--port", "1"]) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "gpt-4o"], "--model names the upstream model"),
        (["--upstream", "http://127.0.0.1:9/v1"], "--upstream needs --model"),
        (["--upstream", "http://x/v1", "--model", "m", "--upstream-dialect", "no"], "known"),
        (["--users", "/nonexistent/users.txt"], "cannot read the users file"),
        (["--token", "short"], "at least 8 characters"),
        (["--cors", "localhost:3000"], "a CORS origin is a scheme and host"),
    ],
)
def test_bad_server_options_are_usage_errors(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["serve", "--port", "0", *args]) == 2
    err = capsys.readouterr().err
    assert message in err
    if "--token" in args:  # a token is never echoed, not even a bad one
        assert args[args.index("--token") + 1] not in err


def test_negative_limits_are_rejected(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--max-concurrent", "-1"]) == 2
    assert main(["serve", "--grace", "-2"]) == 2
    assert main(["serve", "--max-body", "lots"]) == 2


def test_gateway_with_token_keeps_secrets_and_marks_replies_on_ctrl_c(
    start_serve: Start, tmp_path: Path
) -> None:
    key, token = "sk-upstream-secret-0123456789", "student-token-0123456789"
    upstream = ServerThread(create_app(tokens_per_second=100, users={"gw": key}))
    upstream_url = upstream.start() + "/v1"
    db = tmp_path / "server.sqlite3"
    try:
        proc, port = start_serve(
            "--upstream", upstream_url, "--model", "demo", "--token", token, "--db", str(db),
            env={"NBCHAT_UPSTREAM_API_KEY": key},
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(proc, url)
        assert httpx.get(url + "/sessions", timeout=5).status_code == 401
        auth = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=url, headers=auth, timeout=10) as client:
            session_id = client.post("/sessions").json()["id"]
            body = {"message": "Say hello from the command line"}
            with client.stream("POST", f"/sessions/{session_id}/chat", json=body) as response:
                assert response.status_code == 200
                lines = response.iter_lines()
                assert any(line.startswith("event: chunk") for line in lines)
                proc.send_signal(signal.SIGINT)
                rest = "\n".join(lines)
            out, err = proc.communicate(timeout=15)
    finally:
        upstream.stop()
    assert proc.returncode == 0, err
    assert "SERVER_SHUTDOWN" in rest
    assert "Auth: on" in out
    assert "gateway to" in out
    for secret in (key, token):
        assert secret not in out + err
    assert "method=POST path=/sessions" in err  # the access log
    with sqlite3.connect(db) as raw:
        rows = raw.execute("SELECT role, status, error_code FROM messages ORDER BY seq").fetchall()
    assert rows == [("user", "done", None), ("assistant", "stopped", "SERVER_SHUTDOWN")]


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
