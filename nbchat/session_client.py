"""The client of a sessions server (``nbchat serve``, spec 001): open, load, stop.

``Chat(base_url="http://host:8000", session="new" | "<id>")`` keeps the conversation
on the server: the server holds the model key and the transcript, the notebook
streams each reply with the ``events`` dialect from ``{server}/sessions/{id}/chat``
(``chunk`` / ``complete`` / ``error`` events with ids, so a dropped connection resumes
with ``Last-Event-ID`` instead of buying the reply again). Reopening the notebook with
the same id shows the server's transcript.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nbchat.config import Timeouts
from nbchat.errors import HINTS, ConfigurationError, ProtocolError
from nbchat.message import Message
from nbchat.transport import arequest_json, request_json
from nbchat.wire import ErrorInfo

_STATUSES = {"streaming", "done", "stopped", "error", "interrupted"}


@dataclass
class RemoteSession:
    """An open session: its id, its URL (``{server}/sessions/{id}``) and its messages."""

    id: str
    url: str
    title: str
    messages: list[Message]


def _headers(api_key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def open_session(
    server: str,
    session: str,
    *,
    api_key: str | None,
    timeouts: Timeouts,
    system: str | None = None,
    title: str | None = None,
) -> RemoteSession:
    """Create (``session="new"``) or load session ``session`` on ``server``.

    Raises
    ------
    StreamFailure
        The server cannot be reached, refuses the token (AUTHENTICATION_ERROR) or does
        not know the session (NOT_FOUND).
    """
    if not isinstance(session, str) or not session.strip():
        raise ConfigurationError("session must be 'new' or a session id")
    base = server.rstrip("/")
    headers = _headers(api_key)
    if session == "new":
        body: dict[str, Any] = {}
        if title:
            body["title"] = title
        if system:
            body["system_prompt"] = system
        created = request_json("POST", f"{base}/sessions", timeouts, json=body, headers=headers)
        session_id = _field(created, "id", f"{base}/sessions")
        return RemoteSession(session_id, f"{base}/sessions/{session_id}", title or "", [])
    url = f"{base}/sessions/{session}"
    loaded = request_json("GET", url, timeouts, headers=headers)
    raw = loaded.get("messages") if isinstance(loaded, dict) else None
    messages = [_message(m) for m in raw if isinstance(m, dict)] if isinstance(raw, list) else []
    title = str(loaded.get("title") or "") if isinstance(loaded, dict) else ""
    return RemoteSession(session, url, title, messages)


async def stop_remote_reply(session_url: str, api_key: str | None, timeouts: Timeouts) -> None:
    """Ask the server to stop the session's reply in progress (after Stop)."""
    await arequest_json("POST", f"{session_url}/stop", timeouts, headers=_headers(api_key))


def _field(body: Any, key: str, url: str) -> str:
    value = body.get(key) if isinstance(body, dict) else None
    if not isinstance(value, str) or not value:
        raise ProtocolError(f"{url} answered without a session {key}: {body!r:.200}", url=url)
    return value


def _message(raw: dict[str, Any]) -> Message:
    role = raw.get("role")
    status = raw.get("status")
    error: ErrorInfo | None = None
    problem = raw.get("error")
    if isinstance(problem, dict) and problem.get("code"):
        code = str(problem["code"])
        error = {
            "code": code,
            "message": str(problem.get("message", "")),
            "hint": HINTS.get(code, ""),
        }
    created = raw.get("created_at")
    return Message(
        role if role in ("user", "assistant", "system") else "assistant",
        str(raw.get("content") or ""),
        status=status if status in _STATUSES else "done",
        error=error,
        created_at=float(created) if isinstance(created, (int, float)) else None,
        id=str(raw["id"]) if raw.get("id") else None,
    )


__all__ = ["RemoteSession", "open_session", "stop_remote_reply"]
