"""What a running job has done so far: its stages and their times, percent, message and
the time left. Pure: the clock is handed in, nothing is read or written.

One ledger per run, shared by the two kinds of bar: a server job (spec 004's progress
stream, :mod:`nbchat.job`) and a loop of the user's (:mod:`nbchat.loop_bar`). Each step
says where the job is; the ledger times the stages (a stage lasts from its first step
to the first step of the next), keeps the percent from going backwards, and answers
``eta()`` by the rules of :mod:`nbchat.eta`. ``finish()`` closes the last stage and
gives the run's stage durations, which the caller records (finished runs only teach the
next run's ETA). The time before the first named stage belongs to that stage; a job
that never names one is a single stage named ``""`` (a loop without stages).

Which stages the bar shows, in this order of preference: the ones the server announced;
the ones past runs went through (learned order); spec 004's six when the job speaks its
names; else the ones seen so far.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from nbchat.eta import Eta, StageHistory, estimate
from nbchat.wire import StageInfo

Clock = Callable[[], float]


class JobLedger:
    """One run's stages, percent and message; see the module docstring.

    Parameters
    ----------
    history : StageHistory
        The finished runs of the same job (what the ETA learns from).
    clock : callable
        Seconds, monotonic (``time.monotonic``; a fake one in tests).
    expected : sequence of str
        Stages the caller knows the job has (spec 004's), used when neither the server
        nor the history says.
    """

    def __init__(self, history: StageHistory, clock: Clock, expected: Sequence[str] = ()) -> None:
        self.history = history
        self._clock = clock
        self._expected = tuple(expected)
        self.started = clock()
        #: when the last step arrived (the start, before any)
        self.updated = self.started
        self.ended: float | None = None
        self.percent: float | None = None
        self.stage = ""
        self.message = ""
        #: the server's own estimate (seconds, already sanity-checked), of the last step
        self.server_eta: float | None = None
        self.announced: tuple[str, ...] = ()
        self._stage_started = self.started
        #: finished stages of this run, in order, with their durations
        self._done: list[tuple[str, float]] = []

    def step(
        self,
        stage: str | None = None,
        percent: float | None = None,
        message: str | None = None,
        server_eta: float | None = None,
        announced: Sequence[str] = (),
    ) -> None:
        """A step of the job. ``None`` leaves a field as it was (a message, within its
        stage); the percent never goes back (a server that reports less than before
        keeps the bar where it was)."""
        now = self._clock()
        self.updated = now
        if stage and stage != self.stage:
            if message is None:
                message = ""  # the last stage's words do not describe the new one
            if self.stage:
                self._done.append((self.stage, now - self._stage_started))
                self._stage_started = now
            # else: the time before the first named stage belongs to it
            self.stage = stage
        if percent is not None:
            self.percent = percent if self.percent is None else max(self.percent, percent)
        if message is not None:
            self.message = message
        self.server_eta = server_eta
        if announced:
            self.announced = tuple(announced)

    def finish(self) -> list[tuple[str, float]]:
        """End the run now: the current stage closes. Returns every stage's duration."""
        if self.ended is None:
            self.ended = self._clock()
            # A job that never named a stage is one stage, named "".
            self._done.append((self.stage, self.ended - self._stage_started))
        return list(self._done)

    # -- reading -------------------------------------------------------------------

    def elapsed(self) -> float:
        """Seconds since the start (to the end, once finished)."""
        return (self.ended if self.ended is not None else self._clock()) - self.started

    def quiet(self) -> float:
        """Seconds since the last step."""
        return self._clock() - self.updated

    def eta(self) -> Eta | None:
        """Time left, by :func:`nbchat.eta.estimate`; None once ended or while unknown."""
        if self.ended is not None:
            return None
        now = self._clock()
        return estimate(
            self.history,
            stage=self.stage,
            in_stage_s=now - self._stage_started,
            elapsed_s=now - self.started,
            percent=self.percent,
            server_estimate=None if self.server_eta is None else self.server_eta * 1000.0,
            done={name: seconds for name, seconds in self._done},
        )

    def known_stages(self) -> list[str]:
        """The stages the bar shows (see the module docstring), each once."""
        seen = [name for name, _ in self._done] + ([self.stage] if self.stage else [])
        if self.announced:
            base: Sequence[str] = self.announced
        elif self.history.order:
            base = self.history.order
        elif self._expected and (not seen or seen[0] in self._expected):
            base = self._expected
        else:
            base = ()
        return [name for name in dict.fromkeys([*base, *seen]) if name]

    def stages(self, succeeded: bool = False) -> list[StageInfo]:
        """The known stages with their state (done, current, ahead). The stage a job
        ended in stays current (where it stopped or failed), unless it ``succeeded``."""
        finished = {name for name, _ in self._done}
        if self.ended is not None:
            finished.discard(self.stage)  # finish() closed it: it is where the job ended
        out: list[StageInfo] = []
        for name in self.known_stages():
            if name == self.stage and not succeeded:
                out.append({"name": name, "state": "current"})
            elif name in finished or name == self.stage:
                out.append({"name": name, "state": "done"})
            else:
                out.append({"name": name, "state": "ahead"})
        return out


__all__ = ["Clock", "JobLedger"]
