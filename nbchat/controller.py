"""The chat controller: conversation state, turns, history writes, change events.

Lifecycle of a turn (no Jupyter imports here; the widget only listens)::

    send(text) ──> user message saved to history, assistant message added (streaming)
        phase: connecting ──first text──> streaming ──> done | stopped | error | interrupted
        each text delta:  message.append(text), TextAppended change
        at the end:       assistant message saved with its status and partial text

``send`` never blocks: the turn runs as a task on the running event loop, so widget
messages (the Stop button) keep flowing while it streams. Listeners registered with
``subscribe`` get :data:`Change` values, synchronously, on the loop's thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import time
from collections.abc import Callable, Mapping
from pathlib import PurePath
from typing import TYPE_CHECKING

from nbchat.accumulate import Reply
from nbchat.changes import (
    Change,
    Listener,
    MessagesChanged,
    NoticeChanged,
    Phase,
    PhaseChanged,
    TextAppended,
)
from nbchat.config import Timeouts
from nbchat.dialects import get_dialect
from nbchat.endpoints import replay_endpoint, resolve_endpoint, session_endpoint
from nbchat.errors import (
    HINTS,
    ConfigurationError,
    HistoryError,
    NbchatError,
    TurnInProgressError,
    failure_for_code,
)
from nbchat.events import (
    Progress,
    ReasoningDelta,
    Result,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
    Usage,
)
from nbchat.history import HistoryStore, open_history
from nbchat.message import Message
from nbchat.metrics import ReplyTimer, ToolTimer
from nbchat.recording import RecordedTurn, Recorder, Recording, load_recording
from nbchat.reply_stream import ReplyStream, TokenRefresh
from nbchat.retry import RetryPolicy
from nbchat.session_client import RemoteSession, stop_remote_reply
from nbchat.turn import Turn, run_blocking
from nbchat.wire import ChatMessageParam, ErrorInfo, MessageStatus

if TYPE_CHECKING:  # only transport imports httpx at run time
    import httpx

log = logging.getLogger("nbchat")


_DEFAULT = object()


def default_conversation_name() -> str:
    """The notebook's path when the kernel knows it (Jupyter Server sets it), else 'default'."""
    path = os.environ.get("JPY_SESSION_NAME", "")
    return PurePath(path).as_posix() if path else "default"


