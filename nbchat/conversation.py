"""A conversation: its messages, where they persist, and who hears about changes.

The controller decides what to send and runs turns; the conversation is the record
they leave: an ordered list of :class:`~nbchat.message.Message`, its name in the
history store, the listeners that mirror it (the widget), and what of it the model
sees next (:meth:`Conversation.context`).
"""

from __future__ import annotations

import dataclasses
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
from nbchat.config import ContextLimit
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
        #: the notebook (or script) the conversation is kept for, noted in the history
        #: with its first message ("" when not known)
        self.notebook = ""
        self._listeners = Listeners()
        #: tell every listener about a change (a broken listener is logged, not raised)
        self.emit: Callable[[Change], None] = self._listeners.emit

    @classmethod
    def open(cls, name: str, history: HistoryStore) -> Conversation:
        """Conversation ``name`` with the messages ``history`` holds for it."""
        return cls(name, history, _load(history, name))

    def reopen(self, name: str) -> None:
        """Become conversation ``name`` of the same history (its stored messages, or
        none): what ``chat.new()`` and ``chat.open()`` do. Listeners stay."""
        messages = _load(self.history, name)
        self.name = name
        self.messages = messages
        self.emit(TranscriptReplaced())

    # -- listeners ---------------------------------------------------------------------

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(change)`` on every change; returns a function that unsubscribes."""
        return self._listeners.subscribe(listener)

    # -- persistence -------------------------------------------------------------------

    def save(self, message: Message) -> None:
        """Insert or update ``message`` in the history (raises HistoryError)."""
        if message.role != "assistant":
            finished: float | None = message.created_at
        else:
            finished = None if message.status == "streaming" else time.time()
        if not self.messages and self.notebook:
            self.history.describe(self.name, self.notebook)
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

    def clear_context(self) -> Message | None:
        """End what the model is sent here: a note saying so is saved and added; the
        messages above it stay, on screen and in history, and are never sent again.
        Returns the note (None when nothing would be sent anyway)."""
        if not any(_is_sent(m) for m in self._since_note()):
            return None
        note = Message("note", CONTEXT_CLEARED)
        self.save(note)
        self.append(note)
        return note

    def _since_note(self) -> list[Message]:
        messages = self.messages
        start = next((i + 1 for i in range(len(messages) - 1, -1, -1) if _is_note(messages[i])), 0)
        return messages[start:]

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

    def window(
        self, limit: ContextLimit, until: Message | None = None, system: str | None = None
    ) -> list[Message]:
        """The messages a request sends, oldest first: the newest whole turns before
        ``until`` (the end by default) that fit ``limit`` (its token budget less what
        the ``system`` prompt takes).

        Sent are user messages and assistant replies with text (a stopped or interrupted
        partial included: the user saw it; a reply being retried left out) after the
        last note (``chat.clear()``). The window starts with a user message, and always
        holds the newest one. The walk goes back from the end and stops at the limit or
        a note: its cost follows the window, not the chat.
        """
        return self._window(limit, until, system)[0]

    def context_start(self, limit: ContextLimit, system: str | None = None) -> str:
        """The id of the first message sent when earlier ones are left out by ``limit``,
        else "" (the widget draws a line there)."""
        window, start = self._window(limit, None, system)
        messages = self.messages
        for i in range(start - 1, -1, -1):
            if _is_note(messages[i]):
                break  # the note says where the context starts
            if window and _is_sent(messages[i]):
                return window[0].id
        return ""

    def _window(
        self, limit: ContextLimit, until: Message | None, system: str | None
    ) -> tuple[list[Message], int]:
        if system and limit.tokens is not None:  # the system prompt is sent too
            limit = dataclasses.replace(
                limit, tokens=max(1, limit.tokens - estimate_tokens(system))
            )
        messages = self.messages
        end = len(messages)
        if until is not None:
            end = next((i for i in range(end - 1, -1, -1) if messages[i] is until), end)
        budget = limit.tokens
        room = limit.messages
        taken: list[Message] = []  # newest first
        whole = 0  # how many of ``taken`` end at a user message: the whole turns
        start = oldest = end
        for i in range(end - 1, -1, -1):
            message = messages[i]
            if _is_note(message):
                break
            if not _is_sent(message):
                continue
            if room is not None and len(taken) >= room and whole:
                break
            if budget is not None:
                budget -= sum(estimate_tokens(p["content"]) for p in params_of(message))
                if budget < 0 and whole:
                    break
            taken.append(message)
            oldest = i
            if message.role == "user":
                whole, start = len(taken), i
        if whole:
            del taken[whole:]
        else:
            start = oldest
        taken.reverse()
        return taken, start

    def context(
        self, system: str | None, limit: ContextLimit, until: Message | None = None
    ) -> list[ChatMessageParam]:
        """The ``messages`` array of a request: the system prompt, then :meth:`window`."""
        out: list[ChatMessageParam] = []
        if system:
            out.append({"role": "system", "content": system})
        for message in self.window(limit, until, system):
            out.extend(params_of(message))
        return out


#: the note ``chat.clear()`` leaves in the transcript
CONTEXT_CLEARED = "Context cleared: the model is not sent the messages above."


def _load(history: HistoryStore, name: str) -> list[Message]:
    return [Message.from_record(r) for r in history.load(name)]


def _is_note(message: Message) -> bool:
    # A note is nbchat's line in the transcript (the context was cleared there): the
    # model is sent nothing above it.
    return message.role == "note"


def _is_sent(message: Message) -> bool:
    return (
        (message.role == "user" or message.role == "assistant")
        and not message.superseded
        and (bool(message.reply.text) or any(c.round for c in message.reply.tool_calls))
    )


def params_of(message: Message) -> list[ChatMessageParam]:
    """What a request sends of one user or assistant message.

    A reply in which the kernel ran tools is several messages, round by round: the text
    streamed before the round's calls with the calls, a ``tool`` message with each
    call's result (the text the model was sent), and the text after the last round.
    """
    text = message.reply.text
    if message.role == "user":
        return [{"role": "user", "content": text}]
    calls = [c for c in message.reply.tool_calls if c.round]
    out: list[ChatMessageParam] = []
    start = 0
    for turn in sorted({c.round for c in calls}):
        group = [c for c in calls if c.round == turn]
        cut = max(start, min(c.at for c in group))
        out.append(
            {
                "role": "assistant",
                "content": text[start:cut],
                "tool_calls": [
                    {
                        "id": c.id,
                        "type": "function",
                        "function": {"name": c.name, "arguments": c.streamed or "{}"},
                    }
                    for c in group
                ],
            }
        )
        for c in group:
            result = c.result if isinstance(c.result, str) else "(no result: the turn ended)"
            out.append({"role": "tool", "tool_call_id": c.id, "content": result})
        start = cut
    if text[start:] or not out:
        out.append({"role": "assistant", "content": text[start:]})
    return out


def without_tool_rounds(params: list[ChatMessageParam]) -> list[ChatMessageParam]:
    """``params`` for a request that offers no tools (the chat has none now): each
    round's calls and results told as text in the assistant's message, since providers
    refuse ``tool_calls`` and ``tool`` messages in a request without tools."""
    out: list[ChatMessageParam] = []
    for param in params:
        calls = param.get("tool_calls")
        if param["role"] == "tool":
            said = f"[result: {param['content']}]"
        elif param["role"] == "assistant" and calls:
            lines = [
                f"[called {c['function']['name']}({c['function']['arguments']})]" for c in calls
            ]
            said = "\n".join([param["content"], *lines] if param["content"] else lines)
        elif param["role"] == "assistant":
            said = param["content"]
        else:
            out.append(param)
            continue
        last = out[-1] if out else None
        if last is not None and last["role"] == "assistant":
            last["content"] = f"{last['content']}\n{said}" if last["content"] else said
        else:
            out.append({"role": "assistant", "content": said})
    return out


def estimate_tokens(text: str) -> int:
    """A rough token count of one message: four characters a token, four a message."""
    return len(text) // 4 + 4


__all__ = [
    "CONTEXT_CLEARED",
    "Conversation",
    "default_conversation_name",
    "estimate_tokens",
    "params_of",
    "without_tool_rounds",
]
