"""TypedDicts for every JSON shape that leaves Python: the widget protocol and exports.

The cost of every message follows what changed, never the length of the chat.

Kernel -> browser
-----------------
* trait ``snapshot`` (:class:`Snapshot`): the last page of the transcript (at most
  ``PAGE`` messages; ``offset`` older ones exist), authoritative. Set when the widget
  is made, when a view asks with ``{"type": "sync"}`` (it opened, reloaded, or saw a
  gap) and when the transcript changes as a whole (cleared). ``seq`` is the number of
  the last batch it already contains.
* custom message :class:`Batch` ``{"type": "batch", "seq": n, "ops": [...]}``, in
  order: ``upsert`` (a message new to the transcript, whole), ``patch`` (a message's
  status, error, metrics, tool calls, progress or marks: every field but its text),
  ``remove``, and append-only text (``op: "text"`` to the content, ``"reasoning"``
  to the reasoning). ``seq`` grows by one per batch. A view applies a batch only when
  ``seq == its seq + 1``; a smaller ``seq`` is already contained in its snapshot
  (ignore); a larger one, or an op naming a message the view does not have, is a
  gap: the view sends ``{"type": "sync"}`` and waits for the next snapshot.
* trait ``head`` (:class:`Head`): phase, notice, model, endpoint, where the model's
  context starts, and the ``seq`` of the
  last batch sent before it. Small, and set on every change of those, after the
  pending batch: a view whose ``seq`` is behind ``head.seq`` lost a batch (Jupyter
  Server drops messages under load) and asks for a sync, so a turn's end is never
  missed.
* custom message :class:`Page` ``{"type": "page", "before": id, "messages", "offset"}``:
  the page of older messages a view asked for with ``{"type": "page", "before": id}``.

Browser -> kernel
-----------------
:class:`ViewRequest`: ``{"type": "send", "text": str}``, ``{"type": "stop"}``,
``{"type": "sync"}``, ``{"type": "page", "before": id}``, ``{"type": "retry"}``
(answer the last user message again, replacing a reply that ended ``interrupted``,
``error`` or ``stopped``).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, Literal, NotRequired, TypedDict


class Phase(enum.StrEnum):
    """What a chat is doing; terminal phases name how the last turn ended.

    A string enum: it travels to the browser (and compares) as its value.
    """

    IDLE = "idle"
    CONNECTING = "connecting"
    RECONNECTING = "reconnecting"
    STREAMING = "streaming"
    DONE = "done"
    STOPPED = "stopped"
    ERROR = "error"
    INTERRUPTED = "interrupted"

    @property
    def busy(self) -> bool:
        return self in (Phase.CONNECTING, Phase.RECONNECTING, Phase.STREAMING)


MessageStatus = Literal["streaming", "done", "stopped", "error", "interrupted"]


class JobState(enum.StrEnum):
    """What a progress bar's job (a server job or a loop) is doing; terminal states name
    how it ended. Travels to the browser as its value."""

    IDLE = "idle"
    CONNECTING = "connecting"
    RUNNING = "running"
    DONE = "done"
    CANCELLED = "cancelled"
    ERROR = "error"
    INTERRUPTED = "interrupted"

    @property
    def busy(self) -> bool:
        return self in (JobState.CONNECTING, JobState.RUNNING)

    @property
    def outcome(self) -> RunOutcome:
        """How a run that ended in this state is recorded (not an end: cancelled)."""
        return _OUTCOMES.get(self, "cancelled")


#: how a progress run ended, as the history keeps it (only "done" runs teach the ETA)
RunOutcome = Literal["done", "cancelled", "error", "interrupted"]
_OUTCOMES: dict[JobState, RunOutcome] = {
    JobState.DONE: "done",
    JobState.CANCELLED: "cancelled",
    JobState.ERROR: "error",
    JobState.INTERRUPTED: "interrupted",
}
#: ``note``: a line nbchat writes in the transcript, never sent: the context was cleared
#: there (``chat.clear()``), so the model is sent nothing above it
Role = Literal["system", "user", "assistant", "note"]


class ErrorInfo(TypedDict):
    """Why a message ended badly: a stable code, a message naming the cause, a hint."""

    code: str
    message: str
    hint: NotRequired[str]


class MetricsInfo(TypedDict, total=False):
    """Per-reply measurements; absent keys were not measured."""

    ttft_s: float
    tokens_per_s: float
    duration_s: float
    output_tokens: int
    input_tokens: int
    #: times the stream was re-opened with Last-Event-ID after a drop
    reconnects: int
    #: times the request was re-sent before any byte arrived (429/503/502/504/408...)
    retries: int


#: ``running`` / ``done`` for every call; a call the kernel runs (a tool of the chat's)
#: also goes through ``queued`` (its round's earlier calls run first) and ``waiting``
#: (for the user's approval), and may end ``error``
#: (the tool raised, or its arguments did not fit), ``denied`` or ``cancelled`` (Stop)
ToolCallStatus = Literal["queued", "waiting", "running", "done", "error", "denied", "cancelled"]
#: how a call the kernel ran ended (its status once the round is over)
ToolOutcome = Literal["done", "error", "denied", "cancelled"]


class ToolCallInfo(TypedDict):
    """One tool call of an assistant message.

    ``arguments`` is the raw JSON text as streamed; ``input`` the parsed object once the
    call is complete (``None`` before, or when the text is not valid JSON).
    ``result`` is the tool's output when the stream reports it (spec 002, AI SDK).
    """

    id: str
    name: str
    arguments: str
    input: dict[str, Any] | None
    status: ToolCallStatus
    result: NotRequired[Any]
    duration_s: NotRequired[float]
    #: the length of the reply's text when the call started: the row shows after that
    #: text (absent: before any text)
    at: NotRequired[int]
    #: a call the kernel ran: the request round it came in (1, 2...), and its result
    #: as the text the model was sent
    round: NotRequired[int]


class ProgressInfo(TypedDict, total=False):
    """The latest step of a progress stream (spec 004): stage, percent 0-100, ETA."""

    stage: str
    percent: float | None
    message: str
    eta_s: float | None
    #: the length of the reply's text when the progress started (absent: before it)
    at: int


class MessageInfo(TypedDict):
    """One transcript message as the browser and exports see it."""

    id: str
    role: Role
    content: str
    status: MessageStatus
    error: ErrorInfo | None
    created_at: float
    metrics: MetricsInfo
    #: the model's reasoning ("thinking") text, shown apart from the reply
    reasoning: NotRequired[str]
    #: the length of the text when the reasoning started: its block shows after that
    #: text (absent or 0: above it)
    reasoning_at: NotRequired[int]
    #: a refusal streamed instead of an answer
    refusal: NotRequired[str]
    tool_calls: NotRequired[list[ToolCallInfo]]
    #: how the model ended the reply when it said: stop, length, tool_calls,
    #: content_filter, refusal, error
    finish_reason: NotRequired[str]
    #: the latest step of a progress stream, while and after it runs
    progress: NotRequired[ProgressInfo]
    #: the final result of a progress stream (any JSON)
    result: NotRequired[Any]
    #: a retry is answering again: shown (marked) until the new reply has output
    superseded: NotRequired[bool]


#: messages in a snapshot or a page
PAGE = 50


class Snapshot(TypedDict):
    """The ``snapshot`` trait of the chat widget: the last page of the transcript."""

    version: int
    seq: int
    phase: Phase
    messages: list[MessageInfo]
    #: how many older messages exist before ``messages`` (load them with a page request)
    offset: int
    model: str
    endpoint: str
    #: a transient line about the running turn ("rate limited: retrying in 3 s"), or ""
    notice: NotRequired[str]


class Head(TypedDict):
    """The ``head`` trait: what the chat is doing, and the last batch sent before it."""

    seq: int
    phase: Phase
    notice: str
    model: str
    endpoint: str
    #: the first message the next request sends when older ones are left out (the
    #: chat's context limit), else ""; the view draws a line above it
    context_start: str
    #: the models the user may pick from (``Chat(models=...)``); a picker when several
    models: list[str]
    #: the conversation's name in the history (the Conversations panel marks it)
    conversation: str


class TextOp(TypedDict):
    """Append ``text`` to the content (``"text"``) or reasoning of message ``id``."""

    op: Literal["text", "reasoning"]
    id: str
    text: str


class UpsertOp(TypedDict):
    """A message new to the transcript (added at its end), whole."""

    op: Literal["upsert"]
    message: MessageInfo


class PatchOp(TypedDict):
    """Every field of message ``id`` but its text (status, error, metrics, tools...)."""

    op: Literal["patch"]
    id: str
    fields: dict[str, Any]


class RemoveOp(TypedDict):
    op: Literal["remove"]
    id: str


Op = TextOp | UpsertOp | PatchOp | RemoveOp


class Batch(TypedDict):
    """A custom message carrying the changes flushed since the previous batch, in order."""

    type: Literal["batch"]
    seq: int
    ops: list[Op]


class Page(TypedDict):
    """Older messages a view asked for: the page that ends just before ``before``."""

    type: Literal["page"]
    before: str
    messages: list[MessageInfo]
    offset: int


class ConversationRow(TypedDict):
    """One conversation of the history, as the Conversations panel lists it."""

    name: str
    title: str
    notebook: str
    #: seconds since the epoch
    last_activity: float
    messages: int


class ConversationList(TypedDict):
    """The answer to a ``conversations`` request: the newest first, at most a few hundred."""

    type: Literal["conversations"]
    items: list[ConversationRow]
    #: how many more the history holds than ``items`` shows
    more: int


class ExportFile(TypedDict):
    """The answer to an ``export`` request: a file for the browser to save."""

    type: Literal["export"]
    filename: str
    media_type: str
    text: str


class Refused(TypedDict):
    """A request from the view that the kernel could not carry out, and why."""

    type: Literal["refused"]
    message: str


class SendRequest(TypedDict):
    type: Literal["send"]
    text: str


class StopRequest(TypedDict):
    type: Literal["stop"]


class SyncRequest(TypedDict):
    type: Literal["sync"]


class RetryRequest(TypedDict):
    type: Literal["retry"]


class PageRequest(TypedDict):
    type: Literal["page"]
    before: str


class EditRequest(TypedDict):
    """Replace the last user message with ``text`` and answer it anew."""

    type: Literal["edit"]
    text: str


class ActionRequest(TypedDict):
    """``new``, ``clear`` and ``undo`` do what ``chat.new()`` etc. do; ``conversations``
    asks for the list."""

    type: Literal["new", "clear", "undo", "conversations"]


class NamedRequest(TypedDict):
    """Open or delete conversation ``name``."""

    type: Literal["open", "delete"]
    name: str


class ModelRequest(TypedDict):
    """Answer with model ``model`` (one of ``Head.models``) from the next turn on."""

    type: Literal["model"]
    model: str


class ApproveRequest(TypedDict):
    """Answer tool call ``id``, which waits for the user's approval."""

    type: Literal["approve"]
    id: str
    approved: bool


