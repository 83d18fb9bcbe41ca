"""Conversation history: an interface, an in-memory store and the SQLite default.

``open_history`` turns the ``history=`` argument of ``Chat`` into a store: the
default per-user SQLite file, a path of the user's choosing, ``None`` for memory
only, or any :class:`HistoryStore` instance.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from nbchat.history.sqlite import SqliteHistory
from nbchat.history.store import ConversationInfo, HistoryStore, MemoryHistory, MessageRecord

#: set this environment variable to move nbchat's data folder (history, caches)
DATA_DIR_ENV = "NBCHAT_DATA_DIR"


def data_dir() -> Path:
    """nbchat's per-user data folder (``$NBCHAT_DATA_DIR`` or the platform's default)."""
    configured = os.environ.get(DATA_DIR_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path(platformdirs.user_data_dir("nbchat", appauthor=False))


def default_history_path() -> Path:
    """Where conversations are kept when ``history`` is not given."""
    return data_dir() / "history.sqlite3"


_OPEN: dict[Path, SqliteHistory] = {}


def open_history(history: HistoryStore | str | os.PathLike[str] | bool | None) -> HistoryStore:
    """The store for a ``history=`` argument (``True`` means the default file).

    SQLite files are opened once per process and shared by every chat using them.
    """
    if isinstance(history, HistoryStore):
        return history
    if history is None or history is False:
        return MemoryHistory()
    path = default_history_path() if history is True else Path(history).expanduser()
    key = path.resolve()
    store = _OPEN.get(key)
    if store is None:
        store = _OPEN[key] = SqliteHistory(key)
    return store


__all__ = [
    "DATA_DIR_ENV",
    "ConversationInfo",
    "HistoryStore",
    "MemoryHistory",
    "MessageRecord",
    "SqliteHistory",
    "data_dir",
    "default_history_path",
    "open_history",
]
