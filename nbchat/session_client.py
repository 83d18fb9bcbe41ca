"""The client of a sessions server (``nbchat serve``, spec 001): open, load, stop.

``Chat(base_url="http://host:8000", session="new" | "<id>")`` keeps the conversation
on the server: the server holds the model key and the transcript, the notebook
streams each reply with the ``events`` dialect from ``{server}/sessions/{id}/chat``
(``chunk`` / ``complete`` / ``error`` events with ids, so a dropped connection resumes
with ``Last-Event-ID`` instead of buying the reply again). Reopening the notebook with
the same id shows the server's transcript.

Nothing here runs in a constructor: a :class:`RemoteSession` is created or loaded
when the chat first needs it (:meth:`RemoteSession.open`, from the first turn or
``await chat.connect()``), through the chat's transport.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from nbchat.accumulate import Reply
from nbchat.errors import ConfigurationError, NbchatError, ProtocolError
from nbchat.events import StreamError
from nbchat.message import Message
from nbchat.stream import HttpRequest, Transport

log = logging.getLogger("nbchat")

_STATUSES = {"streaming", "done", "stopped", "error", "interrupted"}


class RemoteSession:
    """A session on a sessions server; ``id`` is None until a new one is created.

    Parameters
    ----------
    server
        The server's root URL (``http://host:8000``).
    session
        ``"new"`` or the id of an existing session.
    """

    def __init__(
        self,
        server: str,
        session: str,
        *,
        transport: Transport,
        api_key: str | None = None,
        system: str | None = None,
        title: str | None = None,
    ) -> None:
        if not isinstance(session, str) or not session.strip():
            raise ConfigurationError("session must be 'new' or a session id")
        self.server = server.rstrip("/")
        self.id: str | None = None if session == "new" else session
        self.title = title or ""
        self.opened = False
        self._opening: asyncio.Future[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._transport = transport
        self._api_key = api_key
        self._system = system

    @property
    def url(self) -> str:
        """``{server}/sessions/{id}`` (the server's root while a new session is not created)."""
        return f"{self.server}/sessions/{self.id}" if self.id else self.server

    def _request(self, method: str, url: str, body: dict[str, Any] | None = None) -> HttpRequest:
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        return HttpRequest(method, url, body or {}, headers)

    async def open_once(self, on_open: Callable[[list[Message]], None]) -> None:
        """:meth:`open` unless done, then ``on_open(transcript)``, exactly once.

        One open at a time, also when the widget and a first send both ask for it (two
        ``POST /sessions`` would make two sessions); shielded, so a Stop during it does
        not leave a session half made. A failed open may be tried again.
        """
        if self.opened:
            return
        opening = self._opening
        loop = asyncio.get_running_loop()
        if opening is not None and opening.get_loop() is not loop:
            # In flight on another loop (the kernel's, while chat.ask runs its own):
            # wait for it there rather than open a second session.
            while not opening.done():  # noqa: ASYNC110 (no Event is shared across loops)
                await asyncio.sleep(0.02)
            if self.opened:
                return
            opening = None
        if opening is None:
            opening = self._opening = asyncio.ensure_future(self._open_then(on_open))
            opening.add_done_callback(self._open_ended)
        await asyncio.shield(opening)

    def _open_ended(self, opening: asyncio.Future[None]) -> None:
        # Whoever awaited may be gone (a Stop): the outcome is read here, and a failed
        # open leaves the way clear for the next try.
        if self._opening is opening:
            self._opening = None
        if not opening.cancelled():
            opening.exception()

    async def _open_then(self, on_open: Callable[[list[Message]], None]) -> None:
        on_open(await self.open())

    def open_soon(self, on_open: Callable[[list[Message]], None]) -> None:
        """:meth:`open_once` in the background when a loop runs (a failure is logged)."""
        if self.opened:
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop: the first turn opens it
        self._in_background(self._logged(self.open_once(on_open), "could not open the session"))

    def stop_soon(self) -> None:
        """:meth:`stop_reply` in the background (after Stop; a failure is logged)."""
        what = "could not stop the reply on the server"
        self._in_background(self._logged(self.stop_reply(), what))

    def _in_background(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        # The loop keeps only weak references to tasks: hold it until it ends.
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    @staticmethod
    async def _logged(work: Awaitable[None], what: str) -> None:
        try:
            await work
        except NbchatError as exc:
            log.warning("nbchat: %s: %s", what, exc)

    async def open(self) -> list[Message]:
        """Create the session (``"new"``) or load it; returns its transcript.

        Raises
        ------
        StreamFailure
            The server cannot be reached, refuses the token (AUTHENTICATION_ERROR) or
            does not know the session (NOT_FOUND).
        """
        if self.id is None:
            body: dict[str, Any] = {}
            if self.title:
                body["title"] = self.title
            if self._system:
                body["system_prompt"] = self._system
            where = f"{self.server}/sessions"
            created = _unwrapped(await self._transport.call(self._request("POST", where, body)))
            session = created.get("session") if isinstance(created, dict) else None
            self.id = _field(session if isinstance(session, dict) else created, "id", where)
            self.opened = True
            return []
        loaded = _unwrapped(await self._transport.call(self._request("GET", self.url)))
        items = _messages_of(loaded)
        if items is None:
            raise ProtocolError(
                f"{self.url} answered without the session's messages (looked for "
                f"'messages' or 'session.messages', also under 'data'): {loaded!r:.300}",
                url=self.url,
            )
        messages = [_message(m) for m in items if isinstance(m, dict)]
        holder = loaded.get("session") if isinstance(loaded, dict) else None
        source = holder if isinstance(holder, dict) else loaded
        self.title = str(source.get("title") or "") if isinstance(source, dict) else ""
        self.opened = True
        return messages

    async def stop_reply(self) -> None:
        """Ask the server to stop the session's reply in progress (after Stop)."""
        if self.id is not None:
            await self._transport.call(self._request("POST", f"{self.url}/stop"))


def _unwrapped(body: Any) -> Any:
    """A spec-001 server's answer without its ``{"success": true, "data": ...}`` envelope
    (a bare object as it is)."""
    if isinstance(body, dict) and "data" in body and ("success" in body or len(body) == 1):
        return body["data"]
    return body


def _messages_of(body: Any) -> list[Any] | None:
    """The message list of a loaded session: ``messages`` at the top or under
    ``session``; None when there is none (an empty list is an empty transcript)."""
    if not isinstance(body, dict):
        return None
    for holder in (body, body.get("session")):
        if isinstance(holder, dict) and isinstance(holder.get("messages"), list):
            return list(holder["messages"])
    return None


def _field(body: Any, key: str, url: str) -> str:
    value = body.get(key) if isinstance(body, dict) else None
    if not isinstance(value, str) or not value:
        raise ProtocolError(f"{url} answered without a session {key}: {body!r:.200}", url=url)
    return value


def _message(raw: dict[str, Any]) -> Message:
    role = raw.get("role")
    status = raw.get("status")
    problem = raw.get("error")
    error = None
    if isinstance(problem, dict) and problem.get("code"):
        error = StreamError(str(problem["code"]), str(problem.get("message", "")))
    created = raw.get("created_at")
    return Message(
        role if role in ("user", "assistant", "system") else "assistant",
        status=status if status in _STATUSES else "done",
        created_at=float(created) if isinstance(created, (int, float)) else None,
        id=str(raw["id"]) if raw.get("id") else None,
        reply=Reply.restore(str(raw.get("content") or ""), error=error),
    )


__all__ = ["RemoteSession"]
