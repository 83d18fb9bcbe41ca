"""The chat widget: mirrors a controller into the browser, relays Send, Stop and Retry.

Protocol (see :mod:`nbchat.wire`): each change travels as what it is. A message
added, updated or removed, and text appended, go as ops in numbered batches of
custom messages, flushed every ``interval`` seconds (the first text of a reply and
a new message at once); phase, notice and model go in the small ``head`` trait,
after the pending batch, with the number of that batch. The ``snapshot`` trait (the
last page of the transcript) is set only when the widget is made, when a view asks
with ``{"type": "sync"}`` (it opened, reloaded, lost a batch) and when the transcript
changes as a whole. So a turn costs the same in a 10,000-message chat as in a new
one. Jupyter Server drops widget messages above ~1,000/s (custom messages and trait
updates alike): tokens are never sent one by one; a view that sees a later ``head``
than its batches asks for a sync; and a view that missed a turn's end (its Stop or
Send finds the chat in another state) is sent a fresh snapshot.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import anywidget
import traitlets

from nbchat.batching import DEFAULT_INTERVAL_S, DeltaBatcher
from nbchat.changes import (
    Change,
    ContextLimitChanged,
    MessageAdded,
    MessagesRemoved,
    MessageUpdated,
    ModelChanged,
    NoticeChanged,
    PhaseChanged,
    SystemChanged,
    TextAppended,
    TranscriptReplaced,
)
from nbchat.controller import ChatController
from nbchat.errors import NbchatError
from nbchat.export import MEDIA_TYPES, export_filename
from nbchat.wire import (
    PAGE,
    ConversationList,
    ConversationRow,
    ExportFile,
    Head,
    MessageInfo,
    Page,
    Refused,
    Snapshot,
)

log = logging.getLogger("nbchat")
_STATIC = Path(__file__).parent / "static"
#: what a change of these pushes: the ``head`` trait (phase, notice, model, context line)
HEAD_CHANGES = (PhaseChanged, NoticeChanged, ModelChanged, ContextLimitChanged, SystemChanged)
#: the most conversations the Conversations panel lists (the newest)
LISTED = 300


class ChatWidget(anywidget.AnyWidget):
    """The browser view of a :class:`~nbchat.controller.ChatController`."""

    _esm = _STATIC / "widget.js"
    _css = _STATIC / "widget.css"
    snapshot = traitlets.Dict().tag(sync=True)
    head = traitlets.Dict().tag(sync=True)
    #: the ``data-nbchat-transcript`` id of the chat's static transcript, which a live
    #: view hides (see nbchat.transcript)
    transcript_id = traitlets.Unicode("").tag(sync=True)

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
        batcher = self._batcher
        if isinstance(change, TextAppended):
            if batcher.add(change.message_id, change.text, change.kind):
                if change.message_id != self._shown_id:
                    # The first text of a reply goes at once; later text is batched.
                    self._shown_id = change.message_id
                    self.flush()
                elif self._flush_handle is None:
                    self._schedule_flush()
        elif isinstance(change, MessageUpdated):
            message = self._controller.conversation.find(change.message_id)
            if message is not None and batcher.patch(message.id, message.patch_info()):
                self._schedule_flush()
        elif isinstance(change, MessageAdded):
            message = self._controller.conversation.find(change.message_id)
            if message is not None:
                batcher.upsert(message.to_info())
                self.flush()  # a new message shows at once
            if message is not None and not self._controller.state.busy:
                self._push_head()  # a note (chat.clear()) moves where the context starts
        elif isinstance(change, MessagesRemoved):
            for message_id in change.message_ids:
                batcher.remove(message_id)
            self.flush()
            if not self._controller.state.busy:
                self._push_head()  # chat.undo() may move where the context starts
        elif isinstance(change, HEAD_CHANGES):
            self._push_head()
        elif isinstance(change, TranscriptReplaced):
            self._push_snapshot()

    def _schedule_flush(self) -> None:
        if self._flush_handle is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        self._flush_handle = loop.call_later(self._interval, self.flush)

    def flush(self) -> None:
        """Send pending changes now as one batch."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        batch = self._batcher.flush()
        if batch is not None:
            self.send(batch)

    def _push_head(self) -> None:
        # After the pending batch, so head.seq names the last batch the view should have.
        self.flush()
        controller = self._controller
        phase = controller.state
        if phase.busy and "context_start" in self.head:
            context_start = self.head["context_start"]  # moves when the turn has ended
        else:
            context_start = controller.context_start
        head: Head = {
            "seq": self._batcher.seq,
            "phase": phase,
            "notice": controller.notice,
            "model": controller.endpoint.model,
            "endpoint": controller.where,
            "context_start": context_start,
            "models": list(controller.models),
            "conversation": controller.name,
        }
        self.head = dict(head)

    def _push_snapshot(self) -> None:
        # The snapshot contains every pending change, so those are dropped, not sent.
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        self._batcher.discard()
        self._version += 1
        controller = self._controller
        messages = controller.messages
        page = messages[-PAGE:]
        snapshot: Snapshot = {
            "version": self._version,
            "seq": self._batcher.seq,
            "phase": controller.state,
            "messages": [m.to_info() for m in page],
            "offset": len(messages) - len(page),
            "model": controller.endpoint.model,
            "endpoint": controller.where,
            "notice": controller.notice,
        }
        self.snapshot = dict(snapshot)
        self._push_head()

    def _send_page(self, before: object) -> None:
        messages = self._controller.messages
        end = next((i for i in range(len(messages) - 1, -1, -1) if messages[i].id == before), None)
        if end is None or not isinstance(before, str):
            # Not (or no longer) in the transcript: the view's copy is stale.
            self._push_snapshot()
            return
        start = max(0, end - PAGE)
        older: list[MessageInfo] = [m.to_info() for m in messages[start:end]]
        page: Page = {"type": "page", "before": before, "messages": older, "offset": start}
        self.send(page)

    # -- browser -> kernel -------------------------------------------------------------

    def _on_view_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict):
            return
        handler = self._handlers.get(str(content.get("type")))
        if handler is None:
            return
        try:
            handler(self, content)
        except NbchatError as exc:
            log.warning("nbchat: %s", exc)
            refused: Refused = {"type": "refused", "message": str(exc)}
            self.send(refused)

    def _on_send(self, content: dict[str, Any]) -> None:
        text = content.get("text")
        if isinstance(text, str) and text.strip():
            if self._controller.state.busy:
                self._push_snapshot()  # the view thought the chat idle: it is stale
            self._controller.send(text)

    def _on_stop(self, _content: dict[str, Any]) -> None:
        if not self._controller.state.busy:
            # Stop on an idle chat: the view missed the turn's end (messages are
            # dropped under load, traits too); show it the chat as it is.
            self._push_snapshot()
        self._controller.stop()

    def _on_edit(self, content: dict[str, Any]) -> None:
        text = content.get("text")
        if isinstance(text, str) and text.strip():
            self._controller.edit(text.strip())

    def _on_model(self, content: dict[str, Any]) -> None:
        model = content.get("model")
        if model in self._controller.models:
            self._controller.model = str(model)

    def _on_open(self, content: dict[str, Any]) -> None:
        self._controller.open(str(content.get("name")))

    def _on_delete(self, content: dict[str, Any]) -> None:
        name = content.get("name")
        if isinstance(name, str) and name:
            self._controller.delete(name)
            self._on_conversations(content)  # the panel shows the list without it

    def _on_conversations(self, _content: dict[str, Any]) -> None:
        found = self._controller.conversation.history.summaries()
        rows: list[ConversationRow] = [
            {
                "name": c.name,
                "title": c.title,
                "notebook": c.notebook,
                "last_activity": c.last_activity,
                "messages": c.messages,
            }
            for c in found[:LISTED]
        ]
        listing: ConversationList = {
            "type": "conversations",
            "items": rows,
            "more": max(0, len(found) - LISTED),
        }
        self.send(listing)

    def _on_export(self, content: dict[str, Any]) -> None:
        fmt = str(content.get("format") or "markdown")
        controller = self._controller
        text = controller.export_text(fmt)
        reply: ExportFile = {
            "type": "export",
            "filename": export_filename(controller.name, fmt),
            "media_type": MEDIA_TYPES[fmt],
            "text": text,
        }
        self.send(reply)

    def _on_approve(self, content: dict[str, Any]) -> None:
        call_id = content.get("id")
        if isinstance(call_id, str):
            self._controller.decide(call_id, content.get("approved") is True)

    _handlers: ClassVar[dict[str, Callable[[ChatWidget, dict[str, Any]], object]]] = {
        "send": _on_send,
        "stop": _on_stop,
        "retry": lambda self, _c: self._controller.retry(),
        "edit": _on_edit,
        "new": lambda self, _c: self._controller.new(),
        "clear": lambda self, _c: self._controller.clear(),
        "undo": lambda self, _c: self._controller.undo(),
        "model": _on_model,
        "conversations": _on_conversations,
        "open": _on_open,
        "delete": _on_delete,
        "export": _on_export,
        "approve": _on_approve,
        "sync": lambda self, _c: self._push_snapshot(),
        "page": lambda self, c: self._send_page(c.get("before")),
    }

    def close(self) -> None:
        self._unsubscribe()
        if self._flush_handle is not None:
            self._flush_handle.cancel()
        super().close()
