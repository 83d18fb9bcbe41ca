"""A conversation: its messages, where they persist, and who hears about changes.

The controller decides what to send and runs turns; the conversation is the record
they leave: an ordered list of :class:`~nbchat.message.Message`, its name in the
history store, the listeners that mirror it (the widget), and what of it the model
sees next (:meth:`Conversation.context`).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable
from pathlib import PurePath

from nbchat.changes import (
    Change,
    Listener,
    Listeners,
    MessageAdded,
    MessagesRemoved,
    TranscriptReplaced,
)
from nbchat.errors import HistoryError
from nbchat.history import HistoryStore
from nbchat.message import Message
from nbchat.wire import ChatMessageParam

log = logging.getLogger("nbchat")


def default_conversation_name() -> str:
    """The notebook's path when the kernel knows it (Jupyter Server sets it), else 'default'."""
    path = os.environ.get("JPY_SESSION_NAME", "")
    return PurePath(path).as_posix() if path else "default"


class Conversation:
    """The messages of conversation ``name`` in ``history``; see the module docstring.

    :meth:`open` reads the stored messages; the constructor takes them as given.
    """

    def __init__(self, name: str, history: HistoryStore, messages: Iterable[Message] = ()) -> None:
        self.name = name
        self.history = history
        self.messages: list[Message] = list(messages)
        self._listeners = Listeners()
        #: tell every listener about a change (a broken listener is logged, not raised)
        self.emit: Callable[[Change], None] = self._listeners.emit

    @classmethod
    def open(cls, name: str, history: HistoryStore) -> Conversation:
        """Conversation ``name`` with the messages ``history`` holds for it."""
        return cls(name, history, [Message.from_record(r) for r in history.load(name)])

    # -- listeners ---------------------------------------------------------------------

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(change)`` on every change; returns a function that unsubscribes."""
        return self._listeners.subscribe(listener)

    # -- persistence -------------------------------------------------------------------

    def save(self, message: Message) -> None:
        """Insert or update ``message`` in the history (raises HistoryError)."""
        if message.role == "user":
            finished: float | None = message.created_at
        else:
            finished = None if message.status == "streaming" else time.time()
        self.history.save(self.name, message.to_record(finished_at=finished))

    def remove(self, gone: list[Message]) -> None:
        """Take ``gone`` out of the transcript and the history (a replaced reply)."""
        for message in gone:
            try:
                self.history.delete(self.name, message.id)
            except HistoryError as exc:
                log.error("nbchat: a replaced reply stays in history: %s", exc)
        ids = {id(m) for m in gone}
        self.messages = [m for m in self.messages if id(m) not in ids]
        self.emit(MessagesRemoved(tuple(m.id for m in gone)))

    def clear(self) -> None:
        """Forget every message, here and in the history."""
        self.history.clear(self.name)
        self.messages = []
        self.emit(TranscriptReplaced())

    def append(self, message: Message) -> None:
        """Add ``message`` at the end (already saved, or not to be saved)."""
        self.messages.append(message)
        self.emit(MessageAdded(message.id))

    def find(self, message_id: str) -> Message | None:
        """The message with that id (searched from the end: recent ones are asked for)."""
        for message in reversed(self.messages):
            if message.id == message_id:
                return message
        return None

    # -- what the model sees -----------------------------------------------------------

    def context(self, system: str | None, until: Message | None = None) -> list[ChatMessageParam]:
        """The messages a request sends: the system prompt, then every user message and
        every assistant reply with text before ``until`` (a stopped or interrupted
        partial included: the user saw it; a reply being retried left out)."""
        out: list[ChatMessageParam] = []
        if system:
            out.append({"role": "system", "content": system})
        for message in self.messages:
            if message is until:
                break
            role = message.role
            if message.superseded or (role != "user" and role != "assistant"):
                continue
            content = message.reply.text
            if content:
                out.append({"role": role, "content": content})
        return out


__all__ = ["Conversation", "default_conversation_name"]
