"""``%%chat``: send a cell's text to a chat; the reply streams into the cell's output.

::

    %load_ext nbchat

    %%chat
    Explain server-sent events in two sentences.

``%%chat`` talks to the chat made last in this kernel (a new ``nbchat.Chat()`` if there
is none); ``%%chat mychat`` to the ``Chat`` held by the variable ``mychat``, or else to
the conversation named ``mychat``. The cell returns at once (the reply streams on the
kernel's loop, so other cells and Stop keep working); its output is the reply as
Markdown, refreshed a few times a second by ``display_id`` and finally with how it
ended. The reply is also in the chat's widget and history, as any other.
"""

from __future__ import annotations

import asyncio
import uuid
import weakref
from typing import Any

from nbchat.changes import Change, MessageUpdated, PhaseChanged, TextAppended
from nbchat.chat import Chat
from nbchat.errors import ConfigurationError

#: how often (seconds) the streaming output is refreshed at most
REFRESH_S = 0.1

_made: weakref.WeakValueDictionary[str, Chat] = weakref.WeakValueDictionary()


def chat_for(name: str, namespace: dict[str, Any]) -> Chat:
    """The chat ``%%chat [name]`` means (see the module docstring)."""
    if name:
        held = namespace.get(name)
        if isinstance(held, Chat):
            return held
        chat = _made.get(name)
        if chat is None:
            chat = _made[name] = Chat(name=name)
        return chat
    latest = Chat.latest()
    if latest is None:
        latest = _made[""] = Chat()
    return latest


class ReplyOutput:
    """One cell's output following one reply: Markdown, refreshed by ``display_id``."""

    def __init__(self, chat: Chat, message_id: str) -> None:
        self._chat = chat
        self._id = message_id
        self._display_id = uuid.uuid4().hex
        self._pending: asyncio.TimerHandle | None = None
        self._unsubscribe = chat.subscribe(self._on_change)

    def show(self) -> None:
        from IPython.display import display

        display(self._bundle(), raw=True, display_id=self._display_id)  # type: ignore[no-untyped-call]

    def _bundle(self) -> dict[str, str]:
        message = next((m for m in reversed(self._chat.messages) if m.id == self._id), None)
        if message is None:
            return {"text/plain": "", "text/markdown": ""}
        text = message.content or ("…" if message.status == "streaming" else "")
        error = message.error
        if message.status != "streaming" and message.status != "done":
            why = f"{error['code']}: {error['message']}" if error else message.status
            text = f"{text}\n\n*({message.status}: {why})*" if text else f"*({why})*"
        return {"text/plain": text, "text/markdown": text}

    def _refresh(self) -> None:
        from IPython.display import update_display

        self._pending = None
        update_display(self._bundle(), raw=True, display_id=self._display_id)  # type: ignore[no-untyped-call]

    def _on_change(self, change: Change) -> None:
        if isinstance(change, PhaseChanged) and not change.phase.busy:
            if self._pending is not None:
                self._pending.cancel()
            self._refresh()  # the end: at once, with how it ended
            self._unsubscribe()
        elif (
            self._pending is None
            and isinstance(change, (TextAppended, MessageUpdated))
            and change.message_id == self._id
        ):
            self._pending = asyncio.get_running_loop().call_later(REFRESH_S, self._refresh)


def chat_magic(line: str, cell: str) -> None:
    """``%%chat [name]``: send the cell to a chat; see the module docstring."""
    from IPython import get_ipython

    shell = get_ipython()
    namespace: dict[str, Any] = shell.user_ns if shell is not None else {}
    text = cell.strip()
    if not text:
        raise ConfigurationError("%%chat: the cell is empty; write the message below %%chat")
    chat = chat_for(line.strip(), namespace)
    turn = chat.send(text)
    ReplyOutput(chat, turn.message.id).show()


def load_ipython_extension(shell: Any) -> None:
    """``%load_ext nbchat``: registers ``%%chat``."""
    shell.register_magic_function(chat_magic, "cell", "chat")


__all__ = ["ReplyOutput", "chat_for", "chat_magic", "load_ipython_extension"]
