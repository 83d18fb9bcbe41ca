"""The history store interface, its record type, and the in-memory store.

A store keeps conversations (keyed by name) as ordered message records. The
controller writes the user message before the request and the assistant message when
the turn ends, in any state; ``save`` is an upsert by message id.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from nbchat.wire import MessageStatus, MetricsInfo, Role, RunOutcome


@dataclass(frozen=True)
class MessageRecord:
    """One stored message. API keys are never part of a record."""

    id: str
    role: Role
    content: str
    status: MessageStatus
    created_at: float
    error_code: str | None = None
    error_message: str | None = None
    model: str | None = None
    metrics: MetricsInfo = field(default_factory=lambda: MetricsInfo())
    finished_at: float | None = None
    #: what else the message holds: ``reasoning``, ``refusal``, ``tool_calls``
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ConversationInfo:
    """One stored conversation, as ``nbchat.conversations()`` lists it."""

    name: str
    #: the first line of its first user message (shortened), or "" when it has none
    title: str
    #: the notebook (or script) it was started in, "" when not known
    notebook: str
    #: when its newest message was written (seconds since the epoch)
    last_activity: float
    #: how many messages it holds
    messages: int


#: the longest title :func:`title_of` makes
TITLE_CHARS = 80


def title_of(text: str) -> str:
    """A conversation's title from its first user message: the first line with text,
    at most :data:`TITLE_CHARS` characters."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1].rstrip() + "…"


class HistoryStore(ABC):
    """Where conversations persist; see the module docstring."""

    #: shown to users (a path, or "memory")
    location: str = ""

    @abstractmethod
    def load(self, conversation: str) -> list[MessageRecord]:
        """The messages of ``conversation`` in order (empty if it does not exist)."""

    @abstractmethod
    def save(self, conversation: str, record: MessageRecord) -> None:
        """Insert ``record`` at the end of ``conversation``, or update it by id."""

    @abstractmethod
    def clear(self, conversation: str) -> None:
        """Forget every message of ``conversation``."""

    @abstractmethod
    def delete(self, conversation: str, message_id: str) -> None:
        """Forget one message (a reply replaced by ``chat.retry()``); no-op if absent."""

    @abstractmethod
    def conversations(self) -> list[str]:
        """The names of all stored conversations."""

    @abstractmethod
    def summaries(self) -> list[ConversationInfo]:
        """Every conversation that holds a message, the most recently active first."""

    @abstractmethod
    def describe(self, conversation: str, notebook: str) -> None:
        """Note the notebook ``conversation`` was started in (the first note stays)."""

    @abstractmethod
    def record_run(
        self, job: str, stages: Sequence[tuple[str, float]], outcome: RunOutcome = "done"
    ) -> None:
        """Keep the stage durations (seconds) of one run of ``job`` and how it ended.

        Only ``done`` runs count in :meth:`stage_runs` (the ETA's statistics)."""

    @abstractmethod
    def stage_runs(self, job: str, limit: int = 20) -> list[list[tuple[str, float]]]:
        """The last ``limit`` *done* runs of ``job``, oldest first, each its stages in
        order with their durations."""

    @abstractmethod
    def run_outcomes(self, job: str, limit: int = 20) -> list[RunOutcome]:
        """How the last ``limit`` runs of ``job`` ended, oldest first (any outcome)."""

    @abstractmethod
    def setting(self, key: str) -> str | None:
        """A stored setting (e.g. a job's mode), or None."""

    @abstractmethod
    def set_setting(self, key: str, value: str) -> None:
        """Store a setting."""

    def close(self) -> None:  # noqa: B027 - optional hook: most stores hold nothing
        """Release resources (files, connections)."""


class MemoryHistory(HistoryStore):
    """A store that forgets everything when the kernel ends (``history=None``)."""

    location = "memory"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data: dict[str, list[MessageRecord]] = {}
        self._runs: dict[str, list[tuple[RunOutcome, list[tuple[str, float]]]]] = {}
        self._settings: dict[str, str] = {}
        self._notebooks: dict[str, str] = {}

    def load(self, conversation: str) -> list[MessageRecord]:
        with self._lock:
            return list(self._data.get(conversation, []))

    def save(self, conversation: str, record: MessageRecord) -> None:
        with self._lock:
            records = self._data.setdefault(conversation, [])
            for i, old in enumerate(records):
                if old.id == record.id:
                    records[i] = replace(record)
                    return
            records.append(record)

    def clear(self, conversation: str) -> None:
        with self._lock:
            self._data.pop(conversation, None)

    def delete(self, conversation: str, message_id: str) -> None:
        with self._lock:
            records = self._data.get(conversation, [])
            records[:] = [r for r in records if r.id != message_id]

    def conversations(self) -> list[str]:
        with self._lock:
            return sorted(name for name, records in self._data.items() if records)

    def summaries(self) -> list[ConversationInfo]:
        with self._lock:
            found = [
                ConversationInfo(
                    name=name,
                    title=title_of(next((r.content for r in records if r.role == "user"), "")),
                    notebook=self._notebooks.get(name, ""),
                    last_activity=max(r.finished_at or r.created_at for r in records),
                    messages=len(records),
                )
                for name, records in self._data.items()
                if records
            ]
        return sorted(found, key=lambda c: c.last_activity, reverse=True)

    def describe(self, conversation: str, notebook: str) -> None:
        with self._lock:
            self._notebooks.setdefault(conversation, notebook)

    def record_run(
        self, job: str, stages: Sequence[tuple[str, float]], outcome: RunOutcome = "done"
    ) -> None:
        with self._lock:
            run = [(str(s), float(t)) for s, t in stages]
            self._runs.setdefault(job, []).append((outcome, run))

    def stage_runs(self, job: str, limit: int = 20) -> list[list[tuple[str, float]]]:
        with self._lock:
            done = [list(run) for outcome, run in self._runs.get(job, []) if outcome == "done"]
        return done[-limit:] if limit > 0 else []

    def run_outcomes(self, job: str, limit: int = 20) -> list[RunOutcome]:
        with self._lock:
            outcomes = [outcome for outcome, _run in self._runs.get(job, [])]
        return outcomes[-limit:] if limit > 0 else []

    def setting(self, key: str) -> str | None:
        with self._lock:
            return self._settings.get(key)

    def set_setting(self, key: str, value: str) -> None:
        with self._lock:
            self._settings[key] = value
