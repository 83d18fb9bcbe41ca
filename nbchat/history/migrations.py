"""The history database's schema, as an ordered list of named migrations.

Each migration runs once, in order, inside a transaction, and is recorded in the
``_migrations`` table; a database made by a newer nbchat (an unknown migration name)
is refused rather than guessed at. Never edit a released migration: add one.
"""

from __future__ import annotations

MIGRATIONS: list[tuple[str, str]] = [
    (
        "0001_conversations_and_messages",
        """
        CREATE TABLE conversations (
            id         INTEGER PRIMARY KEY,
            name       TEXT NOT NULL UNIQUE,
            created_at REAL NOT NULL
        );
        CREATE TABLE messages (
            id              TEXT PRIMARY KEY,
            conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            position        INTEGER NOT NULL,
            role            TEXT NOT NULL,
            content         TEXT NOT NULL,
            status          TEXT NOT NULL,
            error_code      TEXT,
            error_message   TEXT,
            model           TEXT,
            metrics         TEXT NOT NULL DEFAULT '{}',
            created_at      REAL NOT NULL,
            finished_at     REAL
        );
        CREATE INDEX messages_by_conversation ON messages(conversation_id, position);
        """,
    ),
    (
        "0002_message_extra",
        # Reasoning, refusal and tool calls of an assistant message, as one JSON object.
        "ALTER TABLE messages ADD COLUMN extra TEXT NOT NULL DEFAULT '{}';",
    ),
    (
        "0003_progress_runs",
        # Stage durations of finished progress jobs (timings only, as spec 004's
        # generation_metrics): what the ETA of the next run of the same job learns from.
        """
        CREATE TABLE progress_runs (
            id          INTEGER PRIMARY KEY,
            job         TEXT NOT NULL,
            finished_at REAL NOT NULL
        );
        CREATE TABLE progress_stages (
            run_id   INTEGER NOT NULL REFERENCES progress_runs(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            stage    TEXT NOT NULL,
            seconds  REAL NOT NULL
        );
        CREATE INDEX progress_runs_by_job ON progress_runs(job, id);
        CREATE INDEX progress_stages_by_run ON progress_stages(run_id, position);
        """,
    ),
    (
        "0004_run_outcome_settings",
        # How each progress run ended (only "done" runs feed the ETA; cancelled and failed
        # ones are kept as a record), and small per-user settings such as a job's mode.
        """
        ALTER TABLE progress_runs ADD COLUMN outcome TEXT NOT NULL DEFAULT 'done';
        CREATE TABLE settings (
            key   TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        """,
    ),
    (
        "0005_conversation_notebook",
        # The notebook (or script) a conversation was started in, for nbchat.conversations().
        "ALTER TABLE conversations ADD COLUMN notebook TEXT NOT NULL DEFAULT '';",
    ),
]
