"""The conversations a history holds: ``nbchat.conversations()`` lists them,
``nbchat.delete_conversation()`` removes one.

A chat reopens an old conversation with ``chat.open(name)``; the widget's
Conversations panel lists the same rows.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from typing import Any

from nbchat.errors import ConfigurationError, user_facing
from nbchat.history import ConversationInfo, HistoryStore, open_history

#: the columns of :func:`conversations` as a DataFrame, in order
COLUMNS = ("name", "title", "notebook", "last_activity", "messages")

History = HistoryStore | str | os.PathLike[str] | None


def _store(history: object) -> HistoryStore:
    if history is None:
        return open_history(True)
    if isinstance(history, (HistoryStore, str, os.PathLike)):
        return open_history(history)
    raise ConfigurationError(
        "history must be a path, a HistoryStore, or left out for the default file"
    )


@user_facing
def conversations(history: History = None, *, as_list: bool = False) -> Any:
    """Every conversation in ``history`` (the default file when left out), the most
    recently active first: ``name``, ``title`` (its first message), ``notebook``,
    ``last_activity`` and ``messages`` (how many).

    A pandas DataFrame (``last_activity`` as local times) when pandas is installed and
    ``as_list`` is false, else a list of :class:`~nbchat.history.ConversationInfo`.
    Reopen one with ``chat.open(name)``.
    """
    found = _store(history).summaries()
    if as_list:
        return found
    try:
        import pandas as pd
    except ImportError:
        return found
    rows = [
        {**dataclasses.asdict(c), "last_activity": dt.datetime.fromtimestamp(c.last_activity)}
        for c in found
    ]
    return pd.DataFrame(rows, columns=list(COLUMNS))


@user_facing
def delete_conversation(name: str, history: History = None) -> bool:
    """Delete conversation ``name`` from ``history`` for good; False when there was none.

    A chat showing it keeps what is on screen until it is re-run; its next message
    starts the conversation again.
    """
    store = _store(history)
    if not isinstance(name, str) or name not in store.conversations():
        return False
    store.clear(name)
    return True


__all__ = ["COLUMNS", "ConversationInfo", "conversations", "delete_conversation"]
