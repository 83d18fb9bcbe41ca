"""One run's ledger (stages, times, percent, ETA) with a fake clock: pure logic."""

from __future__ import annotations

import pytest

from nbchat.dialects.progress import SPEC_STAGES
from nbchat.eta import StageHistory
from nbchat.job_ledger import JobLedger
from tests.fake_clock import FakeClock

SPEC = tuple(name for name, _ in SPEC_STAGES)


def test_stages_are_timed_from_first_step_to_the_next() -> None:
    clock = FakeClock()
    ledger = JobLedger(StageHistory(), clock)
    clock.now += 0.5  # connecting: belongs to the first stage
    ledger.step("started", 5)
    clock.now += 1.0
    ledger.step("generating", 40)
    clock.now += 2.0
    ledger.step("generating", 55, "half way")  # the same stage goes on
    clock.now += 1.0
    assert ledger.finish() == [("started", 1.5), ("generating", 3.0)]
    assert ledger.elapsed() == pytest.approx(4.5)
    clock.now += 10
    assert ledger.elapsed() == pytest.approx(4.5)  # ended: the total stays
    assert ledger.eta() is None


def test_percent_never_goes_back_and_none_keeps_it() -> None:
    ledger = JobLedger(StageHistory(), FakeClock())
    ledger.step("a", 40)
    ledger.step("a", 20)
    assert ledger.percent == 40
    ledger.step("b", None, "no percent")
    assert ledger.percent == 40 and ledger.message == "no percent"


def test_a_job_without_named_stages_is_one_stage() -> None:
    clock = FakeClock()
    ledger = JobLedger(StageHistory(), clock)
    clock.now += 3
    assert ledger.finish() == [("", 3.0)]
    assert ledger.known_stages() == []


def test_known_stages_prefer_announced_then_learned_then_spec() -> None:
    clock = FakeClock()
    spec = JobLedger(StageHistory(), clock, SPEC)
    spec.step("started")
    assert spec.known_stages() == list(SPEC)
    assert [s["state"] for s in spec.stages()] == ["current"] + ["ahead"] * 5

    other = JobLedger(StageHistory(), clock, SPEC)
    other.step("warming-up")  # not spec 004's: only what was seen
    assert other.known_stages() == ["warming-up"]

    learned = JobLedger(StageHistory.of([[("a", 1.0), ("b", 1.0)]] * 2), clock, SPEC)
    learned.step("a")
    assert learned.known_stages() == ["a", "b"]

    announced = JobLedger(StageHistory(), clock, SPEC)
    announced.step("x", announced=["x", "y", "z"])
    announced.step("y")
    assert [(s["name"], s["state"]) for s in announced.stages()] == [
        ("x", "done"),
        ("y", "current"),
        ("z", "ahead"),
    ]


@pytest.mark.parametrize("runs", [2, 5, 10])
def test_learned_eta_is_within_ten_percent_at_every_stage(runs: int) -> None:
    # A server with stable stage durations (±5 %): after N finished runs, a new run's
    # ETA is within 10 % of the truth at every step (sampled every 0.1 s).
    durations = {
        "started": 0.3,
        "fetching-exercises": 0.8,
        "generating": 3.0,
        "validating": 0.5,
        "storing": 0.4,
        "complete": 0.0,
    }
    jitter = [1.0, 1.04, 0.96, 1.02, 0.98, 1.05, 0.95, 1.01, 0.99, 1.03]
    history = StageHistory()
    for i in range(runs):
        history.add([(stage, seconds * jitter[i]) for stage, seconds in durations.items()])
    clock = FakeClock()
    start = clock.now
    ledger = JobLedger(history, clock, SPEC)
    total = sum(durations.values())
    spent = 0.0
    for stage, seconds in durations.items():
        clock.now = start + spent
        ledger.step(stage)
        for tenth in range(int(seconds * 10) + 1):
            clock.now = start + spent + tenth / 10
            eta = ledger.eta()
            truth = total - (clock.now - start)
            assert eta is not None and eta.source == "learned"
            assert abs(eta.seconds - truth) <= 0.1 * total, (stage, tenth, eta.seconds, truth)
        spent += seconds


def test_a_message_lasts_within_its_stage() -> None:
    ledger = JobLedger(StageHistory(), FakeClock())
    ledger.step("load", 10, "reading files")
    ledger.step(None, 20, None)  # a step with no words keeps the stage's
    assert ledger.message == "reading files"
    ledger.step("fit", 30, None)  # a new stage without words has none
    assert ledger.message == ""