class ChatController:
    """A conversation with one model endpoint; see the module docstring.

    Parameters
    ----------
    base_url : str, optional
        An OpenAI-compatible base URL such as ``https://api.openai.com/v1``; requests go to
        ``{base_url}/chat/completions``. ``None`` starts nbchat's embedded offline demo
        server (no key, no network).
    api_key : str, optional
        Defaults to the provider's environment variable (``$OPENAI_API_KEY`` for a bare
        ``base_url``, ``$ANTHROPIC_API_KEY`` with ``dialect="anthropic"``). It never
        leaves the kernel: not shown, not saved, not recorded, not sent to the browser.
    model : str, optional
        Model name; required with ``base_url`` or ``provider``; ``"demo"`` for the
        embedded server. ``chat.model = "..."`` switches models between turns.
    provider : {"openai", "anthropic", "openrouter", "ollama", "vllm"}, optional
        A preset: base URL, dialect, auth style and key variable of that service.
    history : str, path, HistoryStore, None
        Where the conversation persists: by default a SQLite file in the per-user data
        folder; a path for another file; ``None`` to keep it in memory only.
    name : str, optional
        The conversation's key in the history; by default the notebook's path.
    system : str, optional
        A system prompt sent first on every turn.
    dialect : str
        The wire format of the endpoint (``"openai-chat"`` by default).
    headers : mapping, optional
        Extra HTTP headers sent with every request.
    timeouts : Timeouts, optional
        ``connect`` and ``stall`` (the watchdog: no headers, or no new event, for this
        long ends the stream; keep-alive comments do not count).
    retry : RetryPolicy, optional
        Retries before any byte (429/503 Retry-After, 408/502/504, connection errors)
        and resumes of streams that carry ids. A reply is never re-sent once bytes of
        it arrived: it ends ``interrupted`` and ``chat.retry()`` asks again.
    token_refresh : callable, optional
        Called (sync or async) when the server answers 401; returns a new key, which
        is used for the request, sent once more, and every later one.
    replay : path, optional
        Play a recording (``chat.record(path)``, or a raw provider body such as an
        ``.sse`` file with ``dialect=``) instead of calling a server: offline, each turn
        answers with the next recorded reply.
    replay_speed : float
        Replay pace multiplier (2.0 plays twice as fast as recorded).
    session : str, optional
        ``"new"`` or a session id on a sessions server (``nbchat serve``; ``base_url`` is
        the server's root, the embedded server when omitted). The server keeps the
        transcript and the model key; replies stream with the ``events`` dialect and
        resume with ``Last-Event-ID`` after a drop; ``chat.session_id`` is the id to
        reopen it with. The token comes from ``api_key`` or ``$NBCHAT_SERVER_TOKEN``.
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        model: str | None = None,
        *,
        provider: str | None = None,
        history: object = _DEFAULT,
        name: str | None = None,
        system: str | None = None,
        dialect: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        token_refresh: TokenRefresh | None = None,
        replay: str | os.PathLike[str] | None = None,
        replay_speed: float = 1.0,
        session: str | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self.session_id: str | None = None
        remote: RemoteSession | None = None
        self._replay_turns: list[RecordedTurn] = []
        self._replay_next = 0
        self.replay_speed = replay_speed
        if replay is not None:
            if not replay_speed > 0:
                raise ConfigurationError(f"replay_speed must be > 0, got {replay_speed!r}")
            self._replay_turns = load_recording(replay, dialect)
            self.endpoint = replay_endpoint(replay, self._replay_turns[0], model, dialect, timeouts)
        elif session is not None:
            remote, self.endpoint = session_endpoint(
                session, base_url, api_key, model, dialect, headers, timeouts, system
            )
            self.session_id = remote.id
            if history is _DEFAULT:
                history = None  # the server keeps the transcript
        else:
            self.endpoint = resolve_endpoint(
                base_url=base_url,
                api_key=api_key,
                model=model,
                provider=provider,
                dialect=dialect,
                headers=headers,
                timeouts=timeouts,
            )
        get_dialect(self.endpoint.dialect)  # fail now, not at the first send, on a bad name
        self._recorder: Recorder | None = None
        self.name = name or default_conversation_name()
        self.system = system
        self.retry_policy = retry or RetryPolicy()
        self.token_refresh = token_refresh
        self.notice = ""
        self._http_client = http_client
        self._history: HistoryStore = open_history(
            True if history is _DEFAULT else history  # type: ignore[arg-type]
        )
        self.messages: list[Message] = (
            remote.messages
            if remote is not None
            else [Message.from_record(r) for r in self._history.load(self.name)]
        )
        self._phase = Phase.IDLE
        self._turn: Turn | None = None
        self._listeners: list[Listener] = []
        self._background: set[asyncio.Task[None]] = set()

    # -- observation -------------------------------------------------------------------

    @property
    def state(self) -> Phase:
        """The current :class:`Phase`."""
        return self._phase

    @property
    def history_location(self) -> str:
        return self._history.location

    @property
    def model(self) -> str:
        """The model that answers the next turn; assign to switch models between turns."""
        return self.endpoint.model

    @model.setter
    def model(self, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise ConfigurationError("model must be a non-empty string")
        self.endpoint = dataclasses.replace(self.endpoint, model=name)
        self._emit(MessagesChanged())

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(change)`` on every change; returns a function that unsubscribes."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _emit(self, change: Change) -> None:
        for listener in list(self._listeners):
            try:
                listener(change)
            except Exception:  # a broken view must not break the turn
                log.exception("nbchat listener failed on %r", change)

    def _set_phase(self, phase: Phase) -> None:
        if phase is not self._phase:
            self._phase = phase
            self._emit(PhaseChanged(phase))

    def _set_notice(self, notice: str) -> None:
        if notice == self.notice:
            return
        self.notice = notice
        if notice:
            self._set_phase(Phase.RECONNECTING)
        self._emit(NoticeChanged(notice))

    # -- turns -------------------------------------------------------------------------

    @property
    def turn(self) -> Turn | None:
        """The current or last turn."""
        return self._turn

    def send(self, text: str) -> Turn:
        """Send ``text`` and stream the reply in the background; returns a :class:`Turn`.

        Must be called with a running event loop (every notebook cell has one).
        ``await chat.send(text)`` waits for the reply and returns it.

        Raises
        ------
        TurnInProgressError
            A reply is still streaming (stop it with ``chat.stop()`` or await it).
        ConfigurationError
            ``text`` is empty, or there is no running event loop (use ``chat.ask``).
        HistoryError
            The user message could not be saved; nothing was sent.
        """
        loop = _running_loop("chat.send()")
        if not isinstance(text, str) or not text.strip():
            raise ConfigurationError("cannot send an empty message")
        self._refuse_if_busy()
        user = Message("user", text)
        self._history.save(self.name, user.to_record(finished_at=user.created_at))
        self.messages.append(user)
        return self._start(loop, user)

    def retry(self) -> Turn:
        """Answer the last user message again, replacing the reply that followed it.

        For a reply that ended ``interrupted``, ``error`` or ``stopped`` (the Retry
        button does the same). The replaced reply is removed from the transcript and
        the history; the new one streams like any other (``await chat.retry()``).

        Raises
        ------
        TurnInProgressError
            A reply is still streaming.
        ConfigurationError
            There is no user message to answer, or no running event loop.
        """
        loop = _running_loop("chat.retry()")
        self._refuse_if_busy()
        last_user = next(
            (i for i in range(len(self.messages) - 1, -1, -1) if self.messages[i].role == "user"),
            None,
        )
        if last_user is None:
            raise ConfigurationError("nothing to retry: the conversation has no user message")
        for message in self.messages[last_user + 1 :]:
            self._history.delete(self.name, message.id)
        user = self.messages[last_user]
        del self.messages[last_user + 1 :]
        return self._start(loop, user)

    def _refuse_if_busy(self) -> None:
        if self._turn is not None and not self._turn.done():
            raise TurnInProgressError(
                "a reply is still streaming: await it or call chat.stop() before sending again"
            )

    def _start(self, loop: asyncio.AbstractEventLoop, user: Message) -> Turn:
        reply = Message("assistant", status="streaming", model=self.endpoint.model)
        request_messages = self._request_messages()
        self.messages.append(reply)
        turn = Turn(user, reply)
        self._turn = turn
        self.notice = ""
        self._emit(MessagesChanged())
        self._set_phase(Phase.CONNECTING)
        task = loop.create_task(self._run(turn, request_messages), name=f"nbchat turn {reply.id}")
        task.add_done_callback(lambda _task: self._end_unstarted(turn))
        turn._attach(task, loop)
        return turn

    def _end_unstarted(self, turn: Turn) -> None:
        # A task cancelled before its first step never runs _run's body (no except
        # clause can see that cancellation), so its reply is finished here.
        if turn.message.status == "streaming":
            timer = ReplyTimer()
            timer.stop()
            self._finish(turn.message, "stopped", None, timer)

    def _next_replay_turn(self) -> RecordedTurn | None:
        if not self._replay_turns:
            return None
        turn = self._replay_turns[self._replay_next % len(self._replay_turns)]
        self._replay_next += 1
        return turn

    def record(self, path: str | os.PathLike[str] | None) -> Recording:
        """Save the raw response stream of the next turns to ``path``; ``None`` stops.

        The file (JSON Lines, appended to) plays back with ``Chat(replay=path)``, at
        the pace it was recorded. It holds response bytes only: no request headers,
        so no API key. Use it as a context manager to record a block of turns::

            with chat.record("demo.jsonl"):
                await chat.send("Explain SSE")
        """
        if self._recorder is not None:
            self._recorder.close()
            self._recorder = None
        if path is not None:
            key = self.endpoint.api_key
            self._recorder = Recorder(path, secrets=(key,) if key else ())
        return Recording(lambda: self.record(None))

    def stop(self) -> None:
        """Stop the streaming reply, if any, keeping its partial text."""
        if self._turn is not None:
            self._turn.cancel()

    def ask(self, text: str) -> str:
        """Send ``text``, block until the reply ends, and return its text (for scripts).

        A KeyboardInterrupt (Ctrl-C, or a kernel interrupt) stops the reply, keeps the
        partial text in ``chat.messages`` and the history, and is raised again.

        Raises
        ------
        StreamFailure
            The reply failed or was interrupted: the typed error (``.code``) says why.
        """
        message = run_blocking(lambda: self.send(text))
        if message.error is not None and message.status in ("error", "interrupted"):
            raise failure_for_code(message.error["code"], message.error["message"])
        return message.content

    def clear(self) -> None:
        """Forget this conversation, here and in the history store."""
        if self._turn is not None and not self._turn.done():
            raise TurnInProgressError("stop the streaming reply before clearing the chat")
        self._history.clear(self.name)
        self.messages = []
        self._emit(MessagesChanged())
        self._set_phase(Phase.IDLE)

    def _request_messages(self) -> list[ChatMessageParam]:
        # The same context whichever model answers: the system prompt, then every
        # user message and every assistant reply that has text (a stopped or
        # interrupted partial included: the user saw it).
        out: list[ChatMessageParam] = []
        if self.system:
            out.append({"role": "system", "content": self.system})
        for message in self.messages:
            if message.role in ("user", "assistant") and message.content:
                out.append(message.to_param())
        return out

    async def _run(self, turn: Turn, request_messages: list[ChatMessageParam]) -> Message:
        message = turn.message
        timer = ReplyTimer()
        reply = Reply()
        status: MessageStatus = "error"
        error: ErrorInfo | None = None
        cancelled: asyncio.CancelledError | None = None
        stream: ReplyStream | None = None
        tools = ToolTimer()
        try:
            stream = ReplyStream(
                self.endpoint,
                request_messages,
                policy=self.retry_policy,
                client=self._http_client,
                token_refresh=self.token_refresh,
                on_notice=self._set_notice,
                recorder=self._recorder,
                replay=self._next_replay_turn(),
                replay_speed=self.replay_speed,
            )
            async with contextlib.aclosing(stream.events()) as events:
                async for batch in events:
                    for event in batch:
                        if isinstance(event, TextDelta):
                            # The message is the one store of the reply's text; the
                            # Reply keeps everything else (errors, usage, tool calls).
                            if timer.token() or self._phase is not Phase.STREAMING:
                                self._set_phase(Phase.STREAMING)
                            message.append(event.text)
                            self._emit(TextAppended(message.id, event.text))
                            continue
                        if isinstance(event, ReasoningDelta):
                            self._set_phase(Phase.STREAMING)
                            message.append_reasoning(event.text)
                            self._emit(TextAppended(message.id, event.text, "reasoning"))
                            continue
                        reply.apply(event)
                        if isinstance(event, (ToolCallStarted, ToolCallFinished)):
                            self._set_phase(Phase.STREAMING)
                            message.tool_calls = tools.infos(reply, event)
                            self._emit(MessagesChanged())
                        elif isinstance(event, Progress):
                            self._set_phase(Phase.STREAMING)
                            message.progress = {
                                "stage": event.stage,
                                "percent": event.percent,
                                "message": event.message,
                                "eta_s": event.eta_s,
                            }
                            self._emit(MessagesChanged())
                        elif isinstance(event, Result):
                            message.result = event.data
                        elif isinstance(event, Usage):
                            timer.output_tokens = reply.output_tokens
                            timer.input_tokens = reply.input_tokens
            status, error = _outcome(reply)
        except asyncio.CancelledError as exc:
            status, cancelled = "stopped", exc
            if self.session_id is not None:
                # Closing the stream leaves the server generating for its grace period.
                stopping = asyncio.get_running_loop().create_task(self._stop_remote())
                # The loop keeps only weak references to tasks: hold it until it ends.
                self._background.add(stopping)
                stopping.add_done_callback(self._background.discard)
        except NbchatError as exc:
            status = "interrupted" if exc.code == "INTERRUPTED" else "error"
            error = _error_info(exc.code, exc.message)
        except Exception as exc:  # a bug or an unforeseen failure: still end the turn cleanly
            log.exception("nbchat turn failed unexpectedly")
            error = _error_info("INTERNAL_ERROR", f"{type(exc).__name__}: {exc}")
        timer.stop()
        if stream is not None:
            self.endpoint = stream.endpoint  # keeps a key renewed by token_refresh
        message.refusal = reply.refusal
        message.tool_calls = tools.infos(reply, None)
        message.finish_reason = reply.finish_reason
        self.notice = ""
        self._finish(message, status, error, timer, stream)
        if cancelled is not None and not turn.stop_requested:
            raise cancelled
        if cancelled is not None:
            current = asyncio.current_task()
            if current is not None and hasattr(current, "uncancel"):
                current.uncancel()
        return message

    async def _stop_remote(self) -> None:
        try:
            await stop_remote_reply(
                self.endpoint.base_url, self.endpoint.api_key, self.endpoint.timeouts
            )
        except NbchatError as exc:
            log.warning("nbchat: could not stop the reply on the server: %s", exc)

    def _finish(
        self,
        message: Message,
        status: MessageStatus,
        error: ErrorInfo | None,
        timer: ReplyTimer,
        stream: ReplyStream | None = None,
    ) -> None:
        message.status = status
        message.error = error
        message.metrics = timer.info()
        if stream is not None and stream.retries:
            message.metrics["retries"] = stream.retries
        if stream is not None and stream.reconnects:
            message.metrics["reconnects"] = stream.reconnects
        try:
            self._history.save(self.name, message.to_record(finished_at=time.time()))
        except HistoryError as exc:
            # The reply stays on screen and in chat.messages; say why it is not on disk.
            log.error("nbchat: %s", exc)
            if message.error is None:
                message.error = _error_info(exc.code, f"reply not saved: {exc.message}")
        self._emit(MessagesChanged())
        self._set_phase(Phase(status) if status != "streaming" else Phase.DONE)


def _outcome(reply: Reply) -> tuple[MessageStatus, ErrorInfo | None]:
    error = reply.error
    if error is None:
        return "done", None
    status: MessageStatus = "interrupted" if error.code == "INTERRUPTED" else "error"
    return status, _error_info(error.code, error.message)


def _error_info(code: str, message: str) -> ErrorInfo:
    return {"code": code, "message": message, "hint": HINTS.get(code, "")}


def _running_loop(what: str) -> asyncio.AbstractEventLoop:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        raise ConfigurationError(
            f"{what} needs a running event loop, as in a notebook cell; "
            "in a script use chat.ask(text)"
        ) from None


__all__ = ["ChatController", "default_conversation_name"]
