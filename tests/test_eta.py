"""The ETA maths: learned from past runs, then the server's estimate, then the rate."""

from __future__ import annotations

import random

import pytest

from nbchat.eta import MAX_SERVER_S, StageHistory, estimate, server_seconds
from tests.fake_clock import FakeClock

#: spec 004's stages with realistic durations (seconds)
STAGES = [
    ("started", 0.4),
    ("fetching-exercises", 1.2),
    ("generating", 9.0),
    ("validating", 0.6),
    ("storing", 0.8),
    ("complete", 0.0),
]


def run(rng: random.Random, jitter: float = 0.05) -> list[tuple[str, float]]:
    """One run's stage durations, each within +-``jitter`` of the stable value."""
    return [(stage, seconds * rng.uniform(1 - jitter, 1 + jitter)) for stage, seconds in STAGES]


@pytest.mark.parametrize("seed", range(5))
def test_after_a_few_runs_the_eta_is_within_10_percent_at_every_stage(seed: int) -> None:
    rng = random.Random(seed)
    history = StageHistory.of(run(rng) for _ in range(5))
    clock = FakeClock(1000.0)
    started = clock()
    durations = run(rng)
    total = sum(seconds for _, seconds in durations)
    done: dict[str, float] = {}
    for stage, seconds in durations:
        for fraction in (0.0, 0.5):  # as the stage begins, and halfway through it
            clock.now += seconds * fraction if fraction else 0.0
            in_stage = seconds * fraction
            elapsed = clock() - started
            eta = estimate(history, stage=stage, in_stage_s=in_stage, elapsed_s=elapsed, done=done)
            assert eta is not None and eta.source == "learned" and eta.runs == 5
            truth = total - elapsed
            assert abs(eta.seconds - truth) <= max(0.1 * truth, 0.05), (stage, fraction, eta, truth)
        clock.now += seconds * 0.5
        done[stage] = seconds


def test_with_too_little_history_the_server_then_the_rate_is_used() -> None:
    history = StageHistory()  # no finished run yet: nothing to learn from
    eta = estimate(history, stage="generating", in_stage_s=1, elapsed_s=3, server_estimate=4500)
    assert eta is not None and (eta.seconds, eta.source) == (4.5, "server")
    assert eta.describe() == "the server's estimate"
    eta = estimate(history, stage="generating", in_stage_s=1, elapsed_s=4, percent=40)
    assert eta is not None and (eta.seconds, eta.source) == (6.0, "rate")
    assert estimate(history, stage="generating", in_stage_s=1, elapsed_s=4) is None
    assert estimate(history, stage="x", in_stage_s=0, elapsed_s=0, percent=0) is None
    assert estimate(history, stage="x", in_stage_s=0, elapsed_s=5, percent=100) is None


@pytest.mark.parametrize("value", [-1, -0.5, 1e12, float("nan"), float("inf"), "1000", None, True])
def test_a_nonsense_server_estimate_is_ignored(value: object) -> None:
    assert server_seconds(value) is None


def test_sane_server_estimates_are_milliseconds() -> None:
    assert server_seconds(0) == 0.0
    assert server_seconds(1500) == 1.5
    assert server_seconds(MAX_SERVER_S * 1000) == MAX_SERVER_S


def test_the_history_keeps_recent_sane_durations_in_stage_order() -> None:
    history = StageHistory()
    history.add([("a", 1.0), ("b", float("nan")), ("b", -2.0), ("c", 3.0)])
    assert history.typical("b") is None  # no sane duration of b yet
    history.add([("a", 3.0), ("b", 2.0), ("c", 5.0)])
    assert history.order == ["a", "c", "b"]
    assert history.typical("a") == 2.0 and history.typical("b") == 2.0  # one sane run
    assert history.typical("never") is None
    for _ in range(30):
        history.add([("a", 10.0)])
    assert history.runs("a") == 20 and history.typical("a") == 10.0  # old runs age out


def test_a_stage_already_done_is_not_counted_ahead() -> None:
    history = StageHistory.of([[("a", 1.0), ("b", 2.0), ("c", 4.0)]] * 3)
    # The server reported c before b this time: b is still ahead, c is not.
    eta = estimate(history, stage="a", in_stage_s=0.5, elapsed_s=5, done={"c": 4.0})
    assert eta is not None and eta.seconds == pytest.approx(0.5 + 2.0)


def test_one_finished_run_is_enough_to_learn_from() -> None:
    history = StageHistory.of([STAGES])
    eta = estimate(history, stage="started", in_stage_s=0.0, elapsed_s=0.0, server_estimate=99_000)
    assert eta is not None and eta.source == "learned" and eta.runs == 1
    assert eta.describe() == "learned from 1 earlier run"
    assert eta.seconds == pytest.approx(sum(seconds for _, seconds in STAGES))
