"""``POST /v1/responses``: the OpenAI Responses API over the server's model.

The request is checked by :mod:`nbchat.server.responses_request` and run as the chat
completions route runs one (same model, tokens, limits). With ``"stream": true`` the
reply streams as Responses events, each with its ``sequence_number``::

    response.created, response.in_progress
    response.output_item.added (a message), response.content_part.added,
    response.output_text.delta ..., response.output_text.done,
    response.content_part.done, response.output_item.done
    response.output_item.added (a function_call), response.function_call_arguments.delta,
    response.function_call_arguments.done, response.output_item.done      (per tool call)
    response.completed | response.incomplete (max_output_tokens) | response.failed

Without it, the finished ``response`` object is the answer. Errors before the reply
are OpenAI-style JSON errors, as on ``/v1/chat/completions``.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from nbchat.events import (
    Finished,
    StreamError,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    ToolCallStarted,
)
from nbchat.server.context import context
from nbchat.server.generation import Generation
from nbchat.server.openai_api import open_generation, status_for_code, usage_of
from nbchat.server.openai_request import ChatRequest
from nbchat.server.responses_request import parse_responses_request
from nbchat.server.sse_body import event_json, follow_sse, sse_response

__all__ = ["responses"]


async def responses(request: Request) -> Response:
    """Handle ``POST /v1/responses`` (see the module docstring)."""
    ctx = context(request)
    sampling: frozenset[str] = getattr(ctx.model, "sampling", frozenset())
    opened = await open_generation(
        request, lambda body: parse_responses_request(body, ctx.model.name, sampling)
    )
    if isinstance(opened, Response):
        return opened
    generation, chat = opened
    shape = _Shape(generation, chat)
    if not chat.stream:
        await generation.wait()
        if generation.error is not None:
            code = generation.error.code
            return JSONResponse(
                {"error": {"message": generation.error.message, "code": code.lower()}},
                status_code=status_for_code(code),
            )
        return JSONResponse(shape.response("completed" if shape.complete() else "incomplete"))
    return sse_response(
        follow_sse(generation, lambda _, event: shape.render(event), first=shape.start())
    )


class _Shape:
    """One reply as Responses items and events."""

    def __init__(self, generation: Generation, chat: ChatRequest) -> None:
        self.generation = generation
        self.chat = chat
        self.id = f"resp_{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.sequence = 0
        self.output: list[dict[str, Any]] = []
        self.text_item: dict[str, Any] | None = None
        self.calls: dict[int, dict[str, Any]] = {}

    # -- the response object ----------------------------------------------------------

    def complete(self) -> bool:
        return self.generation.finish_reason != "length"

    def response(self, status: str) -> dict[str, Any]:
        if status != "in_progress" and not self.output:
            self._fold()  # the non-streaming answer: items from the buffered events
        options = self.chat.options
        body: dict[str, Any] = {
            "id": self.id,
            "object": "response",
            "created_at": self.created,
            "status": status,
            "model": self.chat.model,
            "output": self.output if status != "in_progress" else [],
            "error": None,
            "incomplete_details": {"reason": "max_output_tokens"}
            if status == "incomplete"
            else None,
            "instructions": None,
            "metadata": {},
            "parallel_tool_calls": True,
            "temperature": options.sampling.get("temperature"),
            "top_p": options.sampling.get("top_p"),
            "max_output_tokens": self.chat.max_tokens,
            "previous_response_id": None,
            "tool_choice": options.tool_choice or "auto",
            "tools": [{"type": "function", **tool} for tool in options.tools],
            "text": {"format": {"type": "text"}},
            "truncation": "disabled",
            "usage": None,
        }
        if status != "in_progress":
            usage = usage_of(self.generation, self.chat)
            body["usage"] = {
                "input_tokens": usage["prompt_tokens"],
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": usage["completion_tokens"],
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": usage["total_tokens"],
            }
        return body

    def _fold(self) -> None:
        for event in self.generation.events:
            self._take(event)
        self._close_text()
        for index in sorted(self.calls):
            self._close_call(index)

    # -- items -----------------------------------------------------------------------

    def _take(self, event: StreamEvent) -> list[tuple[str, dict[str, Any]]]:
        out: list[tuple[str, dict[str, Any]]] = []
        if isinstance(event, TextDelta):
            if self.text_item is None:
                item = {
                    "id": f"msg_{uuid.uuid4().hex}",
                    "type": "message",
                    "status": "in_progress",
                    "role": "assistant",
                    "content": [],
                }
                self.text_item = {"item": item, "index": len(self.output), "text": []}
                self.output.append(item)
                out.append(
                    (
                        "response.output_item.added",
                        {"output_index": self.text_item["index"], "item": dict(item)},
                    )
                )
                out.append(("response.content_part.added", {**self._where(), "part": _part("")}))
            self.text_item["text"].append(event.text)
            out.append(
                (
                    "response.output_text.delta",
                    {**self._where(), "delta": event.text, "logprobs": []},
                )
            )
        elif isinstance(event, ToolCallStarted):
            out += self._close_text()
            item = {
                "id": f"fc_{uuid.uuid4().hex}",
                "type": "function_call",
                "status": "in_progress",
                "call_id": event.id,
                "name": event.name,
                "arguments": "",
            }
            self.calls[event.index] = {"item": item, "index": len(self.output)}
            self.output.append(item)
            out.append(
                (
                    "response.output_item.added",
                    {"output_index": len(self.output) - 1, "item": dict(item)},
                )
            )
        elif isinstance(event, ToolCallDelta) and event.index in self.calls:
            call = self.calls[event.index]
            call["item"]["arguments"] += event.arguments
            where = {"item_id": call["item"]["id"], "output_index": call["index"]}
            out.append(
                ("response.function_call_arguments.delta", {**where, "delta": event.arguments})
            )
        return out

    def _where(self) -> dict[str, Any]:
        assert self.text_item is not None
        return {
            "item_id": self.text_item["item"]["id"],
            "output_index": self.text_item["index"],
            "content_index": 0,
        }

    def _close_text(self) -> list[tuple[str, dict[str, Any]]]:
        held = self.text_item
        if held is None:
            return []
        self.text_item = None
        text = "".join(held["text"])
        item = held["item"]
        item["status"] = "completed"
        item["content"] = [_part(text)]
        where = {"item_id": item["id"], "output_index": held["index"], "content_index": 0}
        return [
            ("response.output_text.done", {**where, "text": text, "logprobs": []}),
            ("response.content_part.done", {**where, "part": _part(text)}),
            ("response.output_item.done", {"output_index": held["index"], "item": dict(item)}),
        ]

    def _close_call(self, index: int) -> list[tuple[str, dict[str, Any]]]:
        call = self.calls.pop(index)
        item = call["item"]
        item["status"] = "completed"
        where = {"item_id": item["id"], "output_index": call["index"]}
        return [
            ("response.function_call_arguments.done", {**where, "arguments": item["arguments"]}),
            ("response.output_item.done", {"output_index": call["index"], "item": dict(item)}),
        ]

    # -- events ----------------------------------------------------------------------

    def _event(self, kind: str, payload: dict[str, Any]) -> str:
        body = {"type": kind, **payload, "sequence_number": self.sequence}
        self.sequence += 1
        return f"event: {kind}\ndata: {event_json(body)}\n\n"

    def start(self) -> str:
        created = self._event("response.created", {"response": self.response("in_progress")})
        return created + self._event(
            "response.in_progress", {"response": self.response("in_progress")}
        )

    def render(self, event: StreamEvent) -> str:
        if isinstance(event, Finished):
            parts = self._close_text()
            for index in sorted(self.calls):
                parts += self._close_call(index)
            status = "completed" if event.reason != "length" else "incomplete"
            parts.append((f"response.{status}", {"response": self.response(status)}))
            return "".join(self._event(kind, payload) for kind, payload in parts)
        if isinstance(event, StreamError):
            failed = self.response("failed")
            failed["error"] = {"code": event.code.lower(), "message": event.message}
            error = {"code": event.code.lower(), "message": event.message, "param": None}
            return self._event("error", error) + self._event(
                "response.failed", {"response": failed}
            )
        return "".join(self._event(kind, payload) for kind, payload in self._take(event))


def _part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
