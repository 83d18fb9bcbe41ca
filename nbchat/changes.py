"""What a chat is doing and what changed: the vocabulary between controller and views.

The controller emits :data:`Change` values synchronously, on the event loop's thread,
to every listener (``chat.subscribe``); the widget turns them into snapshots and
batches. Plain values, no behaviour.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from nbchat.wire import Phase

log = logging.getLogger("nbchat")


@dataclass(frozen=True)
class MessagesChanged:
    """A message was added, finished or removed: the transcript's structure changed."""


@dataclass(frozen=True)
class TextAppended:
    """``text`` was appended to message ``message_id``'s reply (or its reasoning)."""

    message_id: str
    text: str
    kind: Literal["text", "reasoning"] = "text"


@dataclass(frozen=True)
class PhaseChanged:
    phase: Phase


@dataclass(frozen=True)
class NoticeChanged:
    """A transient line about the running turn ("rate limited: retrying in 2 s"), or ""."""

    notice: str


Change = MessagesChanged | TextAppended | PhaseChanged | NoticeChanged
Listener = Callable[[Change], None]


class Listeners:
    """Who hears about changes: ``subscribe`` a listener, ``emit`` to all of them.

    A listener that raises is logged and skipped: a broken view must not break the
    turn that emitted.
    """

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(change)`` on every change; returns a function that unsubscribes."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def emit(self, change: Change) -> None:
        for listener in list(self._listeners):
            try:
                listener(change)
            except Exception:
                log.exception("nbchat listener failed on %r", change)


__all__ = [
    "Change",
    "Listener",
    "Listeners",
    "MessagesChanged",
    "NoticeChanged",
    "Phase",
    "PhaseChanged",
    "TextAppended",
]
