"""SQLite history store (stdlib ``sqlite3``, WAL, migrations table).

One file can hold many conversations and be shared by several kernels: WAL lets
readers and a writer work at once and ``busy_timeout`` waits out short locks. Every
sqlite3 failure becomes a :class:`~nbchat.errors.HistoryError` naming the file and
the cause (full disk, read-only folder, not a database); nothing is half-written
because each save is one transaction.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

from nbchat.errors import HistoryError
from nbchat.history.migrations import MIGRATIONS
from nbchat.history.sqlite_db import SqliteFile
from nbchat.history.store import ConversationInfo, HistoryStore, MessageRecord, title_of
from nbchat.wire import MessageStatus, MetricsInfo, Role, RunOutcome


class SqliteHistory(SqliteFile, HistoryStore):
    """Conversations in a SQLite file at ``path`` (created with its folder if missing)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        self.location = str(self.path)
        super().__init__(
            self.path,
            name=f"history file {self.path}",
            error=HistoryError,
            migrations=MIGRATIONS,
            elsewhere="Chat(history=...)",
        )

    def load(self, conversation: str) -> list[MessageRecord]:
        with self._guard("read"):
            rows = self._db.execute(
                "SELECT m.id, m.role, m.content, m.status, m.created_at, m.error_code,"
                " m.error_message, m.model, m.metrics, m.finished_at, m.extra FROM messages m"
                " JOIN conversations c ON c.id = m.conversation_id"
                " WHERE c.name = ? ORDER BY m.position",
                (conversation,),
            ).fetchall()
        return [_record(row) for row in rows]

    def save(self, conversation: str, record: MessageRecord) -> None:
        try:
            self._save(conversation, record)
        except UnicodeEncodeError:
            # A model may stream "\ud800" (a lone surrogate, valid JSON, not UTF-8): store
            # U+FFFD in its place rather than lose the reply.
            self._save(conversation, _scrubbed(record))

    def _save(self, conversation: str, record: MessageRecord) -> None:
        values = (
            record.role,
            record.content,
            record.status,
            record.error_code,
            record.error_message,
            record.model,
            json.dumps(record.metrics),
            record.created_at,
            record.finished_at,
            json.dumps(record.extra),
        )
        with self._guard("write"), self._transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO conversations (name, created_at) VALUES (?, ?)",
                (conversation, time.time()),
            )
            (cid,) = db.execute(
                "SELECT id FROM conversations WHERE name = ?", (conversation,)
            ).fetchone()
            updated = db.execute(
                "UPDATE messages SET role=?, content=?, status=?, error_code=?, error_message=?,"
                " model=?, metrics=?, created_at=?, finished_at=?, extra=?"
                " WHERE id=? AND conversation_id=?",
                (*values, record.id, cid),
            ).rowcount
            if not updated:
                (position,) = db.execute(
                    "SELECT COALESCE(MAX(position), -1) + 1 FROM messages WHERE conversation_id=?",
                    (cid,),
                ).fetchone()
                db.execute(
                    "INSERT INTO messages (role, content, status, error_code, error_message, model,"
                    " metrics, created_at, finished_at, extra, id, conversation_id, position)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (*values, record.id, cid, position),
                )

    def clear(self, conversation: str) -> None:
        with self._guard("write"), self._transaction() as db:
            db.execute(
                "DELETE FROM messages WHERE conversation_id ="
                " (SELECT id FROM conversations WHERE name = ?)",
                (conversation,),
            )

    def delete(self, conversation: str, message_id: str) -> None:
        with self._guard("write"), self._transaction() as db:
            db.execute(
                "DELETE FROM messages WHERE id = ? AND conversation_id ="
                " (SELECT id FROM conversations WHERE name = ?)",
                (message_id, conversation),
            )

    def conversations(self) -> list[str]:
        with self._guard("read"):
            rows = self._db.execute(
                "SELECT DISTINCT c.name FROM conversations c"
                " JOIN messages m ON m.conversation_id = c.id ORDER BY c.name"
            ).fetchall()
        return [row[0] for row in rows]

    def summaries(self) -> list[ConversationInfo]:
        with self._guard("read"):
            rows = self._db.execute(
                "SELECT c.name, c.notebook, COUNT(m.id),"
                " MAX(COALESCE(m.finished_at, m.created_at)),"
                " (SELECT substr(f.content, 1, 400) FROM messages f WHERE f.conversation_id = c.id"
                "  AND f.role = 'user' ORDER BY f.position LIMIT 1)"
                " FROM conversations c JOIN messages m ON m.conversation_id = c.id"
                " GROUP BY c.id ORDER BY 4 DESC"
            ).fetchall()
        return [
            ConversationInfo(
                name=name,
                title=title_of(first or ""),
                notebook=notebook,
                last_activity=float(last),
                messages=int(count),
            )
            for name, notebook, count, last, first in rows
        ]

    def describe(self, conversation: str, notebook: str) -> None:
        with self._guard("write"), self._transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO conversations (name, created_at) VALUES (?, ?)",
                (conversation, time.time()),
            )
            db.execute(
                "UPDATE conversations SET notebook = ? WHERE name = ? AND notebook = ''",
                (_scrub(notebook), conversation),
            )

    def record_run(
        self, job: str, stages: Sequence[tuple[str, float]], outcome: RunOutcome = "done"
    ) -> None:
        with self._guard("write"), self._transaction() as db:
            run = db.execute(
                "INSERT INTO progress_runs (job, finished_at, outcome) VALUES (?, ?, ?)",
                (_scrub(job), time.time(), outcome),
            ).lastrowid
            db.executemany(
                "INSERT INTO progress_stages (run_id, position, stage, seconds)"
                " VALUES (?, ?, ?, ?)",
                [(run, i, _scrub(stage), float(s)) for i, (stage, s) in enumerate(stages)],
            )

    def stage_runs(self, job: str, limit: int = 20) -> list[list[tuple[str, float]]]:
        with self._guard("read"):
            rows = self._db.execute(
                "SELECT s.run_id, s.stage, s.seconds FROM progress_stages s"
                " WHERE s.run_id IN (SELECT id FROM progress_runs WHERE job = ?"
                " AND outcome = 'done' ORDER BY id DESC LIMIT ?) ORDER BY s.run_id, s.position",
                (_scrub(job), max(limit, 0)),
            ).fetchall()
        runs: dict[int, list[tuple[str, float]]] = {}
        for run, stage, seconds in rows:
            runs.setdefault(run, []).append((stage, seconds))
        return list(runs.values())

    def run_outcomes(self, job: str, limit: int = 20) -> list[RunOutcome]:
        with self._guard("read"):
            rows = self._db.execute(
                "SELECT outcome FROM progress_runs WHERE job = ? ORDER BY id DESC LIMIT ?",
                (_scrub(job), max(limit, 0)),
            ).fetchall()
        return [cast(RunOutcome, row[0]) for row in reversed(rows)]

    def setting(self, key: str) -> str | None:
        with self._guard("read"):
            row = self._db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_setting(self, key: str, value: str) -> None:
        with self._guard("write"), self._transaction() as db:
            db.execute(
                "INSERT INTO settings (key, value) VALUES (?, ?)"
                " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (_scrub(key), _scrub(value)),
            )

    def close(self) -> None:
        self._close()


def _scrub(text: str | None) -> str | None:
    if text is None:
        return None
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _scrubbed(record: MessageRecord) -> MessageRecord:
    return replace(
        record,
        content=_scrub(record.content) or "",
        error_message=_scrub(record.error_message),
        model=_scrub(record.model),
    )


def _record(row: tuple[Any, ...]) -> MessageRecord:
    try:
        metrics = cast(MetricsInfo, json.loads(row[8] or "{}"))
    except json.JSONDecodeError:
        metrics = MetricsInfo()
    try:
        extra = json.loads(row[10] or "{}")
    except json.JSONDecodeError:
        extra = {}
    return MessageRecord(
        id=row[0],
        role=cast(Role, row[1]),
        content=row[2],
        status=cast(MessageStatus, row[3]),
        created_at=row[4],
        error_code=row[5],
        error_message=row[6],
        model=row[7],
        metrics=metrics,
        finished_at=row[9],
        extra=extra if isinstance(extra, dict) else {},
    )
