"""OpenAI Chat Completions streams (also Ollama /v1, OpenRouter, vLLM, llama.cpp, LM Studio).

Wire format: ``data:`` events holding ``chat.completion.chunk`` objects, ended by
``data: [DONE]``. Text and refusals arrive in ``choices[0].delta``; tool calls arrive
as fragments keyed by ``index`` (Ollama sends a whole call in one chunk); usage comes
in a chunk with ``choices: []`` (OpenRouter attaches it to a chunk with a choice); an
error may arrive in-band as a top-level ``error`` object (OpenRouter also sets
``finish_reason: "error"`` and then closes without ``[DONE]``). Only choice 0 is read.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from json.decoder import scanstring  # type: ignore[attr-defined]
from typing import Any, ClassVar

from nbchat.config import Endpoint
from nbchat.dialects.base import Dialect, load_json, url_join
from nbchat.errors import excerpt
from nbchat.events import (
    Finished,
    FinishReason,
    RefusalDelta,
    StreamError,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    ToolCallFinished,
    ToolCallStarted,
    Usage,
)
from nbchat.stream.base import HttpRequest
from nbchat.stream.sse import ServerSentEvent
from nbchat.wire import SAMPLING_FIELDS, ChatMessageParam, ToolChoice, ToolDef

_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
    "error": "error",
}


def error_text(error: Any) -> str:
    """A one-line description of an OpenAI-style error object (or anything else)."""
    if isinstance(error, dict):
        message = str(error.get("message") or "").strip()
        label = error.get("code") or error.get("type")
        if message and label:
            return f"{label}: {message}"
        if message:
            return message
        return excerpt(json.dumps(error))
    return excerpt(str(error))


#: a delta with only these keys (and no finish, usage or error) takes the text-only path
_TEXT_ONLY = frozenset({"content", "role"})


def _message(message: ChatMessageParam) -> dict[str, Any]:
    out: dict[str, Any] = dict(message)
    if message.get("tool_calls") and not message["content"]:
        out["content"] = None  # an assistant message that only calls tools
    return out


class OpenAIChatDialect(Dialect):
    """Parser for one Chat Completions stream; see the module docstring."""

    name = "openai-chat"
    end_marker = "data: [DONE]"

    def __init__(self) -> None:
        super().__init__()
        self._calls: dict[int, list[str]] = {}
        self._finish: str | None = None
        #: the text around the content of this stream's text-only chunks (see _learn),
        #: and how many chunks it has read since it was learned
        self._shape: tuple[str, str] | None = None
        self._shape_hits = 0

    def build_request(
        self, endpoint: Endpoint, messages: Sequence[ChatMessageParam]
    ) -> HttpRequest:
        headers = dict(endpoint.headers)
        if endpoint.api_key:
            headers["Authorization"] = f"Bearer {endpoint.api_key}"
        body: dict[str, Any] = {
            "model": endpoint.model,
            "messages": [_message(m) for m in messages],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        url = url_join(endpoint.base_url, "chat/completions")
        return HttpRequest("POST", url, body, headers)

    client_tools = True
    sampling: ClassVar[Mapping[str, str]] = {key: key for key in SAMPLING_FIELDS}

    def tool_entry(self, tool: ToolDef) -> dict[str, Any]:
        return {"type": "function", "function": dict(tool)}

    def tool_choice_value(self, name: str | None, choice: ToolChoice) -> Any:
        return {"type": "function", "function": {"name": name}} if name else choice

    def feed(self, event: ServerSentEvent) -> list[StreamEvent]:
        data = event.data
        shape = self._shape
        if shape is not None and data.startswith(shape[0]) and data.endswith(shape[1]):
            # The hottest path: the chunk is a learned text-only chunk but for its
            # content's string literal, so it parses the same, with this text.
            literal = data[len(shape[0]) : len(data) - len(shape[1])]
            if literal[:1] == '"' and "\\u" not in literal and not (self.finished or self.failed):
                try:
                    text, end = scanstring(literal, 1)
                except ValueError:
                    end = -1
                if end == len(literal):
                    self._shape_hits += 1
                    return [TextDelta(text)] if text else []
        if "\\u" not in data and not (self.finished or self.failed):
            # The hot path: one choice whose delta holds only text (and maybe a role),
            # no escapes to look at closely. Anything else is parsed by _feed_any.
            try:
                chunk = load_json(data)
            except ValueError:
                return self._feed_any(data)
            choices = chunk.get("choices") if type(chunk) is dict else None
            if type(choices) is list and len(choices) == 1:
                choice = choices[0]
                delta = choice.get("delta") if type(choice) is dict else None
                if (
                    type(delta) is dict
                    and delta.keys() <= _TEXT_ONLY
                    and not choice.get("finish_reason")
                    and choice.get("index", 0) == 0
                    and chunk.get("usage") is None  # (OpenAI: "usage": null on each)
                    and "error" not in chunk
                ):
                    content = delta.get("content")
                    if type(content) is str and content:
                        if shape is None or self._shape_hits:
                            # First, or the surroundings changed (Ollama's "created"
                            # ticks each second): learn them (again). A shape that never
                            # matched is not learned anew: surroundings that change on
                            # every chunk would cost a lesson each.
                            self._learn(data, content, chunk)
                        return [TextDelta(content)]
                    return []
        return self._feed_any(data)

    def _learn(self, data: str, content: str, chunk: dict[str, Any]) -> None:
        """Keep the text before and after ``content``'s string literal in ``data`` (a
        text-only chunk, parsed as ``chunk``) when it is certain that any chunk made of
        that text around another string literal parses like ``chunk`` with that string:
        ``"content":`` occurs once, and the text around an empty literal parses to
        ``chunk`` with its content emptied. Replacing one string token by another leaves
        the rest of a JSON parse as it was."""
        key = data.find('"content":')
        if key < 0 or data.find('"content":', key + 1) >= 0:
            return
        start = key + len('"content":')
        while data[start : start + 1] in (" ", "\t", "\n", "\r"):
            start += 1
        if data[start : start + 1] != '"':
            return
        try:
            value, end = scanstring(data, start + 1)
            probe = json.loads(data[:start] + '""' + data[end:])
            delta = probe["choices"][0]["delta"]
            if delta["content"] != "":  # the literal was not the one the parse kept
                return
            delta["content"] = content
        except (ValueError, KeyError, IndexError, TypeError):
            return
        if value == content and probe == chunk:
            self._shape = (data[:start], data[end:])
            self._shape_hits = 0

    def _feed_any(self, data: str) -> list[StreamEvent]:
        if self.finished or self.failed:
            return []
        if data[:1] != "{" and data.strip() == "[DONE]":
            self.finished = True
            native = self._finish
            return [*self._finish_calls(), Finished(_FINISH.get(native or "stop"), native)]
        chunk, problem = self.parse_json(data)
        if problem is not None:
            return [problem]
        if not isinstance(chunk, dict):
            self.failed = True
            return [StreamError("PROTOCOL_ERROR", f"expected a JSON object, got {excerpt(data)!r}")]
        out: list[StreamEvent] = []
        choices = chunk.get("choices") or []
        for choice in choices:
            if isinstance(choice, dict) and choice.get("index", 0) == 0:
                out.extend(self._choice(choice))
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            out.append(Usage(usage.get("prompt_tokens"), usage.get("completion_tokens")))
        if chunk.get("error") is not None:
            self.failed = True
            out.append(StreamError("PROVIDER_ERROR", error_text(chunk["error"])))
            if self._finish:  # OpenRouter's finish_reason "error": keep the native word
                out.append(Finished("error", self._finish))
        return out

    def _choice(self, choice: dict[str, Any]) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        delta = choice.get("delta") or {}
        content = delta.get("content")
        if isinstance(content, str) and content:
            out.append(TextDelta(content))
        refusal = delta.get("refusal")
        if isinstance(refusal, str) and refusal:
            out.append(RefusalDelta(refusal))
        for call in delta.get("tool_calls") or []:
            out.extend(self._tool_call(call))
        reason = choice.get("finish_reason")
        if reason:
            self._finish = str(reason)
            out.extend(self._finish_calls())
        return out

    def _tool_call(self, call: dict[str, Any]) -> list[StreamEvent]:
        index = int(call.get("index", len(self._calls)))
        function = call.get("function") or {}
        out: list[StreamEvent] = []
        if index not in self._calls:
            self._calls[index] = []
            out.append(
                ToolCallStarted(index, str(call.get("id") or ""), str(function.get("name") or ""))
            )
        fragment = function.get("arguments")
        if isinstance(fragment, str) and fragment:
            self._calls[index].append(fragment)
            out.append(ToolCallDelta(index, fragment))
        return out

    def _finish_calls(self) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        for index, parts in sorted(self._calls.items()):
            raw = "".join(parts)
            try:
                parsed = json.loads(raw) if raw.strip() else {}
            except json.JSONDecodeError:
                parsed = None
            out.append(ToolCallFinished(index, parsed if isinstance(parsed, dict) else {}))
        self._calls.clear()
        return out
