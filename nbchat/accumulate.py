"""Accumulate normalized stream events into one reply.

A :class:`Reply` is what a finished (or interrupted) stream amounts to: text,
reasoning, refusal, tool calls (with their results and durations when the stream
reports them), finish reason, usage, the last progress step and final result of a
progress stream, and the error, if any. It is
pure: no clock, no I/O. ``parse_stream`` and the controller both build one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nbchat.events import (
    Finished,
    FinishReason,
    Progress,
    ReasoningDelta,
    RefusalDelta,
    Result,
    StreamError,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    ToolCallFinished,
    ToolCallStarted,
    Usage,
)


@dataclass
class ToolCall:
    """One tool call of a reply: ``arguments`` is the raw streamed JSON, ``input`` parsed."""

    index: int
    id: str
    name: str
    arguments: str = ""
    input: dict[str, Any] = field(default_factory=dict)
    finished: bool = False
    result: Any = None
    duration_s: float | None = None


class Reply:
    """The running sum of one stream's events; see the module docstring."""

    def __init__(self) -> None:
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self._refusal: list[str] = []
        self._tool_args: dict[int, list[str]] = {}
        self.tool_calls: list[ToolCall] = []
        self.finish_reason: FinishReason | None = None
        self.native_finish_reason: str | None = None
        self.finished = False
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.error: StreamError | None = None
        self.text_deltas = 0
        #: the last step of a progress stream, and its final result
        self.progress: Progress | None = None
        self.result: Any = None

    @property
    def text(self) -> str:
        return "".join(self._text)

    @property
    def reasoning(self) -> str:
        return "".join(self._reasoning)

    @property
    def refusal(self) -> str:
        return "".join(self._refusal)

    @property
    def usage(self) -> Usage | None:
        if self.input_tokens is None and self.output_tokens is None:
            return None
        return Usage(self.input_tokens, self.output_tokens)

    def apply(self, event: StreamEvent) -> None:
        """Add one event to the reply."""
        if isinstance(event, TextDelta):
            self._text.append(event.text)
            self.text_deltas += 1
        elif isinstance(event, ReasoningDelta):
            self._reasoning.append(event.text)
        elif isinstance(event, RefusalDelta):
            self._refusal.append(event.text)
        elif isinstance(event, ToolCallStarted):
            self.tool_calls.append(ToolCall(event.index, event.id, event.name))
            self._tool_args[event.index] = []
        elif isinstance(event, ToolCallDelta):
            self._tool_args.setdefault(event.index, []).append(event.arguments)
        elif isinstance(event, ToolCallFinished):
            call = self._call(event.index)
            if call is not None:
                call.arguments = "".join(self._tool_args.get(event.index, []))
                call.input = dict(event.arguments)
                call.finished = True
                call.result = event.result
                call.duration_s = event.duration_s
        elif isinstance(event, Progress):
            self.progress = event
        elif isinstance(event, Result):
            self.result = event.data
        elif isinstance(event, Usage):
            # Providers report cumulative counts: the latest non-None value wins.
            if event.input_tokens is not None:
                self.input_tokens = event.input_tokens
            if event.output_tokens is not None:
                self.output_tokens = event.output_tokens
        elif isinstance(event, Finished):
            self.finished = True
            if self.error is None:
                self.finish_reason = event.reason
            self.native_finish_reason = event.native_reason
        elif isinstance(event, StreamError) and self.error is None:
            self.error = event
            self.finish_reason = "error"

    def _call(self, index: int) -> ToolCall | None:
        for call in self.tool_calls:
            if call.index == index:
                return call
        return None
