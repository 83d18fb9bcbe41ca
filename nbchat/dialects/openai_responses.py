"""OpenAI Responses API streams (``POST /v1/responses`` with ``"stream": true``).

Wire format: ``event: <type>`` + ``data: <json>`` server-sent events; the JSON
``type`` repeats the event name (it wins when both are present). Handled:

* ``response.output_text.delta`` -> TextDelta; ``response.refusal.delta`` ->
  RefusalDelta; ``response.reasoning_summary_text.delta`` and
  ``response.reasoning_text.delta`` -> ReasoningDelta.
* ``response.output_item.added`` with a ``function_call`` item -> ToolCallStarted
  (``call_id``, ``name``); ``response.function_call_arguments.delta`` -> ToolCallDelta
  (a delta for an item that was never added is a PROTOCOL_ERROR);
  ``response.function_call_arguments.done`` fills in arguments that were not streamed;
  ``response.output_item.done`` with a ``function_call`` item -> ToolCallFinished.
* ``response.completed`` (end marker): usage from ``response.usage`` (``input_tokens``,
  ``output_tokens``); finish ``stop``, or ``tool_calls`` when the reply called tools.
* ``response.incomplete`` (end marker): ``incomplete_details.reason``
  ``max_output_tokens`` -> length, ``content_filter`` -> content_filter.
* ``response.failed`` (end marker) -> PROVIDER_ERROR from ``response.error`` unless an
  ``error`` event already said why; finish ``error``.
* ``error`` -> PROVIDER_ERROR naming the code/type and message (top-level fields or an
  ``error`` object). A ``response.failed`` that follows still records the final status.
* ``response.created`` / ``in_progress`` / ``queued``, ``content_part.*``,
  ``output_text.done``, annotations and other events are ignored.

``native_reason`` is the final ``response.status`` (``completed`` / ``incomplete`` /
``failed``). Request: ``POST {base_url}/responses`` with ``input`` messages, system
prompts joined into ``instructions``, Bearer auth.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from nbchat.config import Endpoint
from nbchat.dialects.base import (
    Dialect,
    ToolCallTracker,
    bearer_headers,
    error_label,
    parse_arguments,
    system_text,
    url_join,
    usage_events,
)
from nbchat.events import (
    Finished,
    FinishReason,
    ReasoningDelta,
    RefusalDelta,
    StreamError,
    StreamEvent,
    TextDelta,
)
from nbchat.stream.base import HttpRequest
from nbchat.stream.sse import ServerSentEvent
from nbchat.wire import ChatMessageParam, ToolChoice, ToolDef

_INCOMPLETE: dict[str, FinishReason] = {
    "max_output_tokens": "length",
    "max_tokens": "length",
    "content_filter": "content_filter",
}
_REASONING = ("response.reasoning_summary_text.delta", "response.reasoning_text.delta")
_ENDS = ("response.completed", "response.incomplete", "response.failed")


def _items(messages: Sequence[ChatMessageParam]) -> list[dict[str, Any]]:
    """The ``input`` items: messages, and an assistant's tool calls as ``function_call``
    items answered by ``function_call_output`` items."""
    out: list[dict[str, Any]] = []
    for m in messages:
        role = m["role"]
        if role == "tool":
            out.append(
                {
                    "type": "function_call_output",
                    "call_id": m.get("tool_call_id", ""),
                    "output": m["content"],
                }
            )
            continue
        if role not in ("user", "assistant"):
            continue
        if m["content"] or not m.get("tool_calls"):
            out.append({"role": role, "content": m["content"]})
        for call in m.get("tool_calls", []):
            function = call["function"]
            out.append(
                {
                    "type": "function_call",
                    "call_id": call["id"],
                    "name": function["name"],
                    "arguments": function["arguments"],
                }
            )
    return out


class OpenAIResponsesDialect(Dialect):
    """Parser for one Responses API stream; see the module docstring."""

    name = "openai-responses"
    end_marker = "event: response.completed"

    def __init__(self) -> None:
        super().__init__()
        self._calls = ToolCallTracker()
        self._by_index: dict[int, str] = {}  # output_index -> item id of a function call
        self._error_reported = False

    def build_request(
        self, endpoint: Endpoint, messages: Sequence[ChatMessageParam]
    ) -> HttpRequest:
        body: dict[str, Any] = {
            "model": endpoint.model,
            "input": _items(messages),
            "stream": True,
        }
        instructions = system_text(messages)
        if instructions:
            body["instructions"] = instructions
        url = url_join(endpoint.base_url, "responses")
        return HttpRequest("POST", url, body, bearer_headers(endpoint))

    client_tools = True
    sampling: ClassVar[Mapping[str, str]] = {
        "temperature": "temperature",
        "top_p": "top_p",
        "parallel_tool_calls": "parallel_tool_calls",
    }

    def tool_entry(self, tool: ToolDef) -> dict[str, Any]:
        return {"type": "function", **tool}

    def tool_choice_value(self, name: str | None, choice: ToolChoice) -> Any:
        return {"type": "function", "name": name} if name else choice

    def feed(self, event: ServerSentEvent) -> list[StreamEvent]:
        if self.finished or (self.failed and not self._error_reported):
            return []
        data, problem = self.parse_object(event.data)
        if problem is not None:
            return [problem]
        kind = str(data.get("type") or event.event)
        if self.failed:
            # After an ``error`` event only the final status still matters.
            if kind in _ENDS:
                self.finished = True
                return [Finished("error", _status(data, kind))]
            return []
        if kind == "response.output_text.delta":
            return _piece(TextDelta, data.get("delta"))
        if kind == "response.refusal.delta":
            return _piece(RefusalDelta, data.get("delta"))
        if kind in _REASONING:
            return _piece(ReasoningDelta, data.get("delta"))
        if kind == "response.output_item.added":
            return self._item_added(data)
        if kind == "response.function_call_arguments.delta":
            key = self._key(data)
            if key is None or not self._calls.is_open(key):
                return [self.protocol_error(f"arguments delta for unknown item {_where(data)}")]
            delta = data.get("delta")
            return [self._calls.delta(key, delta)] if isinstance(delta, str) and delta else []
        if kind == "response.function_call_arguments.done":
            key = self._key(data)
            arguments = data.get("arguments")
            unstreamed = key is not None and self._calls.is_open(key) and not self._calls.raw(key)
            if key is not None and unstreamed and isinstance(arguments, str) and arguments:
                return [self._calls.delta(key, arguments)]
            return []
        if kind == "response.output_item.done":
            return self._item_done(data)
        if kind == "error":
            self._error_reported = True
            error = data.get("error") or {k: v for k, v in data.items() if k != "type"}
            return [self.provider_error(error_label(error))]
        if kind in _ENDS:
            return self._end(data, kind)
        return []

    def _key(self, data: dict[str, Any]) -> str | None:
        item_id = data.get("item_id")
        if isinstance(item_id, str) and item_id in self._calls:
            return item_id
        index = data.get("output_index")
        return self._by_index.get(index) if isinstance(index, int) else None

    def _item_added(self, data: dict[str, Any]) -> list[StreamEvent]:
        item = data.get("item")
        if not isinstance(item, dict) or item.get("type") != "function_call":
            return []
        key = str(item.get("id") or item.get("call_id") or f"#{data.get('output_index')}")
        if key in self._calls:
            return [self.protocol_error(f"output item {key} added twice")]
        index = data.get("output_index")
        if isinstance(index, int):
            self._by_index[index] = key
        call_id = str(item.get("call_id") or item.get("id") or "")
        out: list[StreamEvent] = [self._calls.start(key, call_id, str(item.get("name") or ""))]
        arguments = item.get("arguments")
        if isinstance(arguments, str) and arguments:
            out.append(self._calls.delta(key, arguments))
        return out

    def _item_done(self, data: dict[str, Any]) -> list[StreamEvent]:
        item = data.get("item")
        if not isinstance(item, dict) or item.get("type") != "function_call":
            return []
        out: list[StreamEvent] = []
        key = self._key({"item_id": item.get("id"), "output_index": data.get("output_index")})
        if key is None:  # a whole call that was never announced: start it now
            out.extend(self._item_added(data))
            key = self._key({"item_id": item.get("id"), "output_index": data.get("output_index")})
            if key is None or self.failed:
                return out
        arguments = item.get("arguments")
        if isinstance(arguments, str) and arguments and not self._calls.raw(key):
            out.append(self._calls.delta(key, arguments))
        if isinstance(arguments, str) and arguments.strip():
            out.extend(self._calls.set_input(key, parse_arguments(arguments)))
        out.extend(self._calls.finish(key))
        return out

    def _end(self, data: dict[str, Any], kind: str) -> list[StreamEvent]:
        self.finished = True
        response = data.get("response")
        response = response if isinstance(response, dict) else {}
        out: list[StreamEvent] = [*self._calls.finish_open()]
        out += usage_events(response.get("usage"))
        status = _status(data, kind)
        if kind == "response.failed":
            error = response.get("error")
            message = error_label(error) if error else "the response failed (no error given)"
            out.append(StreamError("PROVIDER_ERROR", message))
            self.failed = True
            out.append(Finished("error", status))
        elif kind == "response.incomplete":
            details = response.get("incomplete_details")
            why = details.get("reason") if isinstance(details, dict) else None
            out.append(Finished(_INCOMPLETE.get(str(why), "length"), status))
        else:
            out.append(Finished("tool_calls" if len(self._calls) else "stop", status))
        return out


def _status(data: dict[str, Any], kind: str) -> str:
    response = data.get("response")
    if isinstance(response, dict) and isinstance(response.get("status"), str):
        return str(response["status"])
    return kind.removeprefix("response.")


def _piece(
    cls: type[TextDelta] | type[RefusalDelta] | type[ReasoningDelta], delta: Any
) -> list[StreamEvent]:
    return [cls(delta)] if isinstance(delta, str) and delta else []


def _where(data: dict[str, Any]) -> str:
    return str(data.get("item_id") or data.get("output_index"))
