"""What a chat is doing and what changed: the vocabulary between controller and views.

The controller emits :data:`Change` values synchronously, on the event loop's thread,
to every listener (``chat.subscribe``). Each names what changed (a message added,
updated or removed, text appended, the phase), so a view sends the browser that
change and nothing else; only :class:`TranscriptReplaced` means "start over".
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, NamedTuple

from nbchat.config import ContextLimit
from nbchat.wire import Phase

log = logging.getLogger("nbchat")


@dataclass(frozen=True)
class MessageAdded:
    """Message ``message_id`` joined the end of the transcript."""

    message_id: str


@dataclass(frozen=True)
class MessageUpdated:
    """Message ``message_id``'s status, error, metrics, tool calls, progress or marks
    changed (its text grows by :class:`TextAppended` instead)."""

    message_id: str


@dataclass(frozen=True)
class MessagesRemoved:
    """These messages left the transcript (a reply replaced by a retry)."""

    message_ids: tuple[str, ...]


@dataclass(frozen=True)
class TranscriptReplaced:
    """The transcript changed as a whole (cleared, a server session's messages loaded)."""


@dataclass(frozen=True)
class ModelChanged:
    """``chat.model`` now names another model."""

    model: str


@dataclass(frozen=True)
class ContextLimitChanged:
    """``chat.context_limit`` now sends more or fewer of the older messages."""

    limit: ContextLimit


@dataclass(frozen=True)
class SystemChanged:
    """``chat.system`` is another prompt (or none) from the next turn on."""

    system: str | None


class TextAppended(NamedTuple):
    """``text`` was appended to message ``message_id``'s reply (or its reasoning).

    A named tuple, not a frozen dataclass: one is made per streamed token, and a
    tuple is several times cheaper to build.
    """

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


Change = (
    MessageAdded
    | MessageUpdated
    | MessagesRemoved
    | TranscriptReplaced
    | TextAppended
    | PhaseChanged
    | NoticeChanged
    | ModelChanged
    | ContextLimitChanged
    | SystemChanged
)
Listener = Callable[[Change], None]


class Listeners:
    """Who hears about changes: ``subscribe`` a listener, ``emit`` to all of them.

    A listener that raises is logged and skipped: a broken view must not break the
    turn that emitted.
    """

    def __init__(self) -> None:
        # A tuple, replaced on (un)subscribe: emitting (once per batch of tokens) copies
        # nothing, and a listener may unsubscribe while it is called.
        self._listeners: tuple[Listener, ...] = ()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(change)`` on every change; returns a function that unsubscribes."""
        self._listeners = (*self._listeners, listener)

        def unsubscribe() -> None:
            self._listeners = tuple(x for x in self._listeners if x is not listener)

        return unsubscribe

    def emit(self, change: Change) -> None:
        for listener in self._listeners:
            try:
                listener(change)
            except Exception:
                log.exception("nbchat listener failed on %r", change)


__all__ = [
    "Change",
    "ContextLimitChanged",
    "Listener",
    "Listeners",
    "MessageAdded",
    "MessageUpdated",
    "MessagesRemoved",
    "ModelChanged",
    "NoticeChanged",
    "Phase",
    "PhaseChanged",
    "SystemChanged",
    "TextAppended",
    "TranscriptReplaced",
]
