"""nbchat's server: sessions that keep transcripts, an OpenAI-compatible API, a demo model.

``ensure_embedded_server()`` starts it once per process in a background thread
(what ``Chat()`` uses with no endpoint configured); ``nbchat serve`` runs it in the
foreground, optionally as a gateway to a real provider; ``create_app`` +
``ServerThread`` serve it in tests.
"""

from __future__ import annotations

from nbchat.server.app import create_app
from nbchat.server.context import ServerStats
from nbchat.server.demo_model import DemoModel
from nbchat.server.embedded import ensure_embedded_server
from nbchat.server.model import ChatModel, DemoChatModel, ModelSetupError, Opened
from nbchat.server.session_store import SessionStore
from nbchat.server.sqlite_sessions import SqliteSessionStore
from nbchat.server.thread import ServerThread
from nbchat.server.upstream import UpstreamModel

__all__ = [
    "ChatModel",
    "DemoChatModel",
    "DemoModel",
    "ModelSetupError",
    "Opened",
    "ServerStats",
    "ServerThread",
    "SessionStore",
    "SqliteSessionStore",
    "UpstreamModel",
    "create_app",
    "ensure_embedded_server",
]