class ExportRequest(TypedDict):
    """The conversation as a file: ``format`` is ``markdown``, ``json`` or ``html``."""

    type: Literal["export"]
    format: str


ViewRequest = (
    SendRequest
    | StopRequest
    | SyncRequest
    | RetryRequest
    | PageRequest
    | EditRequest
    | ActionRequest
    | NamedRequest
    | ModelRequest
    | ExportRequest
    | ApproveRequest
)


class StageInfo(TypedDict):
    """One known stage of a job, for the bar's stage dots."""

    name: str
    #: "done", "current" or "ahead"
    state: Literal["done", "current", "ahead"]


class CountInfo(TypedDict):
    """A loop's count: ``n`` of ``total`` (None when unknown), ``rate`` steps per second."""

    n: int
    total: int | None
    rate: float | None


class BarInfo(TypedDict):
    """Everything one progress bar shows: the ``bar`` trait of the bar widget, and a
    nested bar's row. Small (a message is cut to :data:`BAR_MESSAGE_CHARS`); sent at
    most a few times a second. ``elapsed_s`` and ``eta_s`` are as of sending: the view
    counts them on between updates.
    """

    state: JobState
    title: str
    percent: float | None
    stage: str
    message: str
    stages: list[StageInfo]
    #: None before the job started
    elapsed_s: float | None
    eta_s: float | None
    #: where the ETA comes from ("learned from 4 earlier runs"), for its tooltip
    eta_note: str
    #: a transient line: "no update for 12 s", a retry wait
    notice: str
    error: ErrorInfo | None
    #: the result for reading (JSON pretty-printed, text as is), cut to BAR_RESULT_CHARS
    result: str | None
    #: the job posts to the classic (non-streaming) endpoint
    classic: bool
    #: which controls the view offers
    controls: list[Literal["cancel", "retry", "mode"]]
    count: CountInfo | None
    #: nested bars running inside this one (a loop inside a loop)
    children: list[BarInfo]


