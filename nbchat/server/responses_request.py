"""Validation of ``POST /v1/responses`` bodies (the OpenAI Responses API), into the same
request the chat completions route makes.

``input`` is a string (one user message) or a list of items: messages (``role`` user,
assistant, system or developer; ``content`` a string or ``input_text`` / ``output_text``
parts), ``function_call`` items (an assistant's tool calls) and ``function_call_output``
items (their results). ``instructions`` is the system prompt. ``tools`` are function
tools in the Responses' flat form; ``tool_choice`` is "auto", "none", "required" or
``{"type": "function", "name": ...}``. ``max_output_tokens`` caps the reply. What this
server cannot do is a 400 naming the field: ``previous_response_id`` (responses are not
stored), ``background``, tools other than functions, parts other than text.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, cast

from nbchat.server.openai_request import ChatRequest, RequestError, parse_chat_request
from nbchat.wire import SAMPLING_FIELDS

__all__ = ["parse_responses_request"]

#: Responses fields this server refuses, and why
_REFUSED = {
    "previous_response_id": "responses are not stored here: send the whole input",
    "background": "no background responses",
    "conversation": "no stored conversations: send the whole input",
}
_TEXT_PARTS = ("input_text", "output_text", "text")


def parse_responses_request(
    body: object, model_name: str, sampling: frozenset[str] = frozenset(SAMPLING_FIELDS)
) -> ChatRequest:
    """A Responses request as the :class:`ChatRequest` the chat route runs, or a
    :class:`RequestError` naming the field."""
    if not isinstance(body, dict):
        raise RequestError(
            f"The request body must be a JSON object, got {type(body).__name__}.", param=None
        )
    for key, why in _REFUSED.items():
        if body.get(key) not in (None, False):
            raise RequestError(f"'{key}' is not supported here: {why}.", param=key)
    messages: list[dict[str, Any]] = []
    instructions = body.get("instructions")
    if instructions is not None:
        if not isinstance(instructions, str):
            raise RequestError("'instructions' must be a string.", param="instructions")
        if instructions:
            messages.append({"role": "system", "content": instructions})
    raw = body.get("input")
    if isinstance(raw, str):
        messages.append({"role": "user", "content": raw})
    elif isinstance(raw, list) and raw:
        for index, item in enumerate(raw):
            _add_item(messages, index, item)
    else:
        raise RequestError("'input' must be a string or a non-empty list of items.", param="input")
    chat: dict[str, Any] = {
        "model": body.get("model"),
        "messages": messages,
        "stream": body.get("stream", False),
    }
    if body.get("max_output_tokens") is not None:
        chat["max_tokens"] = body["max_output_tokens"]
    tools = body.get("tools")
    if tools is not None:
        chat["tools"] = [_tool(index, tool) for index, tool in enumerate(_list(tools, "tools"))]
    choice = body.get("tool_choice")
    if isinstance(choice, Mapping) and choice.get("type") == "function":
        chat["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}}
    elif choice is not None:
        chat["tool_choice"] = choice
    for key in SAMPLING_FIELDS:
        if body.get(key) is not None:
            chat[key] = body[key]
    try:
        return parse_chat_request(chat, model_name, sampling)
    except RequestError as exc:
        raise RequestError(
            exc.message, status=exc.status, code=exc.code, param=_param(exc.param)
        ) from exc


def _list(value: object, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise RequestError(f"'{where}' must be a list.", param=where)
    return value


def _tool(index: int, tool: object) -> dict[str, Any]:
    where = f"tools[{index}]"
    if not isinstance(tool, dict) or tool.get("type") != "function":
        raise RequestError(
            f"'{where}' must be a function tool (only function tools are supported).",
            param=where,
        )
    function = {k: tool[k] for k in ("name", "description", "parameters") if k in tool}
    return {"type": "function", "function": function}


def _add_item(messages: list[dict[str, Any]], index: int, item: object) -> None:
    where = f"input[{index}]"
    if not isinstance(item, dict):
        raise RequestError(f"'{where}' must be an object.", param=where)
    kind = item.get("type", "message")
    if kind == "message":
        messages.append({"role": item.get("role"), "content": _text(where, item.get("content"))})
    elif kind == "function_call":
        call = {
            "id": item.get("call_id"),
            "type": "function",
            "function": {"name": item.get("name"), "arguments": item.get("arguments", "")},
        }
        last = messages[-1] if messages else None
        if last is not None and last["role"] == "assistant" and "tool_calls" in last:
            last["tool_calls"].append(call)
        else:
            messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
    elif kind == "function_call_output":
        output = item.get("output")
        if not isinstance(output, str):
            output = json.dumps(output)
        messages.append({"role": "tool", "tool_call_id": item.get("call_id"), "content": output})
    else:
        raise RequestError(
            f"'{where}.type' {json.dumps(kind)} is not supported here: send messages, "
            "function_call and function_call_output items.",
            param=f"{where}.type",
        )


def _text(where: str, content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for index, part in enumerate(content):
            if not (
                isinstance(part, dict)
                and part.get("type") in _TEXT_PARTS
                and isinstance(part.get("text"), str)
            ):
                raise RequestError(
                    f"'{where}.content[{index}]' must be a text part (input_text or "
                    "output_text): no images, files or audio here.",
                    param=f"{where}.content[{index}]",
                )
            texts.append(cast(str, part["text"]))
        return "".join(texts)
    raise RequestError(f"'{where}.content' must be a string or a list of text parts.", param=where)


def _param(param: str | None) -> str | None:
    # The chat route names its own fields: say them as the Responses request has them.
    if param is None:
        return None
    if param.startswith("messages"):
        return "input"
    return {"max_tokens": "max_output_tokens"}.get(param, param)
