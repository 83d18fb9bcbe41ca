"""Vercel AI SDK streams: the v5 UI message stream (``ai-sdk``) and the v4 data stream
(``ai-sdk-v4``).

Two registry names rather than sniffing: the v5 stream is server-sent events (the
transport checks ``text/event-stream``), the v4 stream is plain text with one part per
line (``framing = "lines"``, no content-type check). Both POST the conversation to
``base_url`` as is (an AI SDK route such as ``https://host/api/chat``).

v5 UI message stream, ``data: <json part>`` events ended by ``data: [DONE]`` (the end
marker; ``finish`` before it gives the finish reason):

* ``text-start`` / ``text-delta`` (``delta``) / ``text-end`` -> TextDelta;
  ``reasoning-start`` / ``reasoning-delta`` / ``reasoning-end`` (and the older whole
  ``reasoning`` part) -> ReasoningDelta. A delta for an id that never started is a
  PROTOCOL_ERROR (the SDK's own client rejects it too).
* ``tool-input-start`` (``toolCallId``, ``toolName``) -> ToolCallStarted;
  ``tool-input-delta`` (``inputTextDelta``) -> ToolCallDelta; ``tool-input-available``
  (``input``) records the parsed input (starting the call if it was not streamed);
  ``tool-output-available`` (``output``) / ``tool-output-error`` (``errorText``) ->
  ToolCallFinished with the result. A call that gets no output (a client-side tool)
  finishes at ``finish-step`` / ``finish``.
* ``finish`` (optional ``finishReason``: ``stop``, ``length``, ``content-filter``,
  ``tool-calls``, ``error``, ``other``, ``unknown``); ``error`` (``errorText``) ->
  PROVIDER_ERROR; ``abort`` -> INTERRUPTED.
* ``start``, ``start-step``, ``finish-step``, ``source-*``, ``file``, ``data-*``,
  ``message-metadata`` carry nothing to show and are ignored.

v4 data stream, ``TYPE:JSON`` lines ended by a ``d:`` part (the end marker):
``0:`` text, ``g:`` reasoning, ``b:`` tool call streaming start (``toolCallId``,
``toolName``), ``c:`` tool call delta (``argsTextDelta``), ``9:`` whole tool call
(``args``), ``a:`` tool result (``result``), ``e:`` finish step, ``d:`` finish message
(``finishReason``, ``usage.promptTokens`` / ``completionTokens``), ``3:`` error
(a string) -> PROVIDER_ERROR; ``f:`` start step, ``2:`` data, ``8:`` annotations,
``h:`` source, ``i:`` / ``j:`` redacted reasoning / signature, ``k:`` file are ignored.
A line that is not ``TYPE:JSON`` (or holds malformed JSON) is a PROTOCOL_ERROR, reported
when the next line arrives: when it was the last line, the connection most likely
dropped mid-line and ``end()`` reports INTERRUPTED instead.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from nbchat.config import Endpoint
from nbchat.dialects.base import (
    Dialect,
    ToolCallTracker,
    bearer_headers,
    usage_events,
)
from nbchat.errors import excerpt
from nbchat.events import (
    Finished,
    FinishReason,
    ReasoningDelta,
    StreamError,
    StreamEvent,
    TextDelta,
)
from nbchat.stream.base import HttpRequest
from nbchat.stream.sse import ServerSentEvent
from nbchat.wire import ChatMessageParam

_FINISH: dict[str, FinishReason | None] = {
    "stop": "stop",
    "length": "length",
    "content-filter": "content_filter",
    "tool-calls": "tool_calls",
    "error": "error",
    "other": None,
    "unknown": None,
}
_V4_LINE = re.compile(r"([0-9a-z]):(.*)", re.DOTALL)


def _finish(native: str | None) -> Finished:
    return Finished(_FINISH.get(native, "stop") if native else "stop", native)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


class _AISDKBase(Dialect):
    """Tool-call bookkeeping and the request shared by both AI SDK protocols."""

    sends_model = False  # the app's route picks the model

    def __init__(self) -> None:
        super().__init__()
        self._calls = ToolCallTracker()

    def build_request(
        self, endpoint: Endpoint, messages: Sequence[ChatMessageParam]
    ) -> HttpRequest:
        # v5 reads ``parts``; v4 servers read ``content``: send both.
        body: dict[str, Any] = {
            "messages": [
                {
                    "id": f"m{n}",
                    "role": m["role"],
                    "parts": [{"type": "text", "text": m["content"]}],
                    "content": m["content"],
                }
                for n, m in enumerate(messages)
            ]
        }
        return HttpRequest("POST", endpoint.base_url, body, bearer_headers(endpoint))

    def _start(self, call_id: Any, name: Any) -> list[StreamEvent]:
        key = _text(call_id)
        if key in self._calls:
            return [self.protocol_error(f"tool call {key!r} started twice")]
        return [self._calls.start(key, key, _text(name))]

    def _delta(self, call_id: Any, fragment: Any) -> list[StreamEvent]:
        key = _text(call_id)
        if not self._calls.is_open(key):
            return [self.protocol_error(f"tool input delta for unknown tool call {key!r}")]
        return [self._calls.delta(key, fragment)] if _text(fragment) else []

    def _available(self, call_id: Any, name: Any, given: Any) -> list[StreamEvent]:
        key = _text(call_id)
        out: list[StreamEvent] = [] if key in self._calls else self._start(key, name)
        if not self._calls.is_open(key):
            return out
        if isinstance(given, dict):
            out.extend(self._calls.set_input(key, given))
        return out

    def _output(self, call_id: Any, result: Any) -> list[StreamEvent]:
        key = _text(call_id)
        if key not in self._calls:
            return [self.protocol_error(f"tool output for unknown tool call {key!r}")]
        return [*self._calls.finish(key, result=result)]


class AISDKDialect(_AISDKBase):
    """Parser for one AI SDK 5 UI message stream; see the module docstring."""

    name = "ai-sdk"
    end_marker = "data: [DONE]"

    def __init__(self) -> None:
        super().__init__()
        self._open: dict[str, str] = {}  # text/reasoning part id -> "text" | "reasoning"
        self._native: str | None = None
        self._saw_finish = False

    def feed(self, event: ServerSentEvent) -> list[StreamEvent]:
        if self.finished or self.failed:
            return []
        if event.data.strip() == "[DONE]":
            self.finished = True
            native = self._native if self._native or not self._saw_finish else "stop"
            return [*self._calls.finish_open(), _finish(native)]
        part, problem = self.parse_object(event.data)
        if problem is not None:
            return [problem]
        kind = _text(part.get("type"))
        if kind in ("text-start", "reasoning-start"):
            self._open[_text(part.get("id"))] = kind.split("-")[0]
            return []
        if kind in ("text-delta", "reasoning-delta"):
            want = kind.split("-")[0]
            if self._open.get(_text(part.get("id"))) != want:
                return [self.protocol_error(f"{kind} for unknown part {part.get('id')!r}")]
            delta = _text(part.get("delta"))
            if not delta:
                return []
            return [TextDelta(delta) if want == "text" else ReasoningDelta(delta)]
        if kind in ("text-end", "reasoning-end"):
            self._open.pop(_text(part.get("id")), None)
            return []
        if kind == "reasoning":  # early v5 betas sent reasoning whole
            text = _text(part.get("text"))
            return [ReasoningDelta(text)] if text else []
        if kind == "tool-input-start":
            return self._start(part.get("toolCallId"), part.get("toolName"))
        if kind == "tool-input-delta":
            return self._delta(part.get("toolCallId"), part.get("inputTextDelta"))
        if kind in ("tool-input-available", "tool-input-error"):
            return self._available(part.get("toolCallId"), part.get("toolName"), part.get("input"))
        if kind == "tool-output-available":
            return self._output(part.get("toolCallId"), part.get("output"))
        if kind == "tool-output-error":
            return self._output(part.get("toolCallId"), {"error": _text(part.get("errorText"))})
        if kind == "finish-step":
            return [*self._calls.finish_open()]
        if kind == "finish":
            self._saw_finish = True
            if part.get("finishReason"):
                self._native = _text(part.get("finishReason"))
            return [*self._calls.finish_open()]
        if kind == "error":
            return [self.provider_error(_text(part.get("errorText")) or excerpt(event.data))]
        if kind == "abort":
            self.failed = True
            return [StreamError("INTERRUPTED", "the server aborted the reply (abort part)")]
        return []


class AISDKv4Dialect(_AISDKBase):
    """Parser for one AI SDK 4 data stream (``TYPE:JSON`` lines); see the module docstring."""

    name = "ai-sdk-v4"
    end_marker = "a d: (finish message) part"
    framing = "lines"

    def __init__(self) -> None:
        super().__init__()
        # A malformed line is reported when the next line arrives: if it was the last
        # one, the connection most likely dropped mid-line, and end() says INTERRUPTED.
        self._bad_line: StreamError | None = None

    def end(self) -> list[StreamEvent]:
        if self._bad_line is not None and not self.failed:
            self.failed = True
            return [
                StreamError(
                    "INTERRUPTED",
                    f"the stream ended in the middle of a line, before {self.end_marker}: "
                    "the reply may be incomplete",
                )
            ]
        return super().end()

    def feed(self, event: ServerSentEvent) -> list[StreamEvent]:
        if self.finished or self.failed:
            return []
        if self._bad_line is not None:
            self.failed = True
            return [self._bad_line]
        match = _V4_LINE.fullmatch(event.data.strip())
        if match is None:
            self._bad_line = StreamError(
                "PROTOCOL_ERROR",
                f"expected a TYPE:JSON line of the AI SDK data stream, got {excerpt(event.data)!r}",
            )
            return []
        code, payload = match.groups()
        value, problem = self.parse_json(payload)
        if problem is not None:
            self.failed = False
            self._bad_line = problem
            return []
        if code == "0":
            return [TextDelta(value)] if _text(value) else []
        if code == "g":
            return [ReasoningDelta(value)] if _text(value) else []
        if code == "3":
            return [self.provider_error(value if _text(value) else excerpt(payload))]
        if code not in "9abcde":
            return []  # f, 2, 8, h, i, j, k and parts added later
        if not isinstance(value, dict):
            return [self.protocol_error(f"expected a JSON object in {code}: {excerpt(payload)!r}")]
        if code == "b":
            return self._start(value.get("toolCallId"), value.get("toolName"))
        if code == "c":
            return self._delta(value.get("toolCallId"), value.get("argsTextDelta"))
        if code == "9":
            return self._available(
                value.get("toolCallId"), value.get("toolName"), value.get("args")
            )
        if code == "a":
            return self._output(value.get("toolCallId"), value.get("result"))
        if code == "e":
            return [*self._calls.finish_open()]
        # d: finish message
        self.finished = True
        out: list[StreamEvent] = [*self._calls.finish_open()]
        out += usage_events(value.get("usage"), "promptTokens", "completionTokens")
        reason = value.get("finishReason")
        out.append(_finish(reason if isinstance(reason, str) else None))
        return out