#: the longest message a bar shows (the whole one stays in Python)
BAR_MESSAGE_CHARS = 500
#: the longest result text a bar shows (the whole result stays in Python)
BAR_RESULT_CHARS = 20_000


class BarRequest(TypedDict):
    """What a bar's view asks: ``cancel``, ``retry`` (run again), ``mode`` (switch between
    streaming and classic for the next run)."""

    type: Literal["cancel", "retry", "mode"]


#: the roles of a request's messages
ParamRole = Literal["system", "user", "assistant", "tool"]


class FunctionParam(TypedDict):
    name: str
    #: the arguments as JSON text, as the model sent them
    arguments: str


class ToolCallParam(TypedDict):
    """A tool call of an assistant message, in the OpenAI chat format."""

    id: str
    type: Literal["function"]
    function: FunctionParam


class ChatMessageParam(TypedDict):
    """A message in an OpenAI-style ``messages`` request array: nbchat's one form of
    what a request sends, which each dialect turns into its own.

    An assistant message may carry the ``tool_calls`` it made (its ``content`` then the
    text before them, maybe ""), and each is answered by a ``tool`` message with the
    call's ``tool_call_id`` and its result as ``content``.
    """

    role: ParamRole
    content: str
    tool_calls: NotRequired[list[ToolCallParam]]
    tool_call_id: NotRequired[str]


#: OpenAI request fields that tune sampling; a model or a format says which it takes
SAMPLING_FIELDS = (
    "temperature",
    "top_p",
    "stop",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "response_format",
    "parallel_tool_calls",
)

#: ``tool_choice`` as OpenAI takes it: "auto", "none", "required", or
#: ``{"type": "function", "function": {"name": ...}}`` to call that tool
ToolChoice = str | Mapping[str, Any] | None


def tool_choice_name(choice: ToolChoice) -> str | None:
    """The tool a ``tool_choice`` names (OpenAI's nested or Responses' flat form), or None."""
    if isinstance(choice, Mapping):
        function = choice.get("function")
        if isinstance(function, Mapping) and isinstance(function.get("name"), str):
            return str(function["name"])
        if isinstance(choice.get("name"), str):
            return str(choice["name"])
    return None


class ToolDef(TypedDict):
    """A tool offered to the model, in no provider's format: each dialect writes its own."""

    name: str
    description: str
    #: a JSON schema of ``type: object``
    parameters: dict[str, Any]
