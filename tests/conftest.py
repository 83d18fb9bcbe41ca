"""Shared fixtures: loopback servers (real sockets, uvicorn threads) and a private data dir."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from nbchat.server import ServerThread, create_app
from tests.fault_streams import FaultStreams, create_fault_streams
from tests.faults import FaultLog, create_fault_app

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "llm-streams"


@pytest.fixture(autouse=True)
def _private_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads or writes the user's real history."""
    monkeypatch.setenv("NBCHAT_DATA_DIR", str(tmp_path / "nbchat-data"))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)


class DemoServer:
    def __init__(self, thread: ServerThread, url: str) -> None:
        self.thread = thread
        self.url = url
        self.base_url = url + "/v1"
        self.stats = thread.app.state.stats  # type: ignore[attr-defined]


def _demo(tps: float) -> Iterator[DemoServer]:
    thread = ServerThread(create_app(tokens_per_second=tps))
    url = thread.start()
    try:
        yield DemoServer(thread, url)
    finally:
        thread.stop()


@pytest.fixture
def demo_server() -> Iterator[DemoServer]:
    """The demo model at a fast pace (400 tokens/s)."""
    yield from _demo(400.0)


@pytest.fixture
def slow_demo_server() -> Iterator[DemoServer]:
    """The demo model at 20 tokens/s, for stopping mid-reply."""
    yield from _demo(20.0)


class FaultServer:
    def __init__(self, url: str, log: FaultLog) -> None:
        self.url = url
        self.log = log

    def base(self, case: str) -> str:
        return f"{self.url}/{case}"


@pytest.fixture
def fault_server() -> Iterator[FaultServer]:
    app, log = create_fault_app()
    thread = ServerThread(app)
    url = thread.start()
    try:
        yield FaultServer(url, log)
    finally:
        thread.stop()


class Faults:
    """The stream-policy fault server (tests/fault_streams.py) and a second origin."""

    def __init__(self, url: str, state: FaultStreams) -> None:
        self.url = url
        self.state = state

    def base(self, case: str) -> str:
        return f"{self.url}/{case}"

    def count(self, case: str) -> int:
        return self.state.log(case).count


@pytest.fixture
def faults() -> Iterator[Faults]:
    app, state = create_fault_streams()
    main, other = ServerThread(app), ServerThread(app)
    url = main.start()
    state.other_origin = other.start()
    try:
        yield Faults(url, state)
    finally:
        main.stop()
        other.stop()
