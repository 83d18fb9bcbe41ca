"""The chat widget: mirrors a controller into the browser, relays Send, Stop and Retry.

Protocol (see :mod:`nbchat.wire`): the ``snapshot`` trait holds the whole transcript
and is replaced on every structural change; text deltas travel as numbered batches
of custom messages, flushed every ``interval`` seconds and at once before a snapshot.
Jupyter Server drops widget messages above ~1,000/s, so tokens are never sent one by
one; and because custom messages are not replayed, a view that missed a batch (a
reload mid-stream) asks for a fresh snapshot with ``{"type": "sync"}``.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from nbchat.batching import DEFAULT_INTERVAL_S, DeltaBatcher
from nbchat.changes import Change, TextAppended
from nbchat.controller import ChatController
from nbchat.errors import NbchatError
from nbchat.wire import Snapshot

log = logging.getLogger("nbchat")
_STATIC = Path(__file__).parent / "static"


class ChatWidget(anywidget.AnyWidget):
    """The browser view of a :class:`~nbchat.controller.ChatController`."""

    _esm = _STATIC / "widget.js"
    _css = _STATIC / "widget.css"
    snapshot = traitlets.Dict().tag(sync=True)

    def __init__(
        self, controller: ChatController, *, interval: float = DEFAULT_INTERVAL_S, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self._controller = controller
        self._interval = interval
        self._batcher = DeltaBatcher()
        self._version = 0
        self._flush_handle: asyncio.TimerHandle | None = None
        self._shown_id = ""  # the reply whose first text was sent
        self._push_snapshot()
        self._unsubscribe = controller.subscribe(self._on_change)
        self.on_msg(self._on_view_message)

    def __repr__(self) -> str:
        return f"ChatWidget(conversation={self._controller.name!r})"

    # -- kernel -> browser -------------------------------------------------------------

    def _on_change(self, change: Change) -> None:
        if isinstance(change, TextAppended):
            if self._batcher.add(change.message_id, change.text, change.kind):
                if change.message_id != self._shown_id:
                    # The first text of a reply goes at once; later text is batched.
                    self._shown_id = change.message_id
                    self.flush()
                else:
                    self._schedule_flush()
        else:
            self._push_snapshot()

    def _schedule_flush(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        self._flush_handle = loop.call_later(self._interval, self.flush)

    def flush(self) -> None:
        """Send pending text deltas now as one batch."""
        self._flush_handle = None
        batch = self._batcher.flush()
        if batch is not None:
            self.send(batch)

    def _push_snapshot(self) -> None:
        # The snapshot contains every pending delta, so those are dropped, not sent.
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        self._batcher.discard()
        self._version += 1
        controller = self._controller
        snapshot: Snapshot = {
            "version": self._version,
            "seq": self._batcher.seq,
            "phase": controller.state,
            "messages": [m.to_info() for m in controller.messages],
            "model": controller.endpoint.model,
            "endpoint": controller.where,
            "notice": controller.notice,
        }
        self.snapshot = dict(snapshot)

    # -- browser -> kernel -------------------------------------------------------------

    def _on_view_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict):
            return
        kind = content.get("type")
        try:
            if kind == "send":
                text = content.get("text")
                if isinstance(text, str) and text.strip():
                    self._controller.send(text)
            elif kind == "stop":
                self._controller.stop()
            elif kind == "retry":
                self._controller.retry()
            elif kind == "sync":
                self._push_snapshot()
        except NbchatError as exc:
            log.warning("nbchat: %s", exc)

    def close(self) -> None:
        self._unsubscribe()
        if self._flush_handle is not None:
            self._flush_handle.cancel()
        super().close()
