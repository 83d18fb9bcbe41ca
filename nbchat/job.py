"""A server job with a progress bar: one POST (spec 004), its stages, its result, from
start to recorded end, in one object. No Jupyter here: :mod:`nbchat.job_bar` shows it.

Lifecycle (the shape of :class:`~nbchat.turn.Turn`)::

    start(loop) ─> task; state CONNECTING; the finished runs of this job are read
        streaming: POST the job's URL; each progress step goes into the ledger (state
                   RUNNING), the result is kept, a server error ends it (ERROR, with
                   the server's code)
        classic:   POST the classic URL (spec 004's /api/generate); RUNNING, with no
                   percent, until the JSON answer (the result) arrives
    finalize, exactly once: state DONE / CANCELLED / ERROR / INTERRUPTED, the run
    recorded with its outcome (only DONE runs teach the next run's ETA), ``on_change``.

**Never started twice.** The job's POST is not sent again by nbchat: not after a drop,
a stall or a clean end without a result (the default :data:`NEVER_RESEND` policy has no
retries; a stream with event ids is re-opened only through ``resume_url`` or an
endpoint declared ``resumable``). A stream that reached ``complete`` / 100 % and then
ended is DONE with no result. Anything else ends INTERRUPTED naming the cause, and the
user decides whether to run it again.

Two clocks: the transport's read timeout ends a silent connection (no bytes, not even
a keep-alive); while bytes still arrive, a job with no new step for
:data:`QUIET_AFTER_S` shows "no update for N s" and goes on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

from nbchat.config import Endpoint
from nbchat.errors import HistoryError, NbchatError, failure_for_code
from nbchat.eta import Eta, StageHistory
from nbchat.events import Progress, Result, StreamError, StreamEvent
from nbchat.history import HistoryStore
from nbchat.job_ledger import Clock, JobLedger
from nbchat.loops import LoopTask
from nbchat.reply_stream import ReplyStream
from nbchat.retry import RetryPolicy
from nbchat.stream import HttpRequest, Transport
from nbchat.wire import JobState

log = logging.getLogger("nbchat")

#: seconds without a new step (while the connection lives) before "no update for N s"
QUIET_AFTER_S = 5.0
#: a job's request is never re-sent on nbchat's own; resumes only where declared safe
NEVER_RESEND = RetryPolicy(max_retries=0)
#: the stage a classic run is recorded under (its one duration)
CLASSIC_STAGE = "total"


@dataclass(frozen=True)
class JobSpec:
    """What to ask for: where, with what body, and how the job is known in the history.

    ``url`` streams the job (spec 004's ``/api/generate-stream``); ``classic_url`` runs
    it without a stream (``/api/generate``). ``key`` names the job in the history (its
    runs' stage timings; never the body). ``resume_url`` (a GET route) or ``resumable``
    say the server can resume a dropped stream after ``Last-Event-ID`` without starting
    the job again.
    """

    url: str
    classic_url: str
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    key: str = ""
    resume_url: str | None = None
    resumable: bool = False
    #: stages the job is expected to have (spec 004's), until the server or the
    #: history says otherwise
    expected: tuple[str, ...] = ()

    def request(self, classic: bool) -> HttpRequest:
        url = self.classic_url if classic else self.url
        return HttpRequest("POST", url, dict(self.body), dict(self.headers), dialect="progress")

    def history_key(self, classic: bool) -> str:
        """Classic runs have no stages: their total time is learned on its own."""
        return f"{self.key} (classic)" if classic else self.key


class Job(LoopTask[JobState]):
    """One run of a job; see the module docstring.

    ``on_change`` is called (on the loop) after every change worth showing, and once a
    second while the job runs (elapsed time, ETA, "no update for N s").
    """

    def __init__(
        self,
        spec: JobSpec,
        *,
        classic: bool,
        transport: Transport,
        store: HistoryStore,
        clock: Clock = time.monotonic,
        policy: RetryPolicy = NEVER_RESEND,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        super().__init__()
        self.spec = spec
        self.classic = classic
        self.state = JobState.IDLE
        self.result: Any = None
        self.error: StreamError | None = None
        #: a transient line: "no update for 12 s", a resume wait
        self.notice = ""
        #: the run's stages and times (made when the job starts)
        self.ledger = JobLedger(StageHistory(), clock, spec.expected)
        self.stream: ReplyStream | None = None
        self._transport = transport
        self._store = store
        self._clock = clock
        self._policy = policy
        self._on_change = on_change
        self._finalized = False
        self._quiet_shown = False
        self._ticker: asyncio.TimerHandle | None = None

    # -- control -----------------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop) -> Job:
        """Run the job as a task on ``loop``; reads the job's finished runs first."""
        self._loop = loop
        self.ledger = JobLedger(self._learned(), self._clock, self.spec.expected)
        self.state = JobState.CONNECTING
        task = loop.create_task(self._run(), name=f"nbchat job {self.spec.key}")
        task.add_done_callback(lambda _task: self._finalize(JobState.CANCELLED))
        self._task = task
        self._on_change()
        return self

    # -- observation -------------------------------------------------------------------

    def eta(self) -> Eta | None:
        """Time left while running (None while unknown and once ended)."""
        return self.ledger.eta() if self.state.busy else None

    async def wait(self) -> JobState:
        """Wait for the end; the final state (never raises for a failed job). Cancelling
        the waiter (an interrupted cell) cancels the job, as for a chat's turn."""
        assert self._task is not None, "the job was never started"
        task = self._task
        try:
            return await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if not task.cancelled() or (current is not None and current.cancelling()):
                raise  # this waiter was cancelled (and the job with it)
            # The job was cancelled through an earlier waiter: it ended CANCELLED.
            return self.state

    async def outcome(self) -> Any:
        """Wait for the end: the result, None when cancelled; raises the job's error."""
        state = await self.wait()
        if state in (JobState.ERROR, JobState.INTERRUPTED) and self.error is not None:
            raise failure_for_code(self.error.code, self.error.message)
        return self.result

    def __await__(self) -> Generator[Any, None, Any]:
        return self.outcome().__await__()

    # -- the task ----------------------------------------------------------------------

    async def _run(self) -> JobState:
        self._running = True
        self._ticker = asyncio.get_running_loop().call_later(1.0, self._tick)
        state = JobState.CANCELLED
        try:
            if not self.stop_requested:
                if self.classic:
                    await self._run_classic()
                else:
                    await self._run_stream()
                state = self._ended_state()
        except asyncio.CancelledError:
            self._finalize(JobState.CANCELLED)
            if self._stop_absorbed():
                return self.state
            raise
        except NbchatError as exc:
            self.error = StreamError(exc.code, exc.message)
            state = self._ended_state()
        except Exception as exc:  # a bug: still end the job cleanly, and say so
            log.exception("nbchat job failed unexpectedly")
            self.error = StreamError("INTERNAL_ERROR", f"{type(exc).__name__}: {exc}")
            state = JobState.ERROR
        self._finalize(state)
        return self.state

    async def _run_stream(self) -> None:
        spec = self.spec
        endpoint = Endpoint(
            base_url=spec.url,
            model="",
            dialect="progress",
            resumable=spec.resumable,
            resume_url=spec.resume_url,
        )
        self.stream = ReplyStream(
            endpoint,
            [],
            transport=self._transport,
            policy=self._policy,
            on_notice=self._set_notice,
            request=spec.request(classic=False),
        )
        await self.stream.run(self._take)

    async def _run_classic(self) -> None:
        # The request is out; no steps will come: one stage, timed as a whole.
        self.ledger.step(CLASSIC_STAGE)
        self._set_state(JobState.RUNNING)
        self.result = await self._transport.call(self.spec.request(classic=True))

    def _take(self, batch: list[StreamEvent]) -> None:
        ledger = self.ledger
        for event in batch:
            if isinstance(event, Progress):
                ledger.step(
                    event.stage or None,
                    event.percent,
                    event.message or None,
                    event.eta_s,
                    event.stages,
                )
                self.state = JobState.RUNNING
                if self._quiet_shown:
                    self._quiet_shown = False
                    self.notice = ""
            elif isinstance(event, Result):
                self.result = event.data
            elif isinstance(event, StreamError):
                self.error = event
        self._on_change()

    def _set_notice(self, notice: str) -> None:
        self._quiet_shown = False
        if notice != self.notice:
            self.notice = notice
            self._on_change()

    def _set_state(self, state: JobState) -> None:
        if state is not self.state:
            self.state = state
            self._on_change()

    def _tick(self) -> None:
        # Once a second while the job runs: "no update for N s", and a refresh.
        quiet = self.ledger.quiet()
        if quiet >= QUIET_AFTER_S and not self.classic and (self._quiet_shown or not self.notice):
            self._quiet_shown = True
            self.notice = f"no update for {quiet:.0f} s"
        self._on_change()
        self._ticker = asyncio.get_running_loop().call_later(1.0, self._tick)

    def _ended_state(self) -> JobState:
        if self.error is None:
            return JobState.DONE
        return JobState.INTERRUPTED if self.error.code == "INTERRUPTED" else JobState.ERROR

    def _learned(self) -> StageHistory:
        try:
            return StageHistory.of(self._store.stage_runs(self.spec.history_key(self.classic)))
        except HistoryError as exc:
            log.error("nbchat: %s (the ETA starts from nothing)", exc)
            return StageHistory()

    def _finalize(self, state: JobState) -> None:
        if self._finalized:
            return
        self._finalized = True
        if self._ticker is not None:
            self._ticker.cancel()
        stages = self.ledger.finish()
        self.notice = ""
        self.state = state
        if self._running:
            try:
                self._store.record_run(self.spec.history_key(self.classic), stages, state.outcome)
            except HistoryError as exc:
                log.error("nbchat: %s (this run's timings are not kept)", exc)
        self._on_change()


__all__ = ["CLASSIC_STAGE", "NEVER_RESEND", "QUIET_AFTER_S", "Job", "JobSpec"]
