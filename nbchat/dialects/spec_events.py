"""Generic JSON event streams of the chat endpoint specs (``events``).

Two shapes share one parser. The event's name is the SSE ``event:`` field when it is
not the default ``message``, else the JSON ``type`` field, else ``message``: servers
that send either one (or both) work.

Spec 001 (``POST /sessions/{id}/chat``, hono ``streamSSE``):

* ``chunk`` ``{"type": "chunk", "content": str}`` -> TextDelta.
* ``complete`` ``{"type": "complete", "content": str}`` (end marker). ``content`` is
  the full reply: it becomes text only when no chunk streamed any (or for the part
  that extends what was streamed), so text is never doubled. A non-text ``result``
  becomes a :class:`~nbchat.events.Result`.
* ``error`` ``{"type": "error", "error": {"message", "code"}}`` -> PROVIDER_ERROR.

Spec 002 (SigmaSight ``/chat/send``):

* ``start`` ``{conversation_id, mode}``: ignored.
* ``message`` ``{"delta": str, "role"}`` -> TextDelta.
* ``tool_started`` ``{"tool_name", ...}`` -> ToolCallStarted (``tool_call_id`` / ``id``
  when given, arguments from ``arguments`` / ``args`` / ``input`` when given).
* ``tool_finished`` ``{"tool_name", "duration_ms", "result"}`` -> ToolCallFinished
  with ``result`` and ``duration_s``; matched to the oldest unfinished call of that id
  or name. A finish for a tool that never started is a PROTOCOL_ERROR.
* ``done`` ``{tool_calls_count}`` (end marker) -> Finished ``stop``.
* ``error`` ``{"message", "code"}`` (or an ``error`` object or string) -> PROVIDER_ERROR.

Spec 000 (``POST /functions/v1/openrouter-chat``, unnamed events):

* ``{"content": str}`` -> TextDelta.
* ``{"error": str | {message, code}}`` -> PROVIDER_ERROR.
* ``{"done": true}`` or ``[DONE]`` (end marker) -> Finished ``stop``.

Other event names (heartbeats, status) are ignored. ``native_reason`` is the name of
the end event (``complete`` / ``done`` / ``[DONE]``). Optional ``usage`` objects (``input_tokens`` /
``output_tokens`` or ``prompt_tokens`` / ``completion_tokens``) are read on any event.

Request: ``POST`` to the URL as given (a session's URL, ``.../sessions/<id>``, gets
``/chat`` appended: spec 001's route) with ``{"message": <last user message>}``, or the
body ``Chat(request_body=...)`` makes (spec 002:
``{"conversation_id": "...", "text": "{message}"}``); Bearer auth when a key is set.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from nbchat.config import Endpoint
from nbchat.dialects.base import (
    JSONDialect,
    ToolCallTracker,
    bearer_headers,
    error_label,
    last_user_text,
    request_body,
    token_count,
)
from nbchat.events import Finished, Result, StreamEvent, TextDelta, Usage
from nbchat.stream.base import HttpRequest
from nbchat.stream.sse import ServerSentEvent
from nbchat.wire import ChatMessageParam

#: a spec 001 session's URL (``.../sessions/<id>``): chats go to its ``/chat`` route
_SESSION = re.compile(r"/sessions/[^/?#]+$")


def event_name(event: ServerSentEvent, data: dict[str, Any]) -> str:
    """The SSE event name unless it is the default, else the JSON ``type``."""
    if event.event and event.event != "message":
        return event.event
    kind = data.get("type")
    return kind if isinstance(kind, str) and kind else "message"


def usage_of(data: dict[str, Any]) -> list[StreamEvent]:
    """A Usage event for an optional ``usage`` object in either naming."""
    usage = data.get("usage")
    if not isinstance(usage, dict):
        return []
    tokens_in = token_count(usage.get("input_tokens", usage.get("prompt_tokens")))
    tokens_out = token_count(usage.get("output_tokens", usage.get("completion_tokens")))
    if tokens_in is None and tokens_out is None:
        return []
    return [Usage(tokens_in, tokens_out)]


class SpecEventsDialect(JSONDialect):
    """Parser for one spec 001 / spec 002 event stream; see the module docstring."""

    name = "events"
    sends_model = False
    end_marker = "a complete or done event"

    def __init__(self) -> None:
        super().__init__()
        self._streamed: list[str] = []
        self._calls = ToolCallTracker()

    def build_request(
        self, endpoint: Endpoint, messages: Sequence[ChatMessageParam]
    ) -> HttpRequest:
        url = endpoint.base_url.rstrip("/")
        if _SESSION.search(url):  # spec 001's session resource: its chat route
            url += "/chat"
        body = request_body(endpoint, messages, {"message": last_user_text(messages)})
        return HttpRequest("POST", url, body, bearer_headers(endpoint))

    def feed(self, event: ServerSentEvent) -> list[StreamEvent]:
        if event.data.strip() == "[DONE]" and not (self.finished or self.failed):
            return self._complete({}, "[DONE]")  # an OpenAI-style end some proxies send
        return super().feed(event)

    def on_object(self, event: ServerSentEvent, data: dict[str, Any]) -> list[StreamEvent]:
        kind = event_name(event, data)
        out = usage_of(data)
        if kind in ("chunk", "message"):
            text = _first_text(data, "content", "delta", "text")
            if text:
                self._streamed.append(text)
                out.append(TextDelta(text))
            if kind == "message" and data.get("error"):  # spec 000's in-band error
                error = data["error"]
                if isinstance(error, str) and isinstance(data.get("code"), str):
                    error = {"message": error, "code": data["code"]}
                out.append(self.provider_error(error_label(error)))
            elif kind == "message" and data.get("done") is True:  # spec 000's end
                out.extend(self._complete({}, "done"))
        elif kind == "tool_started":
            out.extend(self._tool_started(data))
        elif kind == "tool_finished":
            out.extend(self._tool_finished(data))
        elif kind in ("complete", "done"):
            out.extend(self._complete(data, kind))
        elif kind == "error":
            error = data.get("error")
            if error is None:
                error = {k: v for k, v in data.items() if k != "type"}
            out.append(self.provider_error(error_label(error)))
        return out

    def _tool_started(self, data: dict[str, Any]) -> list[StreamEvent]:
        name = _first_text(data, "tool_name", "name", "tool")
        call_id = _first_text(data, "tool_call_id", "id", "call_id")
        key = f"{call_id or name}#{len(self._calls)}"
        out: list[StreamEvent] = [self._calls.start(key, call_id, name)]
        arguments = next((data[k] for k in ("arguments", "args", "input") if k in data), None)
        if isinstance(arguments, dict):
            out.extend(self._calls.set_input(key, arguments))
        elif isinstance(arguments, str) and arguments:
            out.append(self._calls.delta(key, arguments))
        return out

    def _tool_finished(self, data: dict[str, Any]) -> list[StreamEvent]:
        name = _first_text(data, "tool_name", "name", "tool")
        call_id = _first_text(data, "tool_call_id", "id", "call_id")
        wanted = call_id or name
        key = next((k for k in self._calls.open_keys() if k.rsplit("#", 1)[0] == wanted), None)
        if key is None and call_id and name:  # started by name, finished with an id
            key = next((k for k in self._calls.open_keys() if k.rsplit("#", 1)[0] == name), None)
        if key is None:
            return [self.protocol_error(f"tool_finished for {wanted!r}, which never started")]
        duration = data.get("duration_ms")
        seconds = None
        if isinstance(duration, (int, float)) and not isinstance(duration, bool) and duration >= 0:
            seconds = duration / 1000
        return [*self._calls.finish(key, result=data.get("result"), duration_s=seconds)]

    def _complete(self, data: dict[str, Any], kind: str) -> list[StreamEvent]:
        self.finished = True
        out: list[StreamEvent] = [*self._calls.finish_open()]
        full = data.get("content")
        result = data.get("result")
        if not isinstance(full, str) and isinstance(result, str):
            full = result
        elif result is not None:
            out.append(Result(result))
        if isinstance(full, str) and full:
            streamed = "".join(self._streamed)
            if not streamed:
                out.append(TextDelta(full))
            elif full.startswith(streamed) and len(full) > len(streamed):
                out.append(TextDelta(full[len(streamed) :]))
        out.append(Finished("stop", kind))
        return out


def _first_text(data: dict[str, Any], *keys: str) -> str:
    for key in keys:
        value = data.get(key)
        if isinstance(value, str) and value:
            return value
        if value is not None and not isinstance(value, (dict, list, str)):
            return json.dumps(value)
    return ""
