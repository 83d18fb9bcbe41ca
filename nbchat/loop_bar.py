"""``nbchat.progress(...)``: a progress bar for the user's own loops, the look and the ETA
learning of :class:`~nbchat.job_bar.Progress`.

::

    for row in nbchat.progress(rows, name="clean"):        # total from len() when it has one
        ...

    with nbchat.progress(total=3, name="train") as bar:
        bar.update(stage="load", message="reading files")
        ...
        bar.update(stage="fit")

Unlike a chat turn, a loop runs *in* its cell, blocking it: widget updates still
reach the browser (the kernel sends them as they happen, as tqdm's do), but no click
reaches the kernel until the cell ends, so a loop bar has no Cancel (interrupt the
kernel). A bar made while another runs (a loop inside a loop) is drawn inside it and
goes when it ends.

Cost: a tight loop of a million steps must not notice its bar. Iteration hands out
items in chunks (``islice``) and looks at the clock only between chunks; the chunk
size adapts so that a look comes about every :data:`CHECK_S`; the widget is updated at
most every :data:`~nbchat.bar_widget.MIN_INTERVAL_S`. ``update()`` counts, and looks
at the clock every so many calls the same way. ``bench/progress_loop.py`` measures it
against a bare loop and tqdm.notebook.

A named loop learns its ETA from its earlier finished runs with the same total (the
history keeps stage timings only); an unnamed one uses the rate so far.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterable, Iterator
from itertools import islice
from types import TracebackType
from typing import Any, Generic, TypeVar

from nbchat.bar_widget import BarDisplay
from nbchat.errors import HistoryError, error_info, user_facing
from nbchat.eta import Eta, StageHistory
from nbchat.history import HistoryStore, MemoryHistory, open_history
from nbchat.job_ledger import Clock, JobLedger
from nbchat.wire import BAR_MESSAGE_CHARS, BarInfo, ErrorInfo, JobState

log = logging.getLogger("nbchat")

T = TypeVar("T")

#: about how often (seconds) a running loop looks at the clock
CHECK_S = 0.02
#: the largest chunk of items handed out between two looks at the clock
MAX_STEP = 1 << 20

_local = threading.local()
_DEFAULT: Any = object()


def _running_bars() -> list[LoopBar[Any]]:
    bars: list[LoopBar[Any]] | None = getattr(_local, "bars", None)
    if bars is None:
        bars = _local.bars = []
    return bars


class LoopBar(Generic[T]):
    """A bar over a loop; made by :func:`progress`. Iterate it, or use it as a context
    manager and call :meth:`update`."""

    def __init__(
        self,
        iterable: Iterable[T] | None,
        total: int | None,
        *,
        name: str | None,
        store: HistoryStore | None,
        clock: Clock,
    ) -> None:
        if total is None and iterable is not None:
            try:
                total = len(iterable)  # type: ignore[arg-type]
            except (TypeError, AttributeError):
                total = None
        self._iterable = iterable
        self.total = total if total is None or total >= 0 else None
        self.name = name or ""
        #: steps done
        self.n = 0
        self.state = JobState.IDLE
        self.error: ErrorInfo | None = None
        self._store = store
        self._clock = clock
        self.ledger = JobLedger(StageHistory(), clock)
        self._parent: LoopBar[Any] | None = None
        self._children: list[LoopBar[Any]] = []
        self._display: BarDisplay | None = None
        self._checked_at = 0.0
        self._calls = 0
        self._every = 1

    # -- lifecycle ---------------------------------------------------------------------

    def open(self) -> LoopBar[T]:
        """Start timing; show the bar (inside the running bar, if there is one)."""
        if self.state is not JobState.IDLE:
            return self
        self.ledger = JobLedger(self._learned(), self._clock)
        self._checked_at = self.ledger.started
        self.state = JobState.RUNNING
        running = _running_bars()
        if running:
            self._parent = running[-1]
            self._parent._children.append(self)
        running.append(self)
        if self._parent is None:
            self._display = BarDisplay(self.info, clock=self._clock)
            if _in_ipython():
                self._display.display()
        self._show(force=True)
        return self

    def close(self, state: JobState = JobState.DONE) -> None:
        """End the bar (``DONE`` unless told otherwise); a finished named loop's timings
        are kept for the next run's ETA."""
        if self.state is not JobState.RUNNING:
            return
        self.state = state
        stages = self.ledger.finish()
        running = _running_bars()
        if self in running:
            running.remove(self)
        key = self._key()
        if key is not None and self._store is not None:
            try:
                self._store.record_run(key, stages, state.outcome)
            except HistoryError as exc:
                log.error("nbchat: %s (this loop's timings are not kept)", exc)
        parent = self._parent
        if parent is not None:
            if self in parent._children:
                parent._children.remove(self)
            parent._show(force=True)
        elif self._display is not None:
            self._display.ended()

    def __enter__(self) -> LoopBar[T]:
        return self.open()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.close(JobState.DONE)
        elif isinstance(exc, KeyboardInterrupt):
            self.close(JobState.CANCELLED)
        else:
            self.error = error_info(type(exc).__name__, str(exc)[:BAR_MESSAGE_CHARS])
            self.close(JobState.ERROR)

    # -- counting ----------------------------------------------------------------------

    def __iter__(self) -> Iterator[T]:
        if self._iterable is None:
            raise TypeError("nbchat.progress(total=...) without an iterable: call .update()")
        self.open()
        iterator = iter(self._iterable)
        step = 1
        finished = False
        n = self.n
        try:
            while True:
                before = n = self.n
                for n, item in enumerate(islice(iterator, step), before + 1):  # noqa: B007
                    yield item
                self.n = n
                if n - before < step:
                    finished = True
                    break
                step = self._check(step)
        finally:
            # Exhausted: done. Left early (break, an error in the loop's body, the
            # generator closed): cancelled, its timings not taught to the ETA; the item
            # handed out last did not complete.
            if not finished:
                self.n = max(self.n, n - 1)
            self.close(JobState.DONE if finished else JobState.CANCELLED)

    def update(self, k: int = 1, *, stage: str | None = None, message: str | None = None) -> None:
        """Count ``k`` more steps; name the stage the loop is in, or say what it does."""
        if self.state is JobState.IDLE:
            self.open()
        self.n += k
        if stage is not None or message is not None:
            self.ledger.step(stage, None, message)
            self._every = self._check(self._every)
            self._calls = 0
            return
        self._calls += 1
        if self._calls >= self._every:
            self._calls = 0
            self._every = self._check(self._every)

    def _check(self, step: int) -> int:
        # Between chunks: show the bar if due; size the next chunk so that the next
        # look at the clock comes about CHECK_S from now.
        now = self._clock()
        spent = now - self._checked_at
        self._checked_at = now
        self.ledger.step(percent=self.percent)
        self._show()
        if spent < CHECK_S / 2 and step < MAX_STEP:
            return step * 2
        if spent > CHECK_S * 2 and step > 1:
            return max(1, step // 2)
        return step

    def _show(self, force: bool = False) -> None:
        root = self
        while root._parent is not None:
            root = root._parent
        if root._display is not None:
            root._display.changed(force)

    # -- reading -----------------------------------------------------------------------

    @property
    def percent(self) -> float | None:
        if not self.total:
            return 100.0 if self.total == 0 and self.state is JobState.DONE else None
        return min(100.0, 100.0 * self.n / self.total)

    @property
    def elapsed(self) -> float:
        return self.ledger.elapsed() if self.state is not JobState.IDLE else 0.0

    def eta_estimate(self) -> Eta | None:
        return self.ledger.eta() if self.state is JobState.RUNNING else None

    @property
    def eta(self) -> float | None:
        """Seconds left (None while unknown and once ended)."""
        eta = self.eta_estimate()
        return None if eta is None else eta.seconds

    @property
    def updates(self) -> int:
        """Widget updates sent so far (the benchmark counts them)."""
        return self._display.updates if self._display is not None else 0

    def info(self) -> BarInfo:
        """What the bar shows."""
        eta = self.eta_estimate()
        elapsed = self.elapsed
        return {
            "state": self.state,
            "title": self.name,
            "percent": self.percent,
            "stage": self.ledger.stage,
            "message": self.ledger.message[:BAR_MESSAGE_CHARS],
            "stages": self.ledger.stages(self.state is JobState.DONE),
            "elapsed_s": elapsed,
            "eta_s": None if eta is None else eta.seconds,
            "eta_note": "" if eta is None else eta.describe(),
            "notice": "",
            "error": self.error,
            "result": None,
            "classic": False,
            "controls": [],
            "count": {
                "n": self.n,
                "total": self.total,
                "rate": self.n / elapsed if elapsed > 0 and self.n else None,
            },
            "children": [child.info() for child in self._children],
        }

    def __repr__(self) -> str:
        total = f"/{self.total}" if self.total is not None else ""
        return f"LoopBar(name={self.name!r}, n={self.n}{total}, state={self.state.value!r})"

    def _repr_mimebundle_(
        self, include: Any = None, exclude: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        # Shown again (the last line of a cell): the same widget.
        if self._display is None:
            self._display = BarDisplay(self.info, clock=self._clock)
        return self._display.mimebundle(repr(self))

    def _key(self) -> str | None:
        # Only a named loop learns; the total is part of its key (another size is
        # another job).
        if not self.name:
            return None
        return f"loop: {self.name} ({self.total if self.total is not None else '?'})"

    def _learned(self) -> StageHistory:
        key = self._key()
        if key is None or self._store is None:
            return StageHistory()
        try:
            return StageHistory.of(self._store.stage_runs(key))
        except HistoryError as exc:
            log.error("nbchat: %s (the ETA starts from nothing)", exc)
            return StageHistory()


@user_facing
def progress(
    iterable: Iterable[T] | None = None,
    total: int | None = None,
    *,
    name: str | None = None,
    history: HistoryStore | str | os.PathLike[str] | bool | None = _DEFAULT,
    clock: Clock = time.monotonic,
) -> LoopBar[T]:
    """A progress bar over ``iterable``, or over ``total`` steps counted with
    ``bar.update()``; shown at once. See the module docstring.

    Parameters
    ----------
    iterable : iterable, optional
        What to loop over; its ``len()`` is the total when it has one.
    total : int, optional
        The number of steps (else unknown: the bar counts without a percent).
    name : str, optional
        The bar's title; a named loop also learns its ETA from earlier runs.
    history : str, path, HistoryStore, bool, None
        Where a named loop's timings are kept (default: nbchat's history file).
    """
    store: HistoryStore | None = None
    if name:
        try:
            store = open_history(True if history is _DEFAULT else history)
        except HistoryError as exc:
            log.error("nbchat: %s (this loop's timings are kept in memory only)", exc)
            store = MemoryHistory()
    return LoopBar(iterable, total, name=name, store=store, clock=clock).open()


def _in_ipython() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    return get_ipython() is not None


__all__ = ["CHECK_S", "LoopBar", "progress"]
