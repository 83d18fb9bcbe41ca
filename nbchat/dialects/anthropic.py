"""Anthropic Messages streams (``POST /v1/messages`` with ``"stream": true``).

Wire format: named server-sent events whose JSON ``type`` repeats the event name.
Handled:

* ``message_start``: ``message.usage`` gives ``input_tokens`` (and a first
  ``output_tokens``).
* ``content_block_start`` / ``content_block_delta`` / ``content_block_stop`` keyed by
  ``index``: ``text`` blocks (``text_delta``), ``tool_use`` and ``server_tool_use``
  blocks (``input_json_delta`` fragments of the tool input), ``thinking`` blocks
  (``thinking_delta`` -> ReasoningDelta; ``signature_delta`` ignored);
  ``redacted_thinking`` and other block types are accepted and ignored, as are
  ``citations_delta``. A delta or stop for a block that never started, or a second
  start of the same index, is a PROTOCOL_ERROR.
* ``message_delta``: ``delta.stop_reason`` (``end_turn`` / ``stop_sequence`` /
  ``pause_turn`` -> stop, ``max_tokens`` / ``model_context_window_exceeded`` -> length,
  ``tool_use`` -> tool_calls, ``refusal`` -> refusal) and the cumulative
  ``usage.output_tokens``.
* ``message_stop``: the end marker.
* ``ping``: keep-alive, ignored.
* ``error``: ``{"error": {"type", "message"}}`` (e.g. ``overloaded_error``) ->
  PROVIDER_ERROR; the stream ends there without ``message_stop``.

Request: ``POST {base_url}/messages`` with ``x-api-key`` and ``anthropic-version``
headers; system messages are lifted out of the list into ``system``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from nbchat.config import Endpoint
from nbchat.dialects.base import (
    JSONDialect,
    ToolCallTracker,
    error_label,
    system_text,
    tool_input,
    url_join,
    usage_events,
)
from nbchat.errors import ConfigurationError
from nbchat.events import (
    Finished,
    FinishReason,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
)
from nbchat.stream.base import HttpRequest
from nbchat.stream.sse import ServerSentEvent
from nbchat.wire import ChatMessageParam, ToolChoice, ToolDef

API_VERSION = "2023-06-01"
MAX_TOKENS = 4096

_FINISH: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "refusal",
}
_TOOL_BLOCKS = ("tool_use", "server_tool_use")


def _messages(messages: Sequence[ChatMessageParam]) -> list[dict[str, Any]]:
    """Messages in Anthropic's form: an assistant's tool calls are ``tool_use`` blocks,
    and the results that answer them one user message of ``tool_result`` blocks."""
    out: list[dict[str, Any]] = []
    for m in messages:
        role = m["role"]
        if role == "tool":
            block = {
                "type": "tool_result",
                "tool_use_id": m.get("tool_call_id", ""),
                "content": m["content"],
            }
            last = out[-1] if out else None
            if last and last["role"] == "user" and isinstance(last["content"], list):
                last["content"].append(block)
            else:
                out.append({"role": "user", "content": [block]})
        elif role == "assistant" and m.get("tool_calls"):
            blocks: list[dict[str, Any]] = []
            if m["content"]:
                blocks.append({"type": "text", "text": m["content"]})
            for call in m.get("tool_calls", []):
                function = call["function"]
                blocks.append(
                    {
                        "type": "tool_use",
                        "id": call["id"],
                        "name": function["name"],
                        "input": tool_input(function["arguments"]),
                    }
                )
            out.append({"role": "assistant", "content": blocks})
        elif role in ("user", "assistant"):
            out.append({"role": role, "content": m["content"]})
    return out


class AnthropicDialect(JSONDialect):
    """Parser for one Anthropic Messages stream; see the module docstring."""

    name = "anthropic"
    end_marker = "event: message_stop"

    def __init__(self) -> None:
        super().__init__()
        self._blocks: dict[int, str] = {}  # index -> block type, for started blocks
        self._calls = ToolCallTracker()
        self._stop_reason: str | None = None

    def build_request(
        self, endpoint: Endpoint, messages: Sequence[ChatMessageParam]
    ) -> HttpRequest:
        headers = dict(endpoint.headers)
        if endpoint.api_key:
            headers["x-api-key"] = endpoint.api_key
        headers["anthropic-version"] = API_VERSION
        body: dict[str, Any] = {
            "model": endpoint.model,
            "max_tokens": MAX_TOKENS,
            "stream": True,
            "messages": _messages(messages),
        }
        system = system_text(messages)
        if system:
            body["system"] = system
        url = url_join(endpoint.base_url, "messages")
        return HttpRequest("POST", url, body, headers)

    client_tools = True
    sampling: ClassVar[Mapping[str, str]] = {
        "temperature": "temperature",
        "top_p": "top_p",
        "stop": "stop_sequences",
    }

    def with_sampling(self, request: HttpRequest, values: Mapping[str, Any]) -> HttpRequest:
        # Anthropic's stop_sequences is always a list; OpenAI's stop may be one string.
        stop = values.get("stop")
        if isinstance(stop, str):
            values = {**values, "stop": [stop]}
        return super().with_sampling(request, values)

    def tool_entry(self, tool: ToolDef) -> dict[str, Any]:
        return {
            "name": tool["name"],
            "description": tool["description"],
            "input_schema": tool["parameters"],
        }

    def tool_choice_value(self, name: str | None, choice: ToolChoice) -> Any:
        if name:
            return {"type": "tool", "name": name}
        kinds = {"required": "any", "none": "none"}
        if choice not in kinds:
            raise ConfigurationError(f"tool_choice {choice!r}: use auto, none, required or a tool")
        return {"type": kinds[str(choice)]}

    def on_object(self, event: ServerSentEvent, data: dict[str, Any]) -> list[StreamEvent]:
        kind = data.get("type") or event.event
        if kind == "message_start":
            message = data.get("message") or {}
            usage = message.get("usage") if isinstance(message, dict) else None
            return self._usage(usage)
        if kind == "content_block_start":
            return self._block_start(data)
        if kind == "content_block_delta":
            return self._block_delta(data)
        if kind == "content_block_stop":
            return self._block_stop(data)
        if kind == "message_delta":
            delta = data.get("delta") or {}
            if isinstance(delta, dict) and delta.get("stop_reason"):
                self._stop_reason = str(delta["stop_reason"])
            return self._usage(data.get("usage"))
        if kind == "message_stop":
            self.finished = True
            native = self._stop_reason
            reason: FinishReason = _FINISH.get(native, "stop") if native else "stop"
            return [*self._calls.finish_open(), Finished(reason, native)]
        if kind == "error":
            return [self.provider_error(error_label(data.get("error", data)))]
        return []  # ping, and event types added after this was written

    def _usage(self, usage: Any) -> list[StreamEvent]:
        return usage_events(usage)

    def _index(self, data: dict[str, Any]) -> int | None:
        index = data.get("index")
        return index if isinstance(index, int) and not isinstance(index, bool) else None

    def _block_start(self, data: dict[str, Any]) -> list[StreamEvent]:
        index = self._index(data)
        block = data.get("content_block")
        if index is None or not isinstance(block, dict):
            return [self.protocol_error("content_block_start without an index or content_block")]
        if index in self._blocks:
            return [self.protocol_error(f"content block {index} started twice")]
        kind = str(block.get("type") or "")
        self._blocks[index] = kind
        if kind == "text":
            text = block.get("text")
            return [TextDelta(text)] if isinstance(text, str) and text else []
        if kind == "thinking":
            thinking = block.get("thinking")
            return [ReasoningDelta(thinking)] if isinstance(thinking, str) and thinking else []
        if kind in _TOOL_BLOCKS:
            key = str(index)
            out: list[StreamEvent] = [
                self._calls.start(key, str(block.get("id") or ""), str(block.get("name") or ""))
            ]
            given = block.get("input")
            if isinstance(given, dict) and given:  # a whole input, not streamed
                out.extend(self._calls.set_input(key, given))
            return out
        return []

    def _block_delta(self, data: dict[str, Any]) -> list[StreamEvent]:
        index = self._index(data)
        if index is None or index not in self._blocks:
            return [self.protocol_error(f"content_block_delta for unknown block {index}")]
        delta = data.get("delta")
        if not isinstance(delta, dict):
            return [self.protocol_error(f"content_block_delta {index} without a delta")]
        kind = delta.get("type")
        block = self._blocks[index]
        if kind == "text_delta":
            text = delta.get("text")
            return [TextDelta(text)] if isinstance(text, str) and text else []
        if kind == "thinking_delta":
            thinking = delta.get("thinking")
            return [ReasoningDelta(thinking)] if isinstance(thinking, str) and thinking else []
        if kind == "input_json_delta":
            if block not in _TOOL_BLOCKS or not self._calls.is_open(str(index)):
                return [self.protocol_error(f"input_json_delta for {block!r} block {index}")]
            fragment = delta.get("partial_json")
            if isinstance(fragment, str) and fragment:
                return [self._calls.delta(str(index), fragment)]
            return []
        return []  # signature_delta, citations_delta

    def _block_stop(self, data: dict[str, Any]) -> list[StreamEvent]:
        index = self._index(data)
        if index is None or index not in self._blocks:
            return [self.protocol_error(f"content_block_stop for unknown block {index}")]
        if str(index) in self._calls:
            return [*self._calls.finish(str(index))]
        return []
