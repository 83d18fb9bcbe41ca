"""Where the sessions API keeps its data: the :class:`SessionStore` interface.

A *session* is one conversation owned by one user (the name behind the bearer token;
``""`` when the server has no authentication), with an optional title and system
prompt. Its *messages* are ordered by insertion. The sessions API writes:

* the user message (status ``done``) before the model is called;
* the assistant message at the start of a reply (status ``streaming``, no text), so
  a reply in progress is visible and resumable;
* the assistant message's text and final status when the reply ends, in any state:
  ``done``, ``stopped`` (Stop, no client within the grace period, server shutdown)
  or ``error`` (the model failed), with an error code and message for the last two;
* or, when the model failed before producing anything, it deletes both messages of
  the turn again (``delete_messages``): the client got a JSON error and may retry.

Ownership is part of every session lookup: a session of another owner is reported
exactly like a missing one, so ids cannot be probed.

Every method is a coroutine so that a networked database (a shared PostgreSQL for a
multi-user deployment) can implement the interface without blocking the event loop;
:class:`~nbchat.server.sqlite_sessions.SqliteSessionStore` is the default.
"""

from __future__ import annotations

import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from nbchat.errors import NbchatError

__all__ = [
    "MessageState",
    "SessionRecord",
    "SessionStore",
    "StoreError",
    "StoredMessage",
    "new_id",
]

#: the life of a stored message; ``streaming`` only while its reply is generated
MessageState = Literal["streaming", "done", "stopped", "error"]
StoredRole = Literal["system", "user", "assistant"]


def new_id() -> str:
    """A fresh random id for a session or a message (32 hex digits)."""
    return uuid.uuid4().hex


class StoreError(NbchatError):
    """The session store failed (unwritable file, full disk, lost database)."""

    code = "INTERNAL_ERROR"


@dataclass(frozen=True)
class SessionRecord:
    """One stored session (without its messages)."""

    id: str
    owner: str
    title: str
    system_prompt: str
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class StoredMessage:
    """One stored message of a session."""

    id: str
    session_id: str
    role: StoredRole
    content: str
    status: MessageState
    created_at: float
    finished_at: float | None = None
    error_code: str | None = None
    error_message: str | None = None


class SessionStore(ABC):
    """Sessions and their messages; see the module docstring.

    Implementations raise :class:`StoreError` (with the cause chained) when the
    backing storage fails, and nothing else.
    """

    #: shown to the operator at start-up (a path, or "memory")
    location: str = ""

    @abstractmethod
    async def create_session(self, *, owner: str, title: str, system_prompt: str) -> SessionRecord:
        """Create an empty session for ``owner`` and return it."""

    @abstractmethod
    async def list_sessions(self, owner: str) -> list[SessionRecord]:
        """``owner``'s sessions, most recently updated first."""

    @abstractmethod
    async def get_session(self, session_id: str, owner: str) -> SessionRecord | None:
        """The session if it exists and belongs to ``owner``, else ``None``."""

    @abstractmethod
    async def delete_session(self, session_id: str, owner: str) -> bool:
        """Delete the session and its messages; ``False`` if not found for ``owner``."""

    @abstractmethod
    async def messages(self, session_id: str) -> list[StoredMessage]:
        """The session's messages in order (empty for an unknown session)."""

    async def add_message(
        self,
        session_id: str,
        *,
        role: StoredRole,
        content: str,
        status: MessageState,
        message_id: str | None = None,
    ) -> StoredMessage:
        """Append a message to the session and return it (a new id unless given)."""
        now = time.time()
        finished = None if status == "streaming" else now
        message = StoredMessage(
            message_id or new_id(), session_id, role, content, status, now, finished
        )
        await self._append_message(message)
        return message

    @abstractmethod
    async def _append_message(self, message: StoredMessage) -> None:
        """Store ``message`` after its session's others; it updates the session too.

        The implementation half of :meth:`add_message`, which builds the message.
        """

    @abstractmethod
    async def finish_message(
        self,
        message_id: str,
        *,
        content: str,
        status: MessageState,
        error_code: str | None = None,
        error_message: str | None = None,
    ) -> None:
        """Set a message's final text and status (a no-op if it was deleted)."""

    @abstractmethod
    async def delete_messages(self, message_ids: Sequence[str]) -> None:
        """Delete these messages (a turn the model never started); unknown ids are skipped."""

    @abstractmethod
    async def recover(self) -> int:
        """Mark messages left ``streaming`` by a server that died as ``stopped``.

        Returns the number of messages changed. Called once when a server starts.
        """

    async def close(self) -> None:  # noqa: B027 - optional hook: some stores hold nothing
        """Release connections and files."""
