"""The default :class:`~nbchat.server.session_store.SessionStore`: one SQLite file.

Same conventions as the kernel history, and the same plumbing
(:mod:`nbchat.history.sqlite_db`): stdlib ``sqlite3``, WAL (readers never wait for
the writer), ``busy_timeout`` for short locks, one transaction per write, and a
``_migrations`` table of named migrations applied once and in order; a file written
by a newer nbchat is refused. ``":memory:"``
keeps everything in memory (tests, the embedded server).

Queries run in a worker thread (``asyncio.to_thread``) behind one lock, so a slow
disk stalls no stream. Every sqlite3 failure becomes a
:class:`~nbchat.server.session_store.StoreError` naming the file and the cause.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar, cast

from nbchat.history.sqlite_db import SqliteFile
from nbchat.server.session_store import (
    MessageState,
    SessionRecord,
    SessionStore,
    StoredMessage,
    StoredRole,
    StoreError,
    new_id,
)

__all__ = ["MIGRATIONS", "SqliteSessionStore"]

T = TypeVar("T")

#: The schema as an ordered list of named migrations. Never edit a released one: add one.
MIGRATIONS: list[tuple[str, str]] = [
    (
        "0001_sessions_and_messages",
        """
        CREATE TABLE sessions (
            id            TEXT PRIMARY KEY,
            owner         TEXT NOT NULL,
            title         TEXT NOT NULL,
            system_prompt TEXT NOT NULL,
            created_at    REAL NOT NULL,
            updated_at    REAL NOT NULL
        );
        CREATE INDEX sessions_by_owner ON sessions(owner, updated_at);
        CREATE TABLE messages (
            seq           INTEGER PRIMARY KEY AUTOINCREMENT,
            id            TEXT NOT NULL UNIQUE,
            session_id    TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
            role          TEXT NOT NULL,
            content       TEXT NOT NULL,
            status        TEXT NOT NULL,
            created_at    REAL NOT NULL,
            finished_at   REAL,
            error_code    TEXT,
            error_message TEXT
        );
        CREATE INDEX messages_by_session ON messages(session_id, seq);
        """,
    ),
]

_SESSION_COLUMNS = "id, owner, title, system_prompt, created_at, updated_at"
_MESSAGE_COLUMNS = (
    "id, session_id, role, content, status, created_at, finished_at, error_code, error_message"
)


class SqliteSessionStore(SqliteFile, SessionStore):
    """Sessions in the SQLite file at ``path`` (created with its folder if missing).

    Parameters
    ----------
    path
        The database file, or ``":memory:"`` for a store that lives as long as the
        object.

    Raises
    ------
    StoreError
        If the file cannot be opened, is not a database, or was written by a newer
        nbchat.
    """

    def __init__(self, path: str | Path) -> None:
        memory = str(path) == ":memory:"
        self.path = Path(":memory:") if memory else Path(path).expanduser()
        self.location = "memory" if memory else str(self.path)
        super().__init__(
            self.path,
            name=f"the sessions database {self.location}",
            error=StoreError,
            migrations=MIGRATIONS,
            elsewhere="--db",
            # WAL + NORMAL: a commit survives a crash of the process, not of the OS.
            pragmas=["synchronous=NORMAL"],
        )

    # -- plumbing -------------------------------------------------------------------

    async def _run(self, action: str, work: Callable[[sqlite3.Connection], T]) -> T:
        def call() -> T:
            with self._guard(action):
                if self._closed:
                    raise StoreError(f"the sessions database {self.location} is closed")
                return work(self._db)

        return await asyncio.to_thread(call)

    # -- sessions -------------------------------------------------------------------

    async def create_session(self, *, owner: str, title: str, system_prompt: str) -> SessionRecord:
        now = time.time()
        record = SessionRecord(new_id(), owner, title, system_prompt, now, now)

        def work(db: sqlite3.Connection) -> None:
            db.execute(
                f"INSERT INTO sessions ({_SESSION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                (record.id, owner, title, system_prompt, now, now),
            )

        await self._run("write", work)
        return record

    async def list_sessions(self, owner: str) -> list[SessionRecord]:
        def work(db: sqlite3.Connection) -> list[SessionRecord]:
            rows = db.execute(
                f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE owner = ?"
                " ORDER BY updated_at DESC, created_at DESC",
                (owner,),
            ).fetchall()
            return [SessionRecord(*row) for row in rows]

        return await self._run("read", work)

    async def get_session(self, session_id: str, owner: str) -> SessionRecord | None:
        def work(db: sqlite3.Connection) -> SessionRecord | None:
            row = db.execute(
                f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE id = ? AND owner = ?",
                (session_id, owner),
            ).fetchone()
            return None if row is None else SessionRecord(*row)

        return await self._run("read", work)

    async def delete_session(self, session_id: str, owner: str) -> bool:
        def work(db: sqlite3.Connection) -> bool:
            with self._transaction():
                deleted = db.execute(
                    "DELETE FROM sessions WHERE id = ? AND owner = ?", (session_id, owner)
                ).rowcount
            return bool(deleted)

        return await self._run("write", work)

    # -- messages -------------------------------------------------------------------

    async def messages(self, session_id: str) -> list[StoredMessage]:
        def work(db: sqlite3.Connection) -> list[StoredMessage]:
            rows = db.execute(
                f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE session_id = ? ORDER BY seq",
                (session_id,),
            ).fetchall()
            return [_message(row) for row in rows]

        return await self._run("read", work)

    async def _append_message(self, message: StoredMessage) -> None:
        row = (message.id, message.session_id, message.role, message.content, message.status)
        now = message.created_at

        def work(db: sqlite3.Connection) -> None:
            with self._transaction():
                db.execute(
                    f"INSERT INTO messages ({_MESSAGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (*row, now, message.finished_at, None, None),
                )
                db.execute(
                    "UPDATE sessions SET updated_at = ? WHERE id = ?", (now, message.session_id)
                )

        await self._run("write", work)

    async def finish_message(
        self,
        message_id: str,
        *,
        content: str,
        status: MessageState,
        error_code: str | None = None,
        error_message: str | None = None,
    ) -> None:
        now = time.time()

        def work(db: sqlite3.Connection) -> None:
            with self._transaction():
                db.execute(
                    "UPDATE messages SET content = ?, status = ?, finished_at = ?,"
                    " error_code = ?, error_message = ? WHERE id = ?",
                    (content, status, now, error_code, error_message, message_id),
                )
                db.execute(
                    "UPDATE sessions SET updated_at = ? WHERE id ="
                    " (SELECT session_id FROM messages WHERE id = ?)",
                    (now, message_id),
                )

        await self._run("write", work)

    async def delete_messages(self, message_ids: Sequence[str]) -> None:
        ids = list(message_ids)

        def work(db: sqlite3.Connection) -> None:
            with self._transaction():
                db.executemany("DELETE FROM messages WHERE id = ?", [(i,) for i in ids])

        await self._run("write", work)

    async def recover(self) -> int:
        def work(db: sqlite3.Connection) -> int:
            with self._transaction():
                return db.execute(
                    "UPDATE messages SET status = 'stopped', finished_at = ?,"
                    " error_code = 'SERVER_SHUTDOWN',"
                    " error_message = 'the server stopped before the reply finished'"
                    " WHERE status = 'streaming'",
                    (time.time(),),
                ).rowcount

        return await self._run("write", work)

    async def close(self) -> None:
        self._close()


def _message(row: tuple[Any, ...]) -> StoredMessage:
    return StoredMessage(
        id=row[0],
        session_id=row[1],
        role=cast(StoredRole, row[2]),
        content=row[3],
        status=cast(MessageState, row[4]),
        created_at=row[5],
        finished_at=row[6],
        error_code=row[7],
        error_message=row[8],
    )
