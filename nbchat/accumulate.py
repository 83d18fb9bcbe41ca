"""The ledger of one reply: every normalized event of a stream, summed in one place.

A :class:`Reply` is what a stream amounts to: text, reasoning, refusal, tool calls
(with their results and durations), finish reason, usage, the last progress step and
final result of a progress stream, and the error, if any. It is the one record of
those facts: :func:`nbchat.parse_stream` returns one, a live turn fills one, the
:class:`~nbchat.message.Message` of an assistant reply presents one, and history
stores and restores one. It is pure: no clock, no I/O.

Text and reasoning are kept as lists of pieces joined on read (and the join
cached), so a long reply streamed token by token costs linear, not quadratic, time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, cast

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
from nbchat.wire import ProgressInfo, ToolCallInfo, ToolCallStatus

#: the statuses of a call the kernel runs (see ``ToolCall.state``)
_KERNEL_STATES = frozenset({"queued", "waiting", "running", "done", "error", "denied", "cancelled"})


def text_offset(value: object) -> int:
    """A stored text offset (where a tool call, progress or reasoning started): a
    positive int, else 0."""
    return value if type(value) is int and value > 0 else 0


class _Pieces:
    """Text that grows by appending: pieces joined once per read."""

    __slots__ = ("_parts", "append")

    def __init__(self, text: str = "") -> None:
        self._parts: list[str] = [text] if text else []
        #: add ``text`` at the end (the list's own append: one C call a token)
        self.append: Callable[[str], None] = self._parts.append

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Pieces) and str(self) == str(other)

    def __bool__(self) -> bool:
        return bool(self._parts)

    __hash__ = None  # type: ignore[assignment]  # mutable: equal by value, not hashable

    def __str__(self) -> str:
        parts = self._parts
        if len(parts) > 1:
            parts[:] = ["".join(parts)]  # in place: ``append`` is bound to this list
        return parts[0] if parts else ""


@dataclass
class ToolCall:
    """One tool call of a reply: ``arguments`` is the raw streamed JSON, ``input`` parsed."""

    index: int
    id: str
    name: str
    input: dict[str, Any] = field(default_factory=dict)
    finished: bool = False
    result: Any = None
    duration_s: float | None = None
    #: the length of the reply's text when the call started (where it shows among it)
    at: int = 0
    _streamed: _Pieces = field(default_factory=_Pieces, repr=False)
    #: the request round the call came in; 0 for a call the kernel does not run
    round: int = 0
    #: a call the kernel runs: queued, waiting (for approval), running, done, error,
    #: denied or cancelled; "" for others (whose status is whether their arguments are complete)
    state: ToolCallStatus | Literal[""] = ""

    @property
    def streamed(self) -> str:
        """The argument text streamed so far."""
        return str(self._streamed)

    @property
    def arguments(self) -> str:
        """The raw argument JSON, once the call finished (``""`` while it streams)."""
        return self.streamed if self.finished else ""

    def info(self) -> ToolCallInfo:
        """The call as the widget and history see it (JSON-safe)."""
        out: ToolCallInfo = {
            "id": self.id,
            "name": self.name,
            "arguments": self.streamed,
            "input": self.input if self.finished else None,
            "status": self.state or ("done" if self.finished else "running"),
        }
        if self.round:
            out["round"] = self.round
        if self.result is not None:
            out["result"] = self.result
        if self.duration_s is not None:
            out["duration_s"] = round(self.duration_s, 3)
        if self.at:
            out["at"] = self.at
        return out

    @classmethod
    def from_info(cls, index: int, info: dict[str, Any]) -> ToolCall:
        """A call as :meth:`info` described it (e.g. read back from history)."""
        raw_input = info.get("input")
        duration = info.get("duration_s")
        turn = info.get("round")
        kernel = type(turn) is int and turn > 0 and info.get("status") in _KERNEL_STATES
        return cls(
            index,
            str(info.get("id") or ""),
            str(info.get("name") or ""),
            dict(raw_input) if isinstance(raw_input, dict) else {},
            info.get("status") == "done",
            info.get("result"),
            float(duration) if isinstance(duration, (int, float)) else None,
            text_offset(info.get("at")),
            _Pieces(str(info.get("arguments") or "")),
            turn if kernel else 0,  # type: ignore[arg-type]
            info["status"] if kernel else "",
        )


class Reply:
    """The running sum of one stream's events; see the module docstring."""

    def __init__(self, text: str = "") -> None:
        self._text = _Pieces(text)
        self._reasoning = _Pieces()
        #: the length of the text when the reasoning started (where it shows among it)
        self.reasoning_at = 0
        self._refusal = _Pieces()
        self.tool_calls: list[ToolCall] = []
        self._calls: dict[int, ToolCall] = {}
        #: the request round the stream now feeds (see :meth:`next_round`)
        self.round = 1
        self._earlier_usage = (0, 0)  # tokens of the rounds before this one
        self.finish_reason: FinishReason | None = None
        self.native_finish_reason: str | None = None
        self.finished = False
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.error: StreamError | None = None
        self.text_deltas = 0
        #: the last step of a progress stream, and its final result
        self.progress: Progress | None = None
        #: the length of the text when the progress started (where it shows among it)
        self.progress_at = 0
        self.result: Any = None

    # -- reading -----------------------------------------------------------------------

    @property
    def text(self) -> str:
        return str(self._text)

    @property
    def reasoning(self) -> str:
        return str(self._reasoning)

    @property
    def refusal(self) -> str:
        return str(self._refusal)

    @property
    def usage(self) -> Usage | None:
        if self.input_tokens is None and self.output_tokens is None:
            return None
        return Usage(self.input_tokens, self.output_tokens)

    def tool_call_infos(self) -> list[ToolCallInfo]:
        return [call.info() for call in self.tool_calls]

    def progress_info(self) -> ProgressInfo | None:
        step = self.progress
        if step is None:
            return None
        info: ProgressInfo = {
            "stage": step.stage,
            "percent": step.percent,
            "message": step.message,
            "eta_s": step.eta_s,
        }
        if self.progress_at:
            info["at"] = self.progress_at
        return info

    def call(self, index: int) -> ToolCall | None:
        """The tool call with stream index ``index``, if it started."""
        return self._calls.get(index)

    # -- writing -----------------------------------------------------------------------

    def append_text(self, text: str, deltas: int = 1) -> None:
        """Visible text: ``deltas`` text deltas joined (what ``apply(TextDelta)`` does)."""
        self._text.append(text)
        self.text_deltas += deltas

    def apply(self, event: StreamEvent) -> None:
        """Add one event to the reply."""
        if isinstance(event, TextDelta):
            self.append_text(event.text)
        elif isinstance(event, ReasoningDelta):
            if not self._reasoning:
                self.reasoning_at = len(str(self._text))
            self._reasoning.append(event.text)
        elif isinstance(event, RefusalDelta):
            self._refusal.append(event.text)
        elif isinstance(event, ToolCallStarted):
            call = ToolCall(event.index, event.id, event.name, at=len(str(self._text)))
            self.tool_calls.append(call)
            self._calls[event.index] = call
        elif isinstance(event, ToolCallDelta):
            started = self._calls.get(event.index)
            if started is not None:
                started._streamed.append(event.arguments)
        elif isinstance(event, ToolCallFinished):
            finished = self._calls.get(event.index)
            if finished is not None:
                finished.input = dict(event.arguments)
                finished.finished = True
                finished.result = event.result
                if event.duration_s is not None:
                    finished.duration_s = event.duration_s
        elif isinstance(event, Progress):
            if self.progress is None:
                self.progress_at = len(str(self._text))
            self.progress = event
        elif isinstance(event, Result):
            self.result = event.data
        elif isinstance(event, Usage):
            # Providers report cumulative counts within a response: the latest non-None
            # value wins; the rounds of a reply with tool calls add up.
            before_in, before_out = self._earlier_usage
            if event.input_tokens is not None:
                self.input_tokens = before_in + event.input_tokens
            if event.output_tokens is not None:
                self.output_tokens = before_out + event.output_tokens
        elif isinstance(event, Finished):
            self.finished = True
            if self.error is None:
                self.finish_reason = event.reason
            self.native_finish_reason = event.native_reason
        elif isinstance(event, StreamError) and self.error is None:
            self.error = event
            self.finish_reason = "error"

    def round_calls(self) -> list[ToolCall]:
        """The tool calls of the current round whose arguments are complete."""
        return [c for c in self._calls.values() if c.finished]

    def next_round(self) -> None:
        """The kernel answered this round's tool calls; the next request's stream
        continues the same reply (its call indexes start again at 0)."""
        self._calls = {}
        self.round += 1
        self._earlier_usage = (self.input_tokens or 0, self.output_tokens or 0)
        self.finish_reason = None
        self.native_finish_reason = None
        self.finished = False

    def fail(self, code: str, message: str) -> None:
        """Record why the reply failed (a transport failure, a bug), unless it already did."""
        self.apply(StreamError(code, message))

    @classmethod
    def restore(
        cls,
        text: str = "",
        *,
        reasoning: str = "",
        reasoning_at: int = 0,
        refusal: str = "",
        tool_calls: Iterable[dict[str, Any]] = (),
        finish_reason: str | None = None,
        progress: dict[str, Any] | None = None,
        result: Any = None,
        error: StreamError | None = None,
    ) -> Reply:
        """A reply rebuilt from what was stored (history, a sessions server)."""
        reply = cls(text)
        if reasoning:
            reply._reasoning.append(reasoning)
            reply.reasoning_at = reasoning_at
        if refusal:
            reply._refusal.append(refusal)
        for index, info in enumerate(tool_calls):
            call = ToolCall.from_info(index, info)
            reply.tool_calls.append(call)
            reply._calls[index] = call
        reply.finish_reason = cast("FinishReason | None", finish_reason)
        if progress is not None:
            percent, eta = progress.get("percent"), progress.get("eta_s")
            reply.progress = Progress(
                str(progress.get("stage") or ""),
                float(percent) if isinstance(percent, (int, float)) else None,
                str(progress.get("message") or ""),
                float(eta) if isinstance(eta, (int, float)) else None,
            )
            reply.progress_at = text_offset(progress.get("at"))
        reply.result = result
        reply.error = error
        return reply


__all__ = ["Reply", "ToolCall"]
