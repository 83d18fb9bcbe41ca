"""Time left in a staged job, learned from past runs: pure logic, no clock, no I/O.

A progress stream (spec 004) moves through named stages. Finished runs leave their
per-stage durations (timings only) in the history; :class:`StageHistory` holds them,
and :func:`estimate` answers "how long until done?" for a running job, in this order:

1. **learned**: the typical (median) duration of every stage still ahead, plus what is
   left of the current one (its typical duration minus the time already spent in it,
   never below zero), once at least :data:`MIN_RUNS` finished runs went through the
   current stage;
2. **server**: the server's own ``estimatedTimeRemaining`` (spec 004 sends
   milliseconds), when it is a sane number (0 to :data:`MAX_SERVER_S`); a negative, a
   ``1e12`` or a string is ignored;
3. **rate**: the observed rate, ``elapsed * (100 - percent) / percent``, once the job
   reports a percent above 0 and below 100;
4. otherwise unknown (``None``).

Cancelled and failed runs are not recorded (see :meth:`StageHistory.add`), so they do
not bend the statistics. The stage order is the one the runs went through; a stage
the history never saw contributes nothing until it has been seen.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

#: finished runs needed before the learned estimate is used: a job's second run already
#: learns from its first (the median of more runs then steadies it)
MIN_RUNS = 1
#: recent runs kept per stage (older ones stop counting: servers change)
KEEP_RUNS = 20
#: the largest server estimate believed (a day)
MAX_SERVER_S = 86_400.0

EtaSource = Literal["learned", "server", "rate"]


@dataclass(frozen=True)
class Eta:
    """Seconds left, and where the number came from (the bar's tooltip says)."""

    seconds: float
    source: EtaSource
    #: how many finished runs a learned estimate rests on
    runs: int = 0

    def describe(self) -> str:
        """One line for a tooltip."""
        if self.source == "learned":
            runs = "1 earlier run" if self.runs == 1 else f"{self.runs} earlier runs"
            return f"learned from {runs}"
        if self.source == "server":
            return "the server's estimate"
        return "from the progress so far"


@dataclass
class StageHistory:
    """Durations of finished runs' stages, in the order the runs went through them."""

    #: stage -> durations in seconds, oldest first (at most KEEP_RUNS each)
    durations: dict[str, list[float]] = field(default_factory=dict)
    #: the stages in the order runs reported them
    order: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, runs: Iterable[Sequence[tuple[str, float]]]) -> StageHistory:
        """A history from finished runs, oldest first (each a list of (stage, seconds))."""
        history = cls()
        for run in runs:
            history.add(run)
        return history

    def add(self, run: Sequence[tuple[str, float]]) -> None:
        """Record one *finished* run (never a cancelled or failed one)."""
        for stage, seconds in run:
            if not (isinstance(seconds, float | int) and math.isfinite(seconds) and seconds >= 0):
                continue
            kept = self.durations.setdefault(stage, [])
            kept.append(float(seconds))
            del kept[:-KEEP_RUNS]
            if stage not in self.order:
                self.order.append(stage)

    def typical(self, stage: str) -> float | None:
        """The median duration of ``stage``, or None below MIN_RUNS runs."""
        kept = self.durations.get(stage, [])
        return statistics.median(kept) if len(kept) >= MIN_RUNS else None

    def runs(self, stage: str) -> int:
        return len(self.durations.get(stage, []))


def server_seconds(value: object) -> float | None:
    """Spec 004's ``estimatedTimeRemaining`` (milliseconds) in seconds, if it is sane."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    seconds = float(value) / 1000.0
    return seconds if math.isfinite(seconds) and 0.0 <= seconds <= MAX_SERVER_S else None


def estimate(
    history: StageHistory,
    *,
    stage: str,
    in_stage_s: float,
    elapsed_s: float,
    percent: float | None = None,
    server_estimate: object = None,
    done: Mapping[str, float] | None = None,
) -> Eta | None:
    """Seconds left for a job now in ``stage`` (for ``in_stage_s`` seconds, ``elapsed_s``
    since it started), by the rules in the module docstring.

    ``done`` names the stages already finished in this run (they are not ahead of it,
    whatever order the history learned).
    """
    typical = history.typical(stage)
    if typical is not None:
        finished = set(done or ()) | {stage}
        ahead = history.order[history.order.index(stage) + 1 :] if stage in history.order else []
        left = max(typical - in_stage_s, 0.0)
        for later in ahead:
            if later not in finished:
                left += history.typical(later) or 0.0
        return Eta(left, "learned", history.runs(stage))
    from_server = server_seconds(server_estimate)
    if from_server is not None:
        return Eta(from_server, "server")
    if percent is not None and 0.0 < percent < 100.0 and elapsed_s > 0:
        return Eta(elapsed_s * (100.0 - percent) / percent, "rate")
    return None


__all__ = ["MAX_SERVER_S", "MIN_RUNS", "Eta", "StageHistory", "estimate", "server_seconds"]
