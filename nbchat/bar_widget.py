"""The progress bar widget, and how a bar reaches the notebook: live, throttled, and as
a static copy a saved notebook still shows.

Protocol: one ``bar`` trait holds everything the bar shows (:class:`~nbchat.wire.BarInfo`,
a few hundred bytes), set at most every :data:`MIN_INTERVAL_S` (a change of state goes
at once); the view counts the elapsed time and the ETA on between updates. The view
sends ``{"type": "cancel" | "retry" | "mode"}``. The module is the small bundle
``static/bar.js``, since every bar's model carries it.

:class:`BarDisplay` is what :class:`~nbchat.job_bar.Progress` and the loop bars share:
it shows the widget and, as a second output, a static summary (sanitized HTML, updated
by ``display_id`` when the job ends) for readers without a kernel, which the live view
hides.
"""

from __future__ import annotations

import html
import json
import logging
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from nbchat.job_ledger import Clock
from nbchat.wire import BAR_RESULT_CHARS, BarInfo, JobState

log = logging.getLogger("nbchat")
_STATIC = Path(__file__).parent / "static"

#: the shortest time between two updates of a bar (a state change goes at once)
MIN_INTERVAL_S = 0.1

_STATE_WORDS = {
    JobState.IDLE: "not started",
    JobState.CONNECTING: "connecting",
    JobState.RUNNING: "running",
    JobState.DONE: "done",
    JobState.CANCELLED: "cancelled",
    JobState.ERROR: "failed",
    JobState.INTERRUPTED: "interrupted",
}


class BarWidget(anywidget.AnyWidget):
    """A progress bar in the browser: draws the ``bar`` trait, relays its controls."""

    _esm = _STATIC / "bar.js"
    _css = _STATIC / "bar.css"
    bar = traitlets.Dict().tag(sync=True)
    #: the ``data-nbchat-static`` id of the bar's static copy, which a live view hides
    static_id = traitlets.Unicode("").tag(sync=True)

    def __init__(self, on_request: Callable[[str], None], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._on_request = on_request
        self.on_msg(self._on_view_message)

    def __repr__(self) -> str:
        return f"BarWidget(state={self.bar.get('state', 'idle')!r})"

    def _on_view_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind in ("cancel", "retry", "mode"):
            try:
                self._on_request(kind)
            except Exception:  # a control must never break the kernel's message loop
                log.exception("nbchat: the bar's %s request failed", kind)


class BarDisplay:
    """A bar's outputs: the live widget and its static copy; throttled updates.

    ``source`` gives the bar's current :class:`BarInfo`. :meth:`changed` is cheap to
    call often: it sends at most every ``interval`` seconds, at once when the state
    changed. ``on_request`` takes the view's ``cancel`` / ``retry`` / ``mode``.
    """

    def __init__(
        self,
        source: Callable[[], BarInfo],
        *,
        on_request: Callable[[str], None] = lambda _kind: None,
        clock: Clock,
        interval: float = MIN_INTERVAL_S,
    ) -> None:
        self._source = source
        self._on_request = on_request
        self._clock = clock
        self._interval = interval
        self._widget: BarWidget | None = None
        self._static_id = uuid.uuid4().hex
        self._displays: list[str] = []
        self._sent_at = -float("inf")
        self._sent_state: str | None = None
        #: widget updates sent (the benchmark counts them)
        self.updates = 0

    @property
    def widget(self) -> BarWidget:
        """The bar's widget (made on first use; every display shows the same one)."""
        if self._widget is None:
            self._widget = BarWidget(
                self._on_request, bar=dict(self._source()), static_id=self._static_id
            )
        return self._widget

    def display(self) -> None:
        """Show the widget and, below it, the static copy (hidden while the view lives)."""
        from IPython.display import display

        data, metadata = self.mimebundle()
        display(data, metadata=metadata, raw=True)  # type: ignore[no-untyped-call]
        display_id = uuid.uuid4().hex
        display(self._static_bundle(), raw=True, display_id=display_id)  # type: ignore[no-untyped-call]
        self._displays.append(display_id)

    def mimebundle(self, text: str = "") -> tuple[dict[str, Any], dict[str, Any]]:
        shown: Any = self.widget._repr_mimebundle_()
        data, metadata = shown if isinstance(shown, tuple) else (shown or {}, {})
        data = dict(data)
        data["text/plain"] = text or summary_text(self._source())
        return data, dict(metadata)

    def changed(self, force: bool = False) -> bool:
        """Send the bar if due (``force``: now). True when it was sent."""
        if self._widget is None:
            return False
        now = self._clock()
        info = self._source()
        if not force and info["state"] == self._sent_state and now - self._sent_at < self._interval:
            return False
        self._sent_at = now
        self._sent_state = info["state"]
        self._widget.bar = dict(info)
        self.updates += 1
        return True

    def ended(self) -> None:
        """The job ended: send its last state, and refresh the static copies."""
        self.changed(force=True)
        if not self._displays:
            return
        from IPython.display import update_display

        bundle = self._static_bundle()
        for display_id in self._displays:
            update_display(bundle, raw=True, display_id=display_id)  # type: ignore[no-untyped-call]

    def _static_bundle(self) -> dict[str, str]:
        info = self._source()
        return {"text/html": summary_html(info, self._static_id), "text/plain": summary_text(info)}


def result_text(result: Any) -> str | None:
    """A result for reading: text as is, anything else as pretty JSON; cut to
    :data:`~nbchat.wire.BAR_RESULT_CHARS` (the whole result stays in Python)."""
    if result is None:
        return None
    if isinstance(result, str):
        text = result
    else:
        try:
            text = json.dumps(result, indent=2, ensure_ascii=False, default=str)
        except (TypeError, ValueError):
            text = repr(result)
    if len(text) > BAR_RESULT_CHARS:
        left = len(text) - BAR_RESULT_CHARS
        text = f"{text[:BAR_RESULT_CHARS]}\n… ({left:,} more characters: .result has all)"
    return text


def summary_text(info: BarInfo) -> str:
    """One line: "Demo job: done in 4.2 s", "train: 40 % (generating), 3.1 s"."""
    word = _STATE_WORDS.get(JobState(info["state"]), str(info["state"]))
    parts = [f"{info['title']}: {word}" if info["title"] else word.capitalize()]
    if info["percent"] is not None and info["state"] != JobState.DONE:
        parts.append(f"{int(info['percent'])} %")
    if info["stage"] and info["state"] != JobState.DONE:
        parts.append(f"({info['stage']})")
    count = info["count"]
    if count is not None:
        parts.append(f"{count['n']:,}" + (f" / {count['total']:,}" if count["total"] else ""))
    parts.append(f"{'in ' if info['state'] == JobState.DONE else ''}{info['elapsed_s'] or 0:.1f} s")
    error = info["error"]
    if error is not None:
        parts.append(f"— {error['code']}: {error['message']}")
    return " ".join(parts)


def summary_html(info: BarInfo, static_id: str) -> str:
    """The static copy: the summary line and the result, every text escaped."""
    body = f"<div>{html.escape(summary_text(info))}</div>"
    if info["result"]:
        body += f"<pre>{html.escape(info['result'][:2000])}</pre>"
    return f'<div data-nbchat-static="{static_id}">{body}</div>'


__all__ = ["MIN_INTERVAL_S", "BarDisplay", "BarWidget", "result_text", "summary_text"]
