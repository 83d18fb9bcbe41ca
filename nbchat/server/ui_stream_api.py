"""``POST /api/chat``: the Vercel AI SDK 5 chat route, so ``useChat`` (its
``DefaultChatTransport``) can talk to ``nbchat serve``.

Request: ``{id, messages, trigger}``, each message ``{id, role, parts}`` (text parts
are read; an assistant's other parts — steps, reasoning, tools — are its history and
skipped; a user's file parts are refused with a 400 naming them). With
``trigger: "regenerate-message"`` a trailing assistant message is dropped first.

Answer: the UI message stream protocol, ``x-vercel-ai-ui-message-stream: v1``::

    data: {"type":"start","messageId":"..."}
    data: {"type":"start-step"}
    data: {"type":"text-start","id":"..."}
    data: {"type":"text-delta","id":"...","delta":"Hel"}  ...
    data: {"type":"text-end","id":"..."}
    data: {"type":"finish-step"}
    data: {"type":"finish","finishReason":"stop"}
    data: [DONE]

or ``{"type":"error","errorText":...}`` before ``[DONE]`` when the reply fails. Same
model, tokens and limits as the other routes; errors before the stream are JSON.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from nbchat.events import Finished, StreamError, StreamEvent, TextDelta
from nbchat.server.context import context
from nbchat.server.openai_api import open_generation
from nbchat.server.openai_request import ChatRequest, RequestError, parse_chat_request
from nbchat.server.sse_body import event_json, follow_sse, sse_response

__all__ = ["ui_chat"]

#: the header that tells the AI SDK the body is a UI message stream
UI_STREAM_HEADER = {"x-vercel-ai-ui-message-stream": "v1"}
_FINISH = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool-calls",
    "content_filter": "content-filter",
}


async def ui_chat(request: Request) -> Response:
    """Handle ``POST /api/chat`` (see the module docstring)."""
    ctx = context(request)
    sampling: frozenset[str] = getattr(ctx.model, "sampling", frozenset())
    opened = await open_generation(request, lambda body: _parse(body, ctx.model.name, sampling))
    if isinstance(opened, Response):
        return opened
    generation, _chat = opened
    text_id = f"text-{uuid.uuid4().hex[:12]}"
    state = {"open": False}

    def part(payload: dict[str, Any]) -> str:
        return f"data: {event_json(payload)}\n\n"

    def close_text() -> str:
        if not state["open"]:
            return ""
        state["open"] = False
        return part({"type": "text-end", "id": text_id})

    def render(_number: int, event: StreamEvent) -> str:
        if isinstance(event, TextDelta):
            opening = "" if state["open"] else part({"type": "text-start", "id": text_id})
            state["open"] = True
            return opening + part({"type": "text-delta", "id": text_id, "delta": event.text})
        if isinstance(event, Finished):
            reason = _FINISH.get(event.reason or "stop", "other")
            return (
                close_text()
                + part({"type": "finish-step"})
                + part({"type": "finish", "finishReason": reason})
                + "data: [DONE]\n\n"
            )
        if isinstance(event, StreamError):
            error = part({"type": "error", "errorText": f"{event.code}: {event.message}"})
            return close_text() + error + "data: [DONE]\n\n"
        return ""

    first = part({"type": "start", "messageId": generation.reply_id}) + part({"type": "start-step"})
    return sse_response(follow_sse(generation, render, first=first), headers=UI_STREAM_HEADER)


def _parse(body: object, model_name: str, sampling: frozenset[str]) -> ChatRequest:
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        raise RequestError(
            "'messages' is required: send the AI SDK's {id, messages, trigger} body.",
            param="messages",
        )
    messages: list[dict[str, Any]] = []
    for index, message in enumerate(body["messages"]):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise RequestError(f"'{where}' must be an object.", param=where)
        role = message.get("role")
        messages.append({"role": role, "content": _text(where, role, message)})
    if body.get("trigger") == "regenerate-message":
        while messages and messages[-1]["role"] == "assistant":
            messages.pop()
    return parse_chat_request(
        {"messages": messages, "stream": True, **_sampling(body)}, model_name, sampling
    )


def _sampling(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k in ("temperature", "top_p", "seed", "stop")}


def _text(where: str, role: object, message: dict[str, Any]) -> str:
    parts = message.get("parts")
    if not isinstance(parts, list):
        content = message.get("content")  # an AI SDK 4 client
        if isinstance(content, str):
            return content
        raise RequestError(f"'{where}.parts' must be a list of parts.", param=f"{where}.parts")
    texts = []
    for index, item in enumerate(parts):
        kind = item.get("type") if isinstance(item, dict) else None
        if kind == "text" and isinstance(item.get("text"), str):
            texts.append(item["text"])
        elif role == "user" and kind not in ("step-start",):
            raise RequestError(
                f"'{where}.parts[{index}]' ({json.dumps(kind)}) is not supported here: "
                "text parts only (no files or images).",
                param=f"{where}.parts[{index}]",
            )
    return "".join(texts)
