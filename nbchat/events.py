"""Normalized stream events: what every dialect turns a provider's wire format into.

Events are pure values (frozen dataclasses). They carry no identity and no clock:
the controller stamps times and the history store assigns ids. Nothing past the
dialect layer ever looks at a provider's JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "refusal", "error"]


@dataclass(frozen=True)
class TextDelta:
    """A piece of the assistant's visible reply."""

    text: str


@dataclass(frozen=True)
class ReasoningDelta:
    """A piece of the model's reasoning ("thinking") text, shown apart from the reply."""

    text: str


@dataclass(frozen=True)
class RefusalDelta:
    """A piece of a refusal the model streams instead of an answer (OpenAI structured outputs)."""

    text: str


@dataclass(frozen=True)
class ToolCallStarted:
    """The model began a tool call; ``index`` orders parallel calls."""

    index: int
    id: str
    name: str


@dataclass(frozen=True)
class ToolCallDelta:
    """A fragment of a tool call's JSON arguments, as streamed."""

    index: int
    arguments: str


@dataclass(frozen=True)
class ToolCallFinished:
    """A tool call's arguments are complete (``duration_s`` when the stream says)."""

    index: int
    arguments: dict[str, Any] = field(default_factory=dict)
    result: Any = None
    duration_s: float | None = None


@dataclass(frozen=True)
class Progress:
    """A step of a progress stream: stage name, percent in [0, 100], optional ETA."""

    stage: str
    percent: float | None = None
    message: str = ""
    eta_s: float | None = None
    #: the job's stages, when the server announces them (in order)
    stages: tuple[str, ...] = ()


@dataclass(frozen=True)
class Result:
    """The final result of a progress stream (spec 004's ``{"type": "result", "data"}``)."""

    data: Any = None


@dataclass(frozen=True)
class Usage:
    """Token counts as the provider reports them (None when not reported)."""

    input_tokens: int | None = None
    output_tokens: int | None = None

    @property
    def total_tokens(self) -> int | None:
        if self.input_tokens is None and self.output_tokens is None:
            return None
        return (self.input_tokens or 0) + (self.output_tokens or 0)


@dataclass(frozen=True)
class Finished:
    """The stream ended as the protocol intends; ``reason`` is normalized.

    ``native_reason`` keeps the provider's own word (``end_turn``, ``stop``...).
    """

    reason: FinishReason | None = "stop"
    native_reason: str | None = None


@dataclass(frozen=True)
class StreamError:
    """The stream reported an error, or ended in a way the protocol does not allow.

    ``code`` is one of the stable codes of :mod:`nbchat.errors` (``PROVIDER_ERROR``,
    ``PROTOCOL_ERROR``, ``INTERRUPTED``...).
    """

    code: str
    message: str


StreamEvent = (
    TextDelta
    | ReasoningDelta
    | RefusalDelta
    | ToolCallStarted
    | ToolCallDelta
    | ToolCallFinished
    | Progress
    | Result
    | Usage
    | Finished
    | StreamError
)

__all__ = [
    "FinishReason",
    "Finished",
    "Progress",
    "ReasoningDelta",
    "RefusalDelta",
    "Result",
    "StreamError",
    "StreamEvent",
    "TextDelta",
    "ToolCallDelta",
    "ToolCallFinished",
    "ToolCallStarted",
    "Usage",
]
