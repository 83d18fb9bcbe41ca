"""The chat controller: conversation state, turns, history, change events.

Lifecycle of a conversation (no Jupyter imports here; the widget only listens)::

    send(text) ──> user message saved to history; assistant message added
               ──> a Turn runs as a task on the running loop (see nbchat.turn:
                   phase, streaming into the reply's ledger, Stop, finalize)
               ──> the turn saves the reply and tells the controller it ended

``send`` never blocks: the turn runs as a task on the running event loop, so widget
messages (the Stop button) keep flowing while it streams. Listeners registered with
``subscribe`` get :data:`Change` values, synchronously, on the loop's thread. The
controller is the turn's host: it emits, saves, prepares the request (opening a
server session when the chat has one) and keeps a key renewed by ``token_refresh``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from nbchat.approvals import Approval, Approvals
from nbchat.changes import (
    Change,
    ContextLimitChanged,
    Listener,
    MessageUpdated,
    ModelChanged,
    Phase,
    SystemChanged,
    TranscriptReplaced,
)
from nbchat.config import ContextLimit, RequestBody, Timeouts
from nbchat.conversation import (
    Conversation,
    default_conversation_name,
    params_of,
    without_tool_rounds,
)
from nbchat.conversation_controls import ConversationControls, chosen_key
from nbchat.dialects import get_dialect
from nbchat.endpoints import resolve_source
from nbchat.errors import (
    ConfigurationError,
    TurnInProgressError,
    failure_for_code,
    user_facing,
)
from nbchat.history import HistoryStore, open_history
from nbchat.loops import run_blocking, running_loop
from nbchat.message import Message, check_message
from nbchat.reply_stream import ReplyStream, TokenRefresh
from nbchat.retry import RetryPolicy
from nbchat.stream import Recording, Transport
from nbchat.stream.recording import recording_of
from nbchat.toolbox import Tool, Toolbox
from nbchat.turn import Turn
from nbchat.wire import ChatMessageParam

if TYPE_CHECKING:  # only nbchat.stream.http imports httpx at run time
    import httpx

    from nbchat.accumulate import ToolCall

log = logging.getLogger("nbchat")


_DEFAULT = object()


class ChatController(ConversationControls):
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
        The conversation's key in the history (``Chat`` uses the notebook and cell by
        default). After ``chat.new()`` or ``chat.open()`` the key stands for the
        conversation chosen last, which a chat made with it reopens.
    system : str, optional
        A system prompt sent first on every turn; ``chat.system = ...`` changes it
        from the next turn on.
    models : sequence of str, optional
        Models the user may pick from in the widget (``model`` defaults to the first).
    tools : list of callables, optional
        Python functions the model may call; they run in this kernel (see
        :mod:`nbchat.toolbox`; ``chat.tools.add(f)`` and ``@chat.tool`` add more).
    max_tool_rounds : int
        How many rounds of tool calls one reply may make before it ends with
        ``TOOL_ROUNDS`` (10 by default).
    dialect : str
        The wire format of the endpoint (``"openai-chat"`` by default).
    headers : mapping, optional
        Extra HTTP headers sent with every request.
    timeouts : Timeouts, optional
        ``connect``; ``read``: silence (no bytes at all) that ends a dead connection;
        ``idle``: no new output for this long ends the turn (off by default: the widget
        shows how long it has been waiting). ``connect`` and ``read`` configure the
        default HTTP transport; a transport of your own carries its own.
    retry : RetryPolicy, optional
        Retries before any byte (429/503 Retry-After, 408/500/502/504, connection
        errors) and resumes of streams that carry ids where that cannot start work twice
        (GET streams, a session's resume route, ``resumable=True``). A POST is never
        re-sent once bytes of its reply arrived: it ends ``interrupted`` and
        ``chat.retry()`` asks again.
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
        The session is created or loaded by the first turn, when the widget is shown,
        or by ``await chat.connect()``.
    max_context_messages : int or None
        The request sends at most this many of the newest user and assistant messages
        (whole turns; 100 by default; ``None``: all). ``chat.context`` shows what goes.
    max_context_tokens : int or None
        And at most about this many tokens of them (estimated; ``None`` by default: no
        budget). Set it a little under the model's context window. The widget marks
        the first message sent when older ones are left out; see
        :class:`~nbchat.config.ContextLimit`.
    request_body : dict or callable, optional
        The JSON body of the ``events`` and ``progress`` formats, for endpoints shaped
        otherwise than ``{"message": ...}``: a template whose strings have ``{message}``
        replaced by your message (spec 002:
        ``{"conversation_id": "c1", "text": "{message}"}``), or a function
        ``(message, messages) -> dict``.
    resumable : bool
        Declare that the endpoint resumes a re-sent request after ``Last-Event-ID``
        without starting the reply again; only then is a dropped POST stream re-opened.
    transport : Transport, optional
        Where responses come from (:mod:`nbchat.stream`): by default an
        :class:`~nbchat.stream.HttpTransport` with ``timeouts`` (and ``http_client``,
        an ``httpx.AsyncClient`` to send with); ``replay=`` makes a
        :class:`~nbchat.stream.ReplayTransport`. Tests and tools hand in their own.
    """

    @user_facing
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
        transport: Transport | None = None,
        resumable: bool = False,
        max_context_messages: int | None = 100,
        max_context_tokens: int | None = None,
        models: Sequence[str] | None = None,
        tools: Iterable[Callable[..., Any] | Tool] = (),
        max_tool_rounds: int = 10,
        request_body: RequestBody | None = None,
    ) -> None:
        choices = _model_choices(model, models)
        model = model or (choices[0] if choices else None)
        source = resolve_source(
            base_url=base_url,
            api_key=api_key,
            model=model,
            provider=provider,
            dialect=dialect,
            headers=headers,
            system=system,
            timeouts=timeouts,
            http_client=http_client,
            transport=transport,
            replay=replay,
            replay_speed=replay_speed,
            session=session,
            resumable=resumable,
            request_body=request_body,
        )
        self.endpoint = source.endpoint
        self._session = source.session
        if source.session is not None and history is _DEFAULT:
            history = None  # the server keeps the transcript
        get_dialect(self.endpoint.dialect)  # fail now, not at the first send, on a bad name
        #: where responses come from (see nbchat.stream)
        self.transport: Transport = source.transport
        #: the models the widget offers (``models=``; the current one may be another)
        self.models: tuple[str, ...] = choices
        #: the Python functions the model may call (run here)
        self.tools = Toolbox(tools)
        if not isinstance(max_tool_rounds, int) or max_tool_rounds < 1:
            raise ConfigurationError("max_tool_rounds must be a whole number of at least 1")
        self.max_tool_rounds = max_tool_rounds
        #: who says yes to calls of tools made with ``approve=True``
        self.approvals = Approvals(self.can_ask)
        #: the key the chat was made with: it stands for the conversation chosen last
        self.key = name or default_conversation_name()
        self._system = _checked_system(system)
        self._context_limit = ContextLimit(max_context_messages, max_context_tokens)
        self.retry_policy = retry or RetryPolicy()
        #: the turn's output clock uses ``idle``; the default HTTP transport the others
        self.timeouts = timeouts or Timeouts()
        self.token_refresh = token_refresh
        store: HistoryStore = open_history(
            True if history is _DEFAULT else history  # type: ignore[arg-type]
        )
        #: the messages, their history and listeners (see nbchat.conversation)
        self.conversation = Conversation.open(
            store.setting(chosen_key(self.key)) or self.key, store
        )
        #: tell every listener about a change (a broken listener is logged, not raised)
        self.emit: Callable[[Change], None] = self.conversation.emit
        self._turn: Turn | None = None

    # -- observation -------------------------------------------------------------------

    @property
    def system(self) -> str | None:
        """The system prompt sent first on every turn; assign to change it (from the
        next turn on) or ``None`` to send none."""
        return self._system

    @system.setter
    def system(self, text: str | None) -> None:
        self._system = _checked_system(text)
        self.emit(SystemChanged(self._system))

    @property
    def state(self) -> Phase:
        """The current :class:`Phase` (of the current or last turn; IDLE before any)."""
        return self._turn.phase if self._turn is not None else Phase.IDLE

    @property
    def notice(self) -> str:
        """A transient line about the running turn ("rate limited: retrying in 2 s"), or ""."""
        return self._turn.notice if self._turn is not None else ""

    @property
    def where(self) -> str:
        """Where replies come from, safe to show: no key, no query string."""
        if self.endpoint.embedded:
            return "embedded demo server"
        return self.transport.describe(self.endpoint.base_url)

    @property
    def session_id(self) -> str | None:
        """The id of the server session (``session=``), once it exists."""
        return self._session.id if self._session is not None else None

    @property
    def model(self) -> str:
        """The model that answers the next turn; assign to switch models between turns."""
        return self.endpoint.model

    @model.setter
    def model(self, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise ConfigurationError("model must be a non-empty string")
        self.endpoint = dataclasses.replace(self.endpoint, model=name)
        self.emit(ModelChanged(name))

    @property
    def context_limit(self) -> ContextLimit:
        """How much of the conversation a request sends; assign a
        :class:`~nbchat.config.ContextLimit` to change it (the widget's line moves)."""
        return self._context_limit

    @context_limit.setter
    def context_limit(self, limit: ContextLimit) -> None:
        if not isinstance(limit, ContextLimit):
            raise ConfigurationError("context_limit must be an nbchat.ContextLimit")
        self._context_limit = limit
        self.emit(ContextLimitChanged(limit))

    @property
    def context(self) -> list[ChatMessageParam]:
        """The ``messages`` the next request sends, your new message appended after them:
        the system prompt and the newest whole turns within :attr:`context_limit`."""
        return self._request_messages(None)

    def _request_messages(self, reply: Message | None) -> list[ChatMessageParam]:
        # What a request sends before ``reply`` (None: the next request's).
        messages = self.conversation.context(self.system, self._context_limit, until=reply)
        if reply is not None and reply.reply.round > 1:  # this reply's tool rounds so far
            messages += params_of(reply)
        # With no tools to offer, earlier tool rounds are told as text (see
        # without_tool_rounds): providers refuse tool messages in such a request.
        return messages if self.tools else without_tool_rounds(messages)

    @property
    def context_start(self) -> str:
        """The id of the first message sent when older ones are left out, else ""."""
        return self.conversation.context_start(self.context_limit, self.system)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(change)`` on every change; returns a function that unsubscribes."""
        return self.conversation.subscribe(listener)

    # -- the turn's host ---------------------------------------------------------------

    def save(self, message: Message) -> None:
        self.conversation.save(message)

    async def prepare(self, turn: Turn) -> ReplyStream:
        await self.connect()
        return ReplyStream(
            self.endpoint,
            self._request_messages(turn.message),
            transport=self.transport,
            policy=self.retry_policy,
            token_refresh=self.token_refresh,
            on_notice=turn.set_notice,
            tools=self.tools.definitions(),
        )

    def superseded(self, turn: Turn) -> None:
        self.conversation.remove(turn.replaces)

    def ended(self, turn: Turn) -> None:
        if turn.stream is not None:
            self.endpoint = turn.stream.endpoint  # keeps a key renewed by token_refresh
        if turn.message.status == "stopped" and self._session is not None:
            # Closing the stream leaves the server generating for its grace period.
            self._session.stop_soon()

    # -- tools ---------------------------------------------------------------------------

    @property
    def tool(self) -> Any:
        """Decorator: offer a function to the model (``@chat.tool`` or
        ``@chat.tool(approve=True)``); the same as ``chat.tools.add``."""
        return self.tools.add

    async def approve_call(self, turn: Turn, call: ToolCall, tool: Tool) -> bool:
        return await self.approvals.ask(call, tool)

    def can_ask(self) -> bool:
        """Whether someone can answer an approval (a widget shows this chat)."""
        return False

    @property
    def approve(self) -> Approval | None:
        """Decides calls of tools made with ``approve=True``: ``approve(call, tool)``
        returns (or resolves to) True to run it. None (the default) asks in the widget;
        with no widget shown, such calls are declined."""
        return self.approvals.policy

    @approve.setter
    def approve(self, policy: Approval | None) -> None:
        if policy is not None and not callable(policy):
            raise ConfigurationError("chat.approve must be a function of (call, tool), or None")
        self.approvals.policy = policy

    def decide(self, call_id: str, approved: bool) -> bool:
        """Answer the tool call ``call_id`` that waits for approval (the widget's
        Approve / Deny); False when no call waits under that id."""
        return self.approvals.decide(call_id, approved)

    # -- sessions ----------------------------------------------------------------------

    async def connect(self) -> None:
        """Create or load the server session (``session=``) now, if not done yet.

        The first turn does this by itself; the widget does it when shown, so a
        reopened session's transcript appears. Without a session: nothing to do.

        Raises
        ------
        StreamFailure
            The server cannot be reached, refuses the token or does not know the session.
        """
        if self._session is not None:
            await self._session.open_once(self._opened)

    def _opened(self, earlier: list[Message]) -> None:
        assert self._session is not None
        url = self._session.url
        # A dropped reply resumes from the session's stream route: never a re-POST.
        self.endpoint = dataclasses.replace(self.endpoint, base_url=url, resume_url=f"{url}/stream")
        if earlier:
            self.messages[:0] = earlier
            self.emit(TranscriptReplaced())

    def connect_soon(self) -> None:
        """Start :meth:`connect` in the background when a loop runs (the widget's open)."""
        if self._session is not None:
            self._session.open_soon(self._opened)

    # -- turns -------------------------------------------------------------------------

    @property
    def turn(self) -> Turn | None:
        """The current or last turn."""
        return self._turn

    @user_facing
    def send(self, text: str) -> Turn:
        """Send ``text`` and stream the reply in the background; returns a :class:`Turn`.

        Must be called with a running event loop (every notebook cell has one).
        ``await chat.send(text)`` waits for the reply and returns it.

        Raises
        ------
        TurnInProgressError
            A reply is still streaming (stop it with ``chat.stop()`` or await it).
        ConfigurationError
            ``text`` is not a string, is empty or is not valid Unicode, or there is no
            running event loop (use ``chat.ask``).
        HistoryError
            The user message could not be saved; nothing was sent.
        """
        loop = running_loop("chat.send()")
        check_message(text)
        self._refuse_if_busy()
        user = Message("user", text)
        self.save(user)
        self.conversation.append(user)
        return self._start(loop, user)

    @user_facing
    def retry(self) -> Turn:
        """Answer the last user message again; the new reply replaces the old one.

        For any last reply: one that ended ``interrupted``, ``error`` or ``stopped``
        (the widget's Retry) or a finished one (its Regenerate). The old reply stays,
        on screen (marked) and in history, until the new one produces output; then it
        is removed. If the retry fails before that, both stay: nothing the user had is
        lost. ``await chat.retry()`` waits for the new reply.

        Raises
        ------
        TurnInProgressError
            A reply is still streaming.
        ConfigurationError
            There is no user message to answer, or no running event loop.
        """
        loop = running_loop("chat.retry()")
        self._refuse_if_busy()
        last_user = self._last_user("retry")
        replaced = self.messages[last_user + 1 :]
        return self._start(loop, self.messages[last_user], replaced)

    @user_facing
    def edit(self, text: str) -> Turn:
        """Replace the last user message with ``text`` and answer it anew.

        Like :meth:`retry`, the old message and its replies stay (marked) until the new
        reply has output, then go from the transcript and the history; if it fails
        before that, nothing is removed. ``await chat.edit(text)`` waits for the reply.

        Raises
        ------
        TurnInProgressError
            A reply is still streaming.
        ConfigurationError
            There is no user message to edit, ``text`` is not a valid message, or there
            is no running event loop.
        """
        loop = running_loop("chat.edit()")
        check_message(text)
        self._refuse_if_busy()
        self._refuse_if_remote("edit")
        last_user = self._last_user("edit")
        replaced = self.messages[last_user:]
        user = Message("user", text)
        self.save(user)
        self.conversation.append(user)
        return self._start(loop, user, replaced)

    def _last_user(self, action: str) -> int:
        messages = self.messages
        for i in range(len(messages) - 1, -1, -1):
            if messages[i].role == "note":
                break  # the context was cleared after it
            if messages[i].role == "user":
                return i
        raise ConfigurationError(f"nothing to {action}: no user message since the last clear")

    def _refuse_if_busy(self) -> None:
        if self._turn is not None and not self._turn.done():
            raise TurnInProgressError(
                "a reply is still streaming: await it or call chat.stop() before sending again"
            )

    def _start(
        self, loop: asyncio.AbstractEventLoop, user: Message, replaces: list[Message] | None = None
    ) -> Turn:
        reply = Message("assistant", status="streaming", model=self.endpoint.model)
        turn = Turn(self, user, reply, idle=self.timeouts.idle, replaces=replaces)
        self._turn = turn
        for old in replaces or ():
            old.superseded = True
            self.emit(MessageUpdated(old.id))  # now marked as being retried
        self.conversation.append(reply)
        return turn.start(loop)

    def record(self, path: str | os.PathLike[str] | None) -> Recording:
        """Save the raw response stream of the next turns to ``path``; ``None`` stops.

        The file (JSON Lines, appended to) plays back with ``Chat(replay=path)``, at
        the pace it was recorded. It holds response bytes only: no request headers,
        so no API key. Use it as a context manager to record a block of turns::

            with chat.record("demo.jsonl"):
                await chat.send("Explain SSE")
        """
        key = self.endpoint.api_key
        self.transport = recording_of(self.transport, path, secrets=(key,) if key else ())
        return Recording(lambda: self.record(None))

    def stop(self) -> None:
        """Stop the streaming reply, if any, keeping its partial text."""
        if self._turn is not None:
            self._turn.cancel()

    @user_facing
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


def _model_choices(model: str | None, models: Sequence[str] | None) -> tuple[str, ...]:
    if models is None:
        return ()
    if isinstance(models, str) or not all(isinstance(m, str) and m for m in models):
        raise ConfigurationError("models must be a list of model names, e.g. models=['a', 'b']")
    return tuple(dict.fromkeys([model, *models] if model else models))


def _checked_system(text: object) -> str | None:
    if text is not None and not isinstance(text, str):
        raise ConfigurationError(f"system must be a string or None, not {type(text).__name__}")
    return text or None


__all__ = ["ChatController"]
