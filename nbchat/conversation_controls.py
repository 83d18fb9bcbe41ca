"""What a user does with a chat's conversation as a whole: start a new one, open an
old one, delete one, clear what the model sees, take back the last exchange, export it.

Mixed into :class:`~nbchat.controller.ChatController` (these are its methods; the
controller runs turns, these switch and trim the record they leave). Which
conversation a chat shows: the chat's ``key`` (its notebook and cell, or ``name=``)
stands for the conversation chosen last, kept as the history setting
``conversation:<key>``; ``new()`` and ``open()`` write it, a new chat with that key
reads it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nbchat.changes import Change, Phase, PhaseChanged
from nbchat.errors import ConfigurationError, user_facing
from nbchat.export import export_text, to_dataframe, write_export
from nbchat.message import Message

if TYPE_CHECKING:
    from nbchat.conversation import Conversation
    from nbchat.session_client import RemoteSession
    from nbchat.turn import Turn

__all__ = ["ConversationControls", "chosen_key"]


class ConversationControls:
    """The conversation-wide actions of a chat; see the module docstring."""

    # What the controller provides.
    conversation: Conversation
    key: str
    emit: Callable[[Change], None]
    _turn: Turn | None
    _session: RemoteSession | None

    @property
    def model(self) -> str:
        raise NotImplementedError  # the controller's

    @property
    def name(self) -> str:
        """The conversation's name in the history (``chat.new()`` and ``chat.open()``
        change it)."""
        return self.conversation.name

    @property
    def messages(self) -> list[Message]:
        """The transcript, oldest first."""
        return self.conversation.messages

    @property
    def history_location(self) -> str:
        return self.conversation.history.location

    def _refuse_if_busy(self) -> None:
        raise NotImplementedError  # the controller's

    @user_facing
    def undo(self) -> list[Message]:
        """Take back the last exchange: the last user message and the replies after it
        go from the transcript, the history and what the model is sent. After
        ``chat.clear()`` it takes back the clear (its note). Returns what went (empty
        when there is nothing to take back).

        Raises
        ------
        TurnInProgressError
            A reply is still streaming.
        """
        self._refuse_if_busy()
        self._refuse_if_remote("undo")
        messages = self.messages
        last = next(
            (i for i in range(len(messages) - 1, -1, -1) if messages[i].role in ("user", "note")),
            None,
        )
        if last is None:
            return []
        gone = messages[last:]
        self.conversation.remove(gone)
        return gone

    @user_facing
    def clear(self) -> bool:
        """Start the model afresh in this conversation: a note in the transcript says the
        model is not sent the messages above it; they stay on screen and in history
        (``chat.undo()`` takes the note back). False when nothing was sent anyway.

        Raises
        ------
        TurnInProgressError
            A reply is still streaming.
        """
        self._refuse_if_busy()
        self._refuse_if_remote("clear")
        return self.conversation.clear_context() is not None

    @user_facing
    def new(self) -> str:
        """Start a new, empty conversation; the old one stays in the history
        (``nbchat.conversations()`` lists it, ``chat.open(name)`` reopens it). The chat's
        key now stands for the new one, so re-running the cell reopens it. Returns its
        name; an empty conversation is kept as it is.

        Raises
        ------
        TurnInProgressError
            A reply is still streaming.
        """
        self._refuse_if_busy()
        self._refuse_if_remote("new")
        if self.messages:
            self._switch(self._fresh_name())
        return self.name

    @user_facing
    def open(self, name: str) -> None:
        """Show conversation ``name`` from the history and continue it here; the chat's
        key now stands for it (re-running the cell reopens it).

        Raises
        ------
        ConfigurationError
            The history holds no conversation of that name.
        TurnInProgressError
            A reply is still streaming.
        """
        self._refuse_if_busy()
        self._refuse_if_remote("open")
        if not isinstance(name, str) or name not in self.conversation.history.conversations():
            raise ConfigurationError(
                f"no conversation {name!r} in the history at {self.history_location}; "
                "nbchat.conversations() lists those there are"
            )
        self._switch(name)

    @user_facing
    def delete(self, name: str | None = None) -> None:
        """Delete conversation ``name`` (this chat's by default) from the history, for
        good. Deleting this chat's own leaves it empty.

        Raises
        ------
        TurnInProgressError
            This chat's reply is still streaming (to delete its conversation).
        """
        if name is None or name == self.name:
            self._refuse_if_busy()
            self._refuse_if_remote("delete")
            self._turn = None
            self.conversation.clear()
            self.emit(PhaseChanged(Phase.IDLE))
        else:
            self.conversation.history.clear(name)

    def _switch(self, name: str) -> None:
        self.conversation.history.set_setting(chosen_key(self.key), name)
        self._turn = None
        self.conversation.reopen(name)
        self.emit(PhaseChanged(Phase.IDLE))

    def _fresh_name(self) -> str:
        taken = set(self.conversation.history.conversations())
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        name = f"{self.key} ({stamp})"
        n = 2
        while name in taken:
            name, n = f"{self.key} ({stamp} #{n})", n + 1
        return name

    def _refuse_if_remote(self, action: str) -> None:
        if self._session is not None:
            raise ConfigurationError(
                f"chat.{action}(): this chat's conversation is the server session "
                f"{self._session.id!r}, kept by the server; start another with "
                "Chat(session='another-id')"
            )

    @user_facing
    def export(
        self, fmt: str = "markdown", path: str | os.PathLike[str] | None = None
    ) -> str | Path:
        """The whole conversation as ``"markdown"``, ``"json"`` or ``"html"`` (a standalone
        page, sanitized by the rules the page uses); written to ``path`` when given (then
        the path is returned), else returned as text."""
        text = self.export_text(fmt)
        return text if path is None else write_export(text, path)

    def export_text(self, fmt: str) -> str:
        """:meth:`export`'s text (the widget's Export sends it to the browser)."""
        return export_text(
            fmt, self.messages, name=self.name, model=self.model, location=self.history_location
        )

    @user_facing
    def to_dataframe(self) -> Any:
        """The conversation as a pandas DataFrame: a row per message (role, content,
        status, created_at, model, error, metrics)."""
        return to_dataframe(self.messages)


def chosen_key(key: str) -> str:
    # The setting that names the conversation a chat key stands for (after new/open).
    return f"conversation:{key}"
