"""``nbchat.Progress``: a server job (spec 004) with a live progress bar.

::

    p = nbchat.Progress()                 # the embedded server's demo job, offline
    p                                     # shows the bar
    p.start()                             # returns at once; the job runs on the kernel's loop
    result = await p                      # its result (raises the job's error)
    p.cancel()                            # from anywhere; the server sees the disconnect

``p.state``, ``p.percent``, ``p.stage``, ``p.message``, ``p.eta``, ``p.elapsed`` and
``p.result`` read the job at any time; ``p.run()`` is the blocking form for scripts
(Ctrl-C cancels). The job itself (request, stages, never starting twice, recording the
run) is :class:`nbchat.job.Job`; this module adds the bar, the mode and the defaults.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Generator, Mapping
from typing import Any
from urllib.parse import urlsplit

from nbchat.bar_widget import BarDisplay, result_text
from nbchat.config import Timeouts, redact_url
from nbchat.dialects.progress import SPEC_STAGES, progress_url
from nbchat.errors import JOB_HINTS, ConfigurationError, HistoryError, error_info, user_facing
from nbchat.history import HistoryStore, MemoryHistory, open_history
from nbchat.job import Job, JobSpec
from nbchat.job_ledger import Clock
from nbchat.loops import run_blocking, running_loop
from nbchat.stream import HttpTransport, Transport
from nbchat.wire import BAR_MESSAGE_CHARS, BarInfo, ErrorInfo, JobState

log = logging.getLogger("nbchat")

#: the body of the embedded server's demo job when none is given
DEMO_BODY = {"prompt": "Plan a three-day beginner strength workout I can do at home."}
#: the history key of the embedded server's demo job (its port changes per kernel)
DEMO_KEY = "nbchat demo job"
_DEFAULT: Any = object()


def classic_url_of(url: str) -> str | None:
    """Spec 004's classic endpoint for a streaming one: ``.../generate-stream`` ->
    ``.../generate``; None when the URL does not say."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    if not path.endswith("-stream"):
        return None
    return parts._replace(path=path.removesuffix("-stream")).geturl()


