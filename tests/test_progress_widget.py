"""The bar widget of a Progress: its trait, its controls, the remembered mode, secrets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nbchat import JobState, Progress
from nbchat.bar_widget import BarDisplay, result_text, summary_html
from nbchat.errors import ConfigurationError
from nbchat.history import SqliteHistory
from tests.conftest import DemoServer

SECRET = "sk-test-0123456789abcdef"


def view_sends(progress: Progress, kind: str) -> None:
    progress.widget._on_view_message(progress.widget, {"type": kind}, [])


async def test_the_mode_toggle_switches_the_next_run_and_is_remembered(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    job = Progress("http://127.0.0.1:9/api/generate-stream", history=path, name="plans")
    assert job.streaming and job.widget.bar["classic"] is False
    assert "mode" in job.widget.bar["controls"]
    view_sends(job, "mode")
    assert job.streaming is False and job.widget.bar["classic"] is True
    again = Progress("http://127.0.0.1:9/api/generate-stream", history=path, name="plans")
    assert again.streaming is False  # remembered in the history file
    explicit = Progress(
        "http://127.0.0.1:9/api/generate-stream", history=path, name="plans", streaming=True
    )
    assert explicit.streaming is True  # an argument wins
    SqliteHistory(path).close()


def test_no_classic_endpoint_means_no_toggle_and_a_clear_error() -> None:
    job = Progress("http://127.0.0.1:9/jobs/run", history=None)
    assert "mode" not in job.widget.bar["controls"]
    with pytest.raises(ConfigurationError, match="classic_url"):
        job.streaming = False
    with pytest.raises(ConfigurationError, match="http"):
        Progress("ftp://example.com/x")


async def test_the_bar_carries_no_secret_and_the_view_can_cancel_and_run_again(
    demo_server: DemoServer,
) -> None:
    url = demo_server.url + "/api/generate-stream"
    job = Progress(url, json={"prompt": "short"}, api_key=SECRET, history=None, name="n")
    view_sends(job, "retry")  # Run again on a new bar: a first run
    assert await job.wait() is JobState.ERROR
    bar = job.widget.bar
    assert bar["state"] == "error" and bar["error"]["code"] == "VALIDATION_ERROR"
    assert SECRET not in json.dumps(bar) and SECRET not in repr(job)
    assert SECRET not in json.dumps(job._bar._static_bundle())


def test_results_read_as_pretty_json_or_text_and_are_cut() -> None:
    assert result_text({"a": [1]}) == '{\n  "a": [\n    1\n  ]\n}'
    assert result_text("plain <b>text</b>") == "plain <b>text</b>"
    assert result_text(None) is None
    long = result_text("x" * 30_000)
    assert long is not None and len(long) < 20_100 and ".result has all" in long


def test_the_static_copy_escapes_everything() -> None:
    info: Any = {
        "state": "error",
        "title": "<img src=x onerror=alert(1)>",
        "percent": 40.0,
        "stage": "gen",
        "message": "",
        "stages": [],
        "elapsed_s": 1.0,
        "eta_s": None,
        "eta_note": "",
        "notice": "",
        "error": {"code": "X", "message": "<script>alert(1)</script>"},
        "result": "<b>bold</b>",
        "classic": False,
        "controls": [],
        "count": None,
        "children": [],
    }
    html = summary_html(info, "ab12cd34")
    assert "<img" not in html and "<script" not in html and "<b>" not in html
    assert 'data-nbchat-static="ab12cd34"' in html


def test_a_bar_sends_a_state_change_at_once_and_steps_at_most_every_interval() -> None:
    now = [0.0]
    state = ["running"]
    sent: list[Any] = []

    def source() -> Any:
        return {"state": state[0]}

    display = BarDisplay(source, clock=lambda: now[0], interval=0.1)
    display._widget = type("W", (), {})()  # a stand-in for the widget: records sets
    type(display._widget).bar = property(lambda _s: sent[-1], lambda _s, v: sent.append(v))
    assert display.changed()  # the first
    assert not display.changed()  # too soon
    now[0] = 0.05
    state[0] = "done"
    assert display.changed()  # a new state: at once
    now[0] = 0.06
    assert not display.changed()
    now[0] = 0.2
    assert display.changed()
    assert display.updates == 3
