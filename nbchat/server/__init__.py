"""nbchat's embedded OpenAI-compatible server, backed by an offline demo model.

``ensure_embedded_server()`` starts it once per process in a background thread
(what ``Chat()`` uses with no endpoint configured); ``nbchat serve`` runs it in the
foreground; ``create_app`` + ``ServerThread`` serve it in tests.
"""

from __future__ import annotations

from nbchat.server.app import create_app
from nbchat.server.demo_model import DemoModel
from nbchat.server.embedded import ensure_embedded_server
from nbchat.server.openai_api import ServerStats
from nbchat.server.thread import ServerThread

__all__ = ["DemoModel", "ServerStats", "ServerThread", "create_app", "ensure_embedded_server"]
