"""The default :class:`~nbchat.server.session_store.SessionStore`: one SQLite file.

Same conventions as the kernel history (:mod:`nbchat.history.sqlite`): stdlib
``sqlite3``, WAL (readers never wait for the writer), ``busy_timeout`` for short
locks, one transaction per write, and a ``_migrations`` table of named migrations
applied once and in order; a file written by a newer nbchat is refused. ``":memory:"``
keeps everything in memory (tests, the embedded server).

Queries run in a worker thread (``asyncio.to_thread``) behind one lock, so a slow
disk stalls no stream. Every sqlite3 failure becomes a
:class:`~nbchat.server.session_store.StoreError` naming the file and the cause.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar, cast

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


class SqliteSessionStore(SessionStore):
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
        self._lock = threading.Lock()
        self._closed = False
        try:
            if not memory:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                ":memory:" if memory else self.path,
                timeout=10.0,
                check_same_thread=False,
                isolation_level=None,
            )
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the sessions database {self.location}: {exc}") from exc
        try:
            with self._guard("open"):
                self._db.execute("PRAGMA journal_mode=WAL")
                # WAL + NORMAL: a commit survives a crash of the process, not of the OS.
                self._db.execute("PRAGMA synchronous=NORMAL")
                self._db.execute("PRAGMA foreign_keys=ON")
                self._migrate()
        except StoreError:
            self._db.close()
            raise

    # -- plumbing -------------------------------------------------------------------

    @contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        with self._lock:
            try:
                yield
            except sqlite3.Error as exc:
                raise StoreError(
                    f"cannot {action} the sessions database {self.location}: {exc}"
                ) from exc

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            # SQLite may have rolled back already (SQLITE_FULL): a second ROLLBACK
            # would fail and hide the real cause.
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _migrate(self) -> None:
        db = self._db
        db.execute(
            "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at REAL)"
        )
        applied = {row[0] for row in db.execute("SELECT name FROM _migrations")}
        unknown = sorted(applied - {name for name, _ in MIGRATIONS})
        if unknown:
            raise StoreError(
                f"the sessions database {self.location} was written by a newer nbchat "
                f"(migrations {unknown}); upgrade nbchat or choose another file with --db"
            )
        for name, sql in MIGRATIONS:
            if name in applied:
                continue
            with self._transaction():
                for statement in sql.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute("INSERT INTO _migrations VALUES (?, ?)", (name, time.time()))

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

    async def add_message(
        self,
        session_id: str,
        *,
        role: StoredRole,
        content: str,
        status: MessageState,
        message_id: str | None = None,
    ) -> StoredMessage:
        now = time.time()
        finished = None if status == "streaming" else now
        message = StoredMessage(
            message_id or new_id(), session_id, role, content, status, now, finished
        )

        def work(db: sqlite3.Connection) -> None:
            with self._transaction():
                db.execute(
                    f"INSERT INTO messages ({_MESSAGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (message.id, session_id, role, content, status, now, finished, None, None),
                )
                db.execute("UPDATE sessions SET updated_at = ? WHERE id = ?", (now, session_id))

        await self._run("write", work)
        return message

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
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()


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
