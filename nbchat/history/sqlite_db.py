"""The SQLite plumbing shared by nbchat's stores: open with WAL, migrate, name failures.

The kernel history (:mod:`nbchat.history.sqlite`) and the server's sessions
(:mod:`nbchat.server.sqlite_sessions`) both keep one stdlib ``sqlite3`` connection in
autocommit mode behind a lock: WAL lets readers and a writer work at once,
``busy_timeout`` waits out short locks, each write is one ``BEGIN IMMEDIATE``
transaction, and the schema is a list of named migrations recorded in a
``_migrations`` table, applied once and in order. A file that names a migration this
nbchat does not know was written by a newer nbchat and is refused. Every sqlite3
failure becomes the store's own error type, naming the file and the cause.

Many processes may open one new (or old) file at the same moment (kernels of a
classroom, a papermill run, a test matrix): the switch to WAL is retried while another
process holds the file, and the schema check and every missing migration run in one
``BEGIN EXCLUSIVE`` transaction, so exactly one process migrates and the others find
the schema done. A file that is not a database, is damaged, or is another program's
SQLite database (tables but no ``_migrations``) is refused with a message saying so.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from nbchat.errors import NbchatError

__all__ = ["SqliteFile"]

#: how long opening waits for other processes that hold a new file (seconds)
OPEN_WAIT_S = 30.0
_T = TypeVar("_T")


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
                self._while_busy(lambda: self._db.execute("PRAGMA journal_mode=WAL"))
                for pragma in pragmas:
                    self._db.execute(f"PRAGMA {pragma}")
                self._db.execute("PRAGMA foreign_keys=ON")
                self._while_busy(lambda: self._migrate(migrations, elsewhere))
        except error:
            self._db.close()
            raise

    @contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        """Hold the lock; a sqlite3 failure inside becomes the store's error."""
        with self._lock:
            try:
                yield
            except sqlite3.DatabaseError as exc:
                if _damaged(exc):
                    raise self._error(
                        f"cannot {action} {self._name}: it is not an nbchat database, or "
                        f"the file is damaged ({exc}); move it away or choose another file"
                    ) from exc
                raise self._error(f"cannot {action} {self._name}: {exc}") from exc
            except sqlite3.Error as exc:
                raise self._error(f"cannot {action} {self._name}: {exc}") from exc

    @staticmethod
    def _while_busy(step: Callable[[], _T]) -> _T:
        # Switching a new file to WAL (and migrating it) needs it to itself; SQLite may
        # answer "database is locked" at once, without waiting out busy_timeout.
        deadline = time.monotonic() + OPEN_WAIT_S
        while True:
            try:
                return step()
            except sqlite3.OperationalError as exc:
                locked = "locked" in str(exc) or "busy" in str(exc)
                if not locked or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    @contextmanager
    def _transaction(self, mode: str = "IMMEDIATE") -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` (or ``EXCLUSIVE``) ... ``COMMIT``, rolled back on error."""
        self._db.execute(f"BEGIN {mode}")
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
        names = [name for name, _ in migrations]
        if self._applied() == set(names):
            return  # the common case: nothing to do, no write lock taken
        with self._transaction("EXCLUSIVE"):
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
            if "_migrations" not in tables and any(not t.startswith("sqlite_") for t in tables):
                raise self._error(
                    f"{self._name} is a SQLite database of another program (tables "
                    f"{sorted(tables)[:5]}), not an nbchat database; choose another file "
                    f"with {elsewhere}"
                )
            db.execute(
                "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at REAL)"
            )
            applied = self._applied()
            unknown = sorted(applied - set(names))
            if unknown:
                raise self._error(
                    f"{self._name} was written by a newer nbchat (migrations {unknown}); "
                    f"upgrade nbchat or choose another file with {elsewhere}"
                )
            for name, sql in migrations:
                if name in applied:
                    continue
                for statement in sql.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute("INSERT INTO _migrations VALUES (?, ?)", (name, time.time()))

    def _applied(self) -> set[str]:
        found = self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_migrations'"
        ).fetchone()
        if found is None:
            return set()
        return {row[0] for row in self._db.execute("SELECT name FROM _migrations")}

    def _close(self) -> None:
        """Close the connection (once; later calls do nothing)."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()


def _damaged(exc: sqlite3.DatabaseError) -> bool:
    text = str(exc).lower()
    return "not a database" in text or "malformed" in text or "corrupt" in text
