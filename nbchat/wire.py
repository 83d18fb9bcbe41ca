"""TypedDicts for every JSON shape that leaves Python: the widget protocol and exports.

Kernel -> browser
-----------------
* trait ``snapshot`` (:class:`Snapshot`): the whole transcript, authoritative. The
  kernel replaces it whenever the conversation's structure changes (a message is
  added or finishes, the phase changes) or a view asks with ``{"type": "sync"}``.
  ``seq`` is the sequence number of the last batch whose text it already contains.
* custom message :class:`Batch` ``{"type": "batch", "seq": n, "ops": [...]}``:
  append-only text deltas (``op: "text"`` to the reply, ``op: "reasoning"`` to its
  reasoning), ``seq`` increasing by one per batch. A view applies a batch
  only when ``seq == its seq + 1``; a smaller ``seq`` is already contained in its
  snapshot (ignore); a larger one is a gap: the view sends ``{"type": "sync"}`` and
  waits for the next snapshot.

Browser -> kernel
-----------------
:class:`ViewRequest`: ``{"type": "send", "text": str}``, ``{"type": "stop"}``,
``{"type": "sync"}``, ``{"type": "retry"}`` (answer the last user message again,
replacing a reply that ended ``interrupted``, ``error`` or ``stopped``).
"""

from __future__ import annotations

import enum
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
Role = Literal["system", "user", "assistant"]


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


ToolCallStatus = Literal["running", "done"]


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


class ProgressInfo(TypedDict, total=False):
    """The latest step of a progress stream (spec 004): stage, percent 0-100, ETA."""

    stage: str
    percent: float | None
    message: str
    eta_s: float | None


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


class Snapshot(TypedDict):
    """The ``snapshot`` trait of the chat widget."""

    version: int
    seq: int
    phase: Phase
    messages: list[MessageInfo]
    model: str
    endpoint: str
    #: a transient line about the running turn ("rate limited: retrying in 3 s"), or ""
    notice: NotRequired[str]


class TextOp(TypedDict):
    """Append ``text`` to the content (``"text"``) or reasoning of message ``id``."""

    op: Literal["text", "reasoning"]
    id: str
    text: str


class Batch(TypedDict):
    """A custom message carrying the deltas flushed since the previous batch."""

    type: Literal["batch"]
    seq: int
    ops: list[TextOp]


class SendRequest(TypedDict):
    type: Literal["send"]
    text: str


class StopRequest(TypedDict):
    type: Literal["stop"]


class SyncRequest(TypedDict):
    type: Literal["sync"]


class RetryRequest(TypedDict):
    type: Literal["retry"]


ViewRequest = SendRequest | StopRequest | SyncRequest | RetryRequest


class ChatMessageParam(TypedDict):
    """A message in an OpenAI-style ``messages`` request array."""

    role: Role
    content: str
