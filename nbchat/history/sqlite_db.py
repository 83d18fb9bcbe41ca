"""The SQLite plumbing shared by nbchat's stores: open with WAL, migrate, name failures.

The kernel history (:mod:`nbchat.history.sqlite`) and the server's sessions
(:mod:`nbchat.server.sqlite_sessions`) both keep one stdlib ``sqlite3`` connection in
autocommit mode behind a lock: WAL lets readers and a writer work at once,
``busy_timeout`` waits out short locks, each write is one ``BEGIN IMMEDIATE``
transaction, and the schema is a list of named migrations recorded in a
``_migrations`` table, applied once and in order. A file that names a migration this
nbchat does not know was written by a newer nbchat and is refused. Every sqlite3
failure becomes the store's own error type, naming the file and the cause.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from nbchat.errors import NbchatError

__all__ = ["SqliteFile"]


class SqliteFile:
    """A store's SQLite connection: mixed into a store class, which calls ``__init__``.

    Parameters
    ----------
    path
        The database file (its folder is created if missing), or ``":memory:"``.
    name
        The file as error messages name it, e.g. ``"history file /x/h.db"``.
    error
        The exception every failure is raised as, with the sqlite3 error chained.
    migrations
        The schema: ordered ``(name, sql)`` pairs; a released one is never edited.
    elsewhere
        How a user chooses another file, for the "newer nbchat" message.
    pragmas
        Extra ``PRAGMA`` settings run after ``journal_mode=WAL``.
    """

    def __init__(
        self,
        path: Path,
        *,
        name: str,
        error: type[NbchatError],
        migrations: Sequence[tuple[str, str]],
        elsewhere: str,
        pragmas: Sequence[str] = (),
    ) -> None:
        self._name = name
        self._error = error
        self._lock = threading.Lock()
        self._closed = False
        try:
            if str(path) != ":memory:":
                path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                path, timeout=10.0, check_same_thread=False, isolation_level=None
            )
        except (OSError, sqlite3.Error) as exc:
            raise error(f"cannot open {name}: {exc}") from exc
        try:
            with self._guard("open"):
                self._db.execute("PRAGMA journal_mode=WAL")
                for pragma in pragmas:
                    self._db.execute(f"PRAGMA {pragma}")
                self._db.execute("PRAGMA foreign_keys=ON")
                self._migrate(migrations, elsewhere)
        except error:
            self._db.close()
            raise

    @contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        """Hold the lock; a sqlite3 failure inside becomes the store's error."""
        with self._lock:
            try:
                yield
            except sqlite3.Error as exc:
                raise self._error(f"cannot {action} {self._name}: {exc}") from exc

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any exception."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            # SQLite may have rolled back already (e.g. SQLITE_FULL); a second ROLLBACK
            # would fail and hide the real cause.
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _migrate(self, migrations: Sequence[tuple[str, str]], elsewhere: str) -> None:
        db = self._db
        db.execute(
            "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at REAL)"
        )
        applied = {row[0] for row in db.execute("SELECT name FROM _migrations")}
        unknown = sorted(applied - {name for name, _ in migrations})
        if unknown:
            raise self._error(
                f"{self._name} was written by a newer nbchat (migrations {unknown}); "
                f"upgrade nbchat or choose another file with {elsewhere}"
            )
        for name, sql in migrations:
            if name in applied:
                continue
            with self._transaction():
                for statement in sql.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute("INSERT INTO _migrations VALUES (?, ?)", (name, time.time()))

    def _close(self) -> None:
        """Close the connection (once; later calls do nothing)."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()
