"""History stores: SQLite persistence, migrations, failures named, memory store."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from nbchat.errors import HistoryError
from nbchat.history import (
    MemoryHistory,
    MessageRecord,
    SqliteHistory,
    default_history_path,
    open_history,
)
from nbchat.history.migrations import MIGRATIONS


def rec(id: str, content: str = "x", status: str = "done", role: str = "user") -> MessageRecord:
    return MessageRecord(id=id, role=role, content=content, status=status, created_at=1.0)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["sqlite", "memory"])
def test_save_load_upsert_clear(tmp_path: Path, kind: str) -> None:
    store = SqliteHistory(tmp_path / "h.db") if kind == "sqlite" else MemoryHistory()
    store.save("a", rec("1", "hello"))
    store.save("a", rec("2", "", "streaming", "assistant"))
    store.save("b", rec("3"))
    store.save(
        "a",
        MessageRecord(
            "2", "assistant", "partial", "stopped", 2.0, "X", "why", "demo", {"ttft_s": 0.1}, 3.0
        ),
    )
    loaded = store.load("a")
    assert [(r.id, r.content, r.status) for r in loaded] == [
        ("1", "hello", "done"),
        ("2", "partial", "stopped"),
    ]
    assert (
        loaded[1].metrics == {"ttft_s": 0.1}
        and loaded[1].error_code == "X"
        and loaded[1].model == "demo"
    )
    assert store.conversations() == ["a", "b"]
    store.clear("a")
    assert store.load("a") == [] and store.conversations() == ["b"]
    store.close()


def test_survives_reopen_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "folder" / "h.db"
    store = SqliteHistory(path)
    store.save("c", rec("1", "persisted"))
    store.close()
    again = SqliteHistory(path)
    assert again.load("c")[0].content == "persisted"
    again.close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert [r[0] for r in db.execute("SELECT name FROM _migrations")] == [
        "0001_conversations_and_messages",
        "0002_message_extra",
        "0003_progress_runs",
        "0004_run_outcome_settings",
        "0005_conversation_notebook",
    ]
    db.close()


def test_a_version_1_database_is_migrated_keeping_its_messages(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)")
    db.executescript(MIGRATIONS[0][1])
    db.execute("INSERT INTO _migrations VALUES (?, 0)", (MIGRATIONS[0][0],))
    db.execute("INSERT INTO conversations VALUES (1, 'c', 0)")
    db.execute(
        "INSERT INTO messages (id, conversation_id, position, role, content, status, created_at)"
        " VALUES ('m1', 1, 0, 'user', 'kept', 'done', 0)"
    )
    db.commit()
    db.close()
    store = SqliteHistory(path)
    (record,) = store.load("c")
    assert record.content == "kept" and record.extra == {}
    calls = [{"id": "t", "name": "f", "arguments": "{}", "input": {}, "status": "done"}]
    store.save("c", replace(record, extra={"reasoning": "hm", "tool_calls": calls}))
    assert store.load("c")[0].extra == {"reasoning": "hm", "tool_calls": calls}
    store.delete("c", "m1")
    assert store.load("c") == []
    store.close()


def test_newer_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    SqliteHistory(path).close()
    db = sqlite3.connect(path)
    db.execute("INSERT INTO _migrations VALUES ('9999_future', 0)")
    db.commit()
    db.close()
    with pytest.raises(HistoryError, match="newer nbchat"):
        SqliteHistory(path)


def test_not_a_database_is_named(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(HistoryError, match=str(path)):
        SqliteHistory(path)


def test_unusable_folder_is_named(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")  # works as root too, unlike a chmod
    with pytest.raises(HistoryError, match=f"cannot open history file {blocker}/sub/h.db"):
        SqliteHistory(blocker / "sub" / "h.db")


def test_write_failure_is_a_history_error_and_keeps_saved_rows(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    store = SqliteHistory(path)
    store.save("a", rec("1", "kept"))
    # A disk that fills up: cap the file at its current size in pages.
    store._db.execute(
        f"PRAGMA max_page_count = {store._db.execute('PRAGMA page_count').fetchone()[0]}"
    )
    with pytest.raises(HistoryError, match="full"):
        store.save("a", rec("2", "y" * 200_000))
    assert [r.content for r in store.load("a")] == ["kept"]
    store.close()


def test_open_history_arguments(tmp_path: Path) -> None:
    assert isinstance(open_history(None), MemoryHistory)
    memory = MemoryHistory()
    assert open_history(memory) is memory
    default = open_history(True)
    assert isinstance(default, SqliteHistory)
    assert default.path == default_history_path() and str(tmp_path) in str(default.path)
    assert open_history(tmp_path / "x.db") is open_history(str(tmp_path / "x.db"))


def test_a_damaged_or_foreign_file_says_so(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(HistoryError) as caught:
        SqliteHistory(junk)
    assert "not an nbchat database, or the file is damaged" in caught.value.message
    assert "disk" not in caught.value.message
    foreign = tmp_path / "other.db"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE invoices (id INTEGER)")
    with pytest.raises(HistoryError, match=r"another program \(tables \['invoices'\]\)"):
        SqliteHistory(foreign)
    with sqlite3.connect(foreign) as db:  # left as it was
        assert [r[0] for r in db.execute("SELECT name FROM sqlite_master")] == ["invoices"]


def _writers(path: Path, processes: int, turns: int) -> list[subprocess.Popen[str]]:
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    command = [sys.executable, "-m", "tests.history_writer", str(path), "shared", str(turns)]
    return [
        subprocess.Popen(
            command, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(processes)
    ]


@pytest.mark.timeout(240)
def test_many_processes_open_one_new_file_and_keep_every_turn(tmp_path: Path) -> None:
    for trial in range(10):
        path = tmp_path / f"fresh-{trial}.sqlite3"
        writers = _writers(path, processes=4, turns=25)
        for writer in writers:
            out, err = writer.communicate(timeout=120)
            assert writer.returncode == 0 and out.strip() == "ok", err[-2000:]
        records = SqliteHistory(path).load("shared")
        assert len(records) == 4 * 25 * 2, trial
        assert len({r.id for r in records}) == len(records)
        assert {r.status for r in records} == {"done"}
        by_process: dict[str, int] = {}
        for record in records:
            if record.role == "user":
                pid = record.content.split()[0]
                by_process[pid] = by_process.get(pid, 0) + 1
        assert sorted(by_process.values()) == [25] * 4


def test_sessions_store_opens_from_many_connections_at_once(tmp_path: Path) -> None:
    from nbchat.server.sqlite_sessions import SqliteSessionStore

    for trial in range(10):
        path = tmp_path / f"sessions-{trial}.sqlite3"
        failures: list[BaseException] = []

        def open_store(path: Path = path, failures: list[BaseException] = failures) -> None:
            try:
                SqliteSessionStore(path)
            except BaseException as exc:
                failures.append(exc)

        threads = [threading.Thread(target=open_store) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert failures == []


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_finished_progress_runs_are_kept_per_job(tmp_path: Path, kind: str) -> None:
    from nbchat.eta import StageHistory, estimate

    path = tmp_path / "h.sqlite3"
    store = MemoryHistory() if kind == "memory" else SqliteHistory(path)
    assert store.stage_runs("job") == []
    for i in range(25):
        store.record_run("job", [("started", 0.5), ("generating", 8.0 + i % 3), ("complete", 0)])
    store.record_run("other", [("x", 1.0)])
    runs = store.stage_runs("job")
    assert len(runs) == 20 and runs[-1] == [("started", 0.5), ("generating", 8.0), ("complete", 0)]
    assert store.stage_runs("job", limit=2) == runs[-2:] and store.stage_runs("job", 0) == []
    eta = estimate(StageHistory.of(runs), stage="started", in_stage_s=0.0, elapsed_s=0.0)
    assert eta is not None and eta.source == "learned" and eta.seconds == pytest.approx(9.5)
    if kind == "sqlite":
        store.close()
        again = SqliteHistory(path)  # a new kernel learns from the earlier ones
        assert again.stage_runs("job") == runs
        again.close()


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_cancelled_and_failed_runs_are_kept_but_teach_nothing(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "h.sqlite3"
    store = MemoryHistory() if kind == "memory" else SqliteHistory(path)
    store.record_run("job", [("started", 1.0), ("generating", 5.0)])
    store.record_run("job", [("started", 9.0)], outcome="cancelled")
    store.record_run("job", [("started", 7.0)], outcome="error")
    store.record_run("job", [("started", 2.0), ("generating", 6.0)])
    assert store.stage_runs("job") == [
        [("started", 1.0), ("generating", 5.0)],
        [("started", 2.0), ("generating", 6.0)],
    ]
    assert store.run_outcomes("job") == ["done", "cancelled", "error", "done"]
    assert store.run_outcomes("job", limit=1) == ["done"]
    assert store.setting("mode:job") is None
    store.set_setting("mode:job", "classic")
    store.set_setting("mode:job", "streaming")
    assert store.setting("mode:job") == "streaming"
    if kind == "sqlite":
        store.close()
        again = SqliteHistory(path)
        assert again.setting("mode:job") == "streaming"
        assert again.run_outcomes("job") == ["done", "cancelled", "error", "done"]
        again.close()
