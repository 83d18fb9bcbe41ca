"""What a chat is doing and what changed: the vocabulary between controller and views.

The controller emits :data:`Change` values synchronously, on the event loop's thread,
to every listener (``chat.subscribe``); the widget turns them into snapshots and
batches. Plain values, no behaviour.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from nbchat.wire import Phase


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


__all__ = [
    "Change",
    "Listener",
    "MessagesChanged",
    "NoticeChanged",
    "Phase",
    "PhaseChanged",
    "TextAppended",
]