class Progress:
    """A long server job with a live progress bar; see the module docstring.

    Parameters
    ----------
    url : str, optional
        The job's streaming endpoint (spec 004's ``POST /api/generate-stream``; a bare
        server URL gets that path). ``None`` runs the embedded server's offline demo job.
    json : mapping, optional
        The request body (the demo job's prompt when ``url`` is None).
    headers : mapping, optional
        Extra request headers.
    api_key : str, optional
        Sent as ``Authorization: Bearer``; never shown, logged or stored.
    history : str, path, HistoryStore, bool, None
        Where finished runs' stage timings are kept (the ETA learns from them): the
        default SQLite file, another file, a store, or ``None`` (this kernel only).
    name : str, optional
        The job's name: its title on the bar, and its key in the history (default: the
        URL without query string).
    streaming : bool, optional
        ``False`` posts to the classic endpoint (one JSON answer, an indeterminate bar).
        Default: the mode last chosen with the bar's toggle, else streaming.
    classic_url : str, optional
        The classic endpoint (default: ``url`` without its ``-stream`` suffix).
    resume_url : str, optional
        A GET route that resumes a dropped stream after ``Last-Event-ID``. Without it
        (or ``resumable=True``) a dropped job ends interrupted: it is never re-posted.
    resumable : bool
        The server resumes a re-sent request with ``Last-Event-ID`` without starting the
        job again.
    timeouts : Timeouts, optional
        ``read`` is how long a silent connection (no bytes, no keep-alive) may last.
    transport : Transport, optional
        Where responses come from (default: HTTP).
    clock : callable
        Monotonic seconds (tests hand in a fake one).
    """

    @user_facing
    def __init__(
        self,
        url: str | None = None,
        *,
        json: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        api_key: str | None = None,
        history: HistoryStore | str | os.PathLike[str] | bool | None = _DEFAULT,
        name: str | None = None,
        streaming: bool | None = None,
        classic_url: str | None = None,
        resume_url: str | None = None,
        resumable: bool = False,
        timeouts: Timeouts | None = None,
        transport: Transport | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        if url is not None and not urlsplit(url).scheme.startswith("http"):
            raise ConfigurationError(f"Progress(url={url!r}): expected an http(s) URL")
        self._url = url
        self._body = dict(json) if json is not None else (dict(DEMO_BODY) if url is None else {})
        sent = dict(headers or {})
        if api_key:
            sent["Authorization"] = f"Bearer {api_key}"
        self._headers = sent
        self.name = name or (DEMO_KEY if url is None else redact_url(url))
        self._classic_url = classic_url
        self._resume_url = resume_url
        self._resumable = resumable
        self._history_arg = True if history is _DEFAULT else history
        self._store: HistoryStore | None = None
        self._streaming = streaming
        self._transport = transport or HttpTransport(timeouts or Timeouts())
        self._clock = clock
        self._job: Job | None = None
        self._bar = BarDisplay(self._info, on_request=self._on_request, clock=clock)

    # -- the job's settings ------------------------------------------------------------

    def _spec(self) -> JobSpec:
        if self._url is None:
            from nbchat.server.embedded import ensure_embedded_server

            url = progress_url(ensure_embedded_server())
        else:
            url = progress_url(self._url)
        classic = self._classic_url or classic_url_of(url) or ""
        return JobSpec(
            url=url,
            classic_url=classic,
            body=self._body,
            headers=self._headers,
            key=self.name,
            resume_url=self._resume_url,
            resumable=self._resumable,
            expected=tuple(stage for stage, _ in SPEC_STAGES),
        )

    @property
    def store(self) -> HistoryStore:
        """Where the runs' timings are kept (opened on first use)."""
        if self._store is None:
            try:
                self._store = open_history(self._history_arg)
            except HistoryError as exc:
                # The job matters more than its timings: run it, and say they are not kept.
                log.error("nbchat: %s (this job's runs are kept in memory only)", exc)
                self._store = MemoryHistory()
        return self._store

    @property
    def has_classic(self) -> bool:
        """Whether a classic (non-streaming) endpoint is known."""
        if self._classic_url:
            return True
        return self._url is None or classic_url_of(progress_url(self._url)) is not None

    @property
    def streaming(self) -> bool:
        """The mode of the next run: the argument, else the toggle's last choice, else
        streaming."""
        if self._streaming is not None:
            return self._streaming
        try:
            return self.store.setting(self._mode_key) != "classic"
        except HistoryError as exc:
            log.error("nbchat: %s", exc)
            return True

    @streaming.setter
    def streaming(self, value: bool) -> None:
        if not value and not self.has_classic:
            raise ConfigurationError(
                f"{self.name}: no classic endpoint is known; pass classic_url=... to Progress"
            )
        self._streaming = value
        try:
            self.store.set_setting(self._mode_key, "streaming" if value else "classic")
        except HistoryError as exc:
            log.error("nbchat: %s (the mode is not remembered)", exc)
        self._bar.changed(force=True)

    @property
    def _mode_key(self) -> str:
        return f"progress mode: {self.name}"

    # -- control -----------------------------------------------------------------------

    @user_facing
    def start(self) -> None:
        """Start the job on the kernel's event loop and return at once (the bar shows it;
        ``await p`` gives its result). A job already running is not started again."""
        if self._job is not None and self._job.state.busy:
            return
        self._begin().start(running_loop("Progress.start()", "p.run()"))

    def _begin(self) -> Job:
        classic = not self.streaming
        if classic and not self.has_classic:
            raise ConfigurationError(
                f"{self.name}: classic mode needs a classic endpoint; pass classic_url=..."
            )
        self._job = Job(
            self._spec(),
            classic=classic,
            transport=self._transport,
            store=self.store,
            clock=self._clock,
            on_change=self._changed,
        )
        return self._job

    def cancel(self) -> None:
        """Cancel the running job (safe from any thread); a no-op when none runs."""
        if self._job is not None:
            self._job.cancel()

    @user_facing
    def run(self) -> Any:
        """Run the job to its end, blocking (scripts): its result. Ctrl-C cancels it.

        Raises the job's error (a :class:`~nbchat.errors.StreamFailure`) when it failed.
        """
        if self._job is not None and self._job.state.busy:
            # Never started twice (and the running job stays reachable by cancel()).
            raise ConfigurationError(
                f"{self.name} is already running: `await p` for its result, or p.cancel() it"
            )

        def begin() -> Job:
            return self._begin().start(asyncio.get_running_loop())

        return run_blocking(begin)

    def __await__(self) -> Generator[Any, None, Any]:
        """``await p``: the result (None when cancelled); raises the job's error."""
        if self._job is None:
            self.start()
        assert self._job is not None
        return self._job.__await__()

    async def wait(self) -> JobState:
        """Wait for the job to end: its final state (never raises)."""
        if self._job is None:
            return JobState.IDLE
        return await self._job.wait()

    # -- observation -------------------------------------------------------------------

    @property
    def state(self) -> JobState:
        return self._job.state if self._job is not None else JobState.IDLE

    @property
    def percent(self) -> float | None:
        job = self._job
        return None if job is None or job.classic else job.ledger.percent

    @property
    def stage(self) -> str:
        job = self._job
        return "" if job is None or job.classic else job.ledger.stage

    @property
    def message(self) -> str:
        return self._job.ledger.message if self._job is not None else ""

    @property
    def eta(self) -> float | None:
        """Seconds left (None while unknown, and once the job ended)."""
        eta = self._job.eta() if self._job is not None else None
        return None if eta is None else eta.seconds

    @property
    def eta_source(self) -> str:
        """Where :attr:`eta` comes from ("learned from 3 earlier runs"...), or ""."""
        eta = self._job.eta() if self._job is not None else None
        return "" if eta is None else eta.describe()

    @property
    def elapsed(self) -> float:
        """Seconds since the start (the total, once ended); 0 before."""
        return self._job.ledger.elapsed() if self._job is not None else 0.0

    @property
    def result(self) -> Any:
        """The job's result (None until it arrives)."""
        return self._job.result if self._job is not None else None

    @property
    def error(self) -> ErrorInfo | None:
        """Why the job failed, ``{"code", "message", "hint"}``, or None."""
        job = self._job
        if job is None or job.error is None:
            return None
        return error_info(job.error.code, job.error.message, JOB_HINTS)

    @property
    def notice(self) -> str:
        return self._job.notice if self._job is not None else ""

    @property
    def stages(self) -> list[str]:
        """The job's known stages, in order."""
        job = self._job
        return [] if job is None or job.classic else job.ledger.known_stages()

    def __repr__(self) -> str:
        return f"Progress(name={self.name!r}, state={self.state.value!r})"

    # -- the bar -----------------------------------------------------------------------

    def _info(self) -> BarInfo:
        job = self._job
        eta = job.eta() if job is not None else None
        controls: list[Any] = ["cancel", "retry"] + (["mode"] if self.has_classic else [])
        classic = job.classic if job is not None and job.state.busy else not self.streaming
        return {
            "state": self.state,
            "title": self.name,
            "percent": self.percent,
            "stage": self.stage,
            "message": self.message[:BAR_MESSAGE_CHARS],
            "stages": []
            if job is None or job.classic
            else job.ledger.stages(self.state is JobState.DONE),
            "elapsed_s": self.elapsed if job is not None else None,
            "eta_s": None if eta is None else eta.seconds,
            "eta_note": "" if eta is None else eta.describe(),
            "notice": self.notice,
            "error": self.error,
            "result": result_text(self.result),
            "classic": classic,
            "controls": controls,
            "count": None,
            "children": [],
        }

    def _changed(self) -> None:
        state = self.state
        if state.busy or state is JobState.IDLE:
            self._bar.changed()
        else:
            self._bar.ended()

    def _on_request(self, kind: str) -> None:
        if kind == "cancel":
            self.cancel()
        elif kind == "retry":
            self.start()
        elif kind == "mode" and not self.state.busy:
            self.streaming = not self.streaming
        else:
            self._bar.changed(force=True)  # a stale view: show it the bar as it is

    @property
    def widget(self) -> Any:
        """The bar's widget."""
        return self._bar.widget

    def _ipython_display_(self) -> None:
        self._bar.display()

    def _repr_mimebundle_(
        self, include: Any = None, exclude: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        return self._bar.mimebundle(repr(self))


__all__ = ["DEMO_BODY", "Progress", "classic_url_of"]
