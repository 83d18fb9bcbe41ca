"""The public face: a curated, sorted ``__all__`` that names everything users need."""

from __future__ import annotations

import nbchat


def test_all_is_sorted_and_importable() -> None:
    assert nbchat.__all__ == sorted(nbchat.__all__, key=str.casefold) or nbchat.__all__ == sorted(
        nbchat.__all__
    )
    for name in nbchat.__all__:
        assert hasattr(nbchat, name), name


def test_public_names_live_in_nbchat() -> None:
    public = {name for name in dir(nbchat) if not name.startswith("_")}
    modules = set(
        [
            "accumulate",
            "batching",
            "changes",
            "chat",
            "cli",
            "config",
            "controller",
            "dialects",
            "endpoints",
            "error_body",
            "errors",
            "events",
            "history",
            "lines",
            "message",
            "metrics",
            "parse",
            "providers",
            "recording",
            "reply_stream",
            "retry",
            "server",
            "session_client",
            "sse",
            "transport",
            "turn",
            "widget",
            "wire",
        ]
    )
    assert public - modules - {"annotations"} == set(nbchat.__all__) - {"__version__"}
