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
]
