"""Bars over the user's loops: counting, early exits, nesting, throttling, learning."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import nbchat
from nbchat.history import MemoryHistory
from nbchat.loop_bar import LoopBar, progress
from nbchat.wire import JobState
from tests.fake_clock import FakeClock


def test_iterating_counts_every_item_and_ends_done() -> None:
    bar = progress(range(1000))
    assert [x for x in bar] == list(range(1000))
    assert bar.n == 1000 and bar.total == 1000 and bar.state is JobState.DONE
    assert bar.percent == 100.0 and bar.info()["count"]["n"] == 1000


def test_a_generator_has_no_total_and_still_counts() -> None:
    def numbers() -> Iterator[int]:
        yield from range(37)

    bar = progress(numbers())
    assert sum(bar) == sum(range(37))
    assert bar.total is None and bar.n == 37 and bar.percent is None


def test_break_and_errors_end_the_bar_as_cancelled_with_the_right_count() -> None:
    bar = progress(range(10))
    for i in bar:
        if i == 5:
            break
    assert bar.state is JobState.CANCELLED and bar.n == 5

    def divide(bar: LoopBar[int]) -> None:
        for i in bar:
            _ = 1 / (i - 3)

    failing = progress(range(10))
    with pytest.raises(ZeroDivisionError):
        divide(failing)
    assert failing.state is JobState.CANCELLED and failing.n == 3


def test_context_manager_counts_updates_names_stages_and_reports_errors() -> None:
    with progress(total=4, name="train", history=None) as bar:
        bar.update(stage="load", message="reading files")
        bar.update(2, stage="fit")
        bar.update()
    assert bar.state is JobState.DONE and bar.n == 4
    assert [(s["name"], s["state"]) for s in bar.info()["stages"]] == [
        ("load", "done"),
        ("fit", "done"),
    ]

    def fail(bar: LoopBar[int]) -> None:
        with bar:
            bar.update()
            raise ValueError("bad row")

    broken: LoopBar[int] = progress(total=3)
    with pytest.raises(ValueError, match="bad row"):
        fail(broken)
    assert broken.state is JobState.ERROR
    error = broken.info()["error"]
    assert error is not None and error["code"] == "ValueError" and "bad row" in error["message"]


def test_a_bar_inside_a_running_bar_is_drawn_inside_it_and_goes_when_done() -> None:
    outer = progress(range(3), name="epochs", history=None)
    seen: list[list[str]] = []
    for _ in outer:
        inner = progress(range(4), name="batches", history=None)
        for _ in inner:
            seen.append([child["title"] for child in outer.info()["children"]])
        assert outer.info()["children"] == []
    assert seen == [["batches"]] * 12
    assert outer.state is JobState.DONE


def test_a_tight_loop_sends_few_widget_updates() -> None:
    # A fake clock moving 1 µs per look: the bar must not send per step.
    clock = FakeClock(0.0)
    bar = LoopBar(range(200_000), None, name=None, store=None, clock=clock)
    bar.open()
    assert bar._display is not None
    _ = bar._display.widget  # as displayed
    for _ in bar:
        clock.now += 1e-6
    # 200,000 steps in ~0.0x s of fake time: the start, a handful, the end.
    assert bar.updates <= 10
    assert bar._display.widget.bar["state"] == "done"
    assert bar._display.widget.bar["count"]["n"] == 200_000


def test_updates_are_throttled_in_time_not_per_call() -> None:
    clock = FakeClock(0.0)
    bar = LoopBar(None, 10_000, name=None, store=None, clock=clock)
    bar.open()
    assert bar._display is not None
    _ = bar._display.widget
    for _ in range(10_000):
        clock.now += 0.001  # 10 s of work in 1 ms steps
        bar.update()
    bar.close()
    # at most one update per MIN_INTERVAL_S (0.1 s) plus the first and the last
    assert 50 <= bar.updates <= 105
    assert bar._display.widget.bar["state"] == "done"


def test_a_named_loop_learns_its_eta_from_earlier_finished_runs() -> None:
    store = MemoryHistory()
    for _ in range(3):
        clock = FakeClock(0.0)
        bar = LoopBar(None, 10, name="etl", store=store, clock=clock)
        with bar:
            bar.update(0, stage="extract")
            clock.now += 2.0
            bar.update(5, stage="load")
            clock.now += 1.0
            bar.update(5)
    clock = FakeClock(0.0)
    bar = LoopBar(None, 10, name="etl", store=store, clock=clock).open()
    bar.update(0, stage="extract")
    clock.now += 0.5
    eta = bar.eta_estimate()
    assert eta is not None and eta.source == "learned" and eta.seconds == pytest.approx(2.5)
    bar.close(JobState.CANCELLED)
    # a cancelled run teaches nothing; another total is another job
    assert len(store.stage_runs("loop: etl (10)")) == 3
    other = LoopBar(None, 99, name="etl", store=store, clock=FakeClock(0.0)).open()
    other.update(0, stage="extract")
    assert other.eta_estimate() is None
    other.close()


def test_an_unnamed_loop_estimates_from_its_rate() -> None:
    clock = FakeClock(0.0)
    bar = LoopBar(None, 100, name=None, store=None, clock=clock).open()
    clock.now += 1.0
    bar.update(25)
    bar._check(1)  # a look at the clock, as the next chunk would
    eta = bar.eta_estimate()
    assert eta is not None and eta.source == "rate" and eta.seconds == pytest.approx(3.0)
    bar.close()


def test_public_names() -> None:
    assert nbchat.progress is progress and nbchat.LoopBar is LoopBar
    with pytest.raises(TypeError, match="update"):
        iter(progress(total=3)).__next__()
