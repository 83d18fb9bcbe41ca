"""Validation of ``POST /v1/chat/completions`` bodies (OpenAI Chat Completions).

Error rule: every malformed request is ``400`` with ``type: "invalid_request_error"``;
``code`` is ``"invalid_json"`` when the body is not JSON and ``"invalid_request"`` when
a field is wrong (``param`` names the field, and so does the message). An unknown model
is ``404`` with ``code: "model_not_found"``, as OpenAI answers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import cast

from nbchat.server.demo_model import message_text
from nbchat.server.model import SAMPLING_FIELDS, Options
from nbchat.wire import (
    ChatMessageParam,
    ParamRole,
    ToolCallParam,
    ToolChoice,
    ToolDef,
    tool_choice_name,
)

__all__ = ["ChatRequest", "RequestError", "parse_chat_request", "parse_tools"]

_ROLES = ("system", "developer", "user", "assistant", "tool")
#: fields of the OpenAI API this server cannot honour: a 400 naming them, never ignored
_REFUSED: dict[str, str] = {
    "n": "one choice per request (n must be 1)",
    "logprobs": "no log probabilities",
    "audio": "no audio output",
}


class RequestError(Exception):
    """A request the server rejects; turned into an OpenAI-style error body."""

    def __init__(
        self, message: str, *, status: int = 400, code: str = "invalid_request", param: str | None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.param = param


@dataclass(frozen=True)
class ChatRequest:
    """A valid chat request, messages reduced to text (an assistant's ``tool_calls`` and
    a ``tool`` message's ``tool_call_id`` kept; ``developer`` read as ``system``)."""

    model: str
    messages: list[ChatMessageParam]
    stream: bool
    include_usage: bool
    max_tokens: int | None
    #: the tools offered, ``tool_choice`` and the sampling fields sent
    options: Options = field(default_factory=Options)


def parse_chat_request(
    body: object, model_name: str, sampling: frozenset[str] = frozenset(SAMPLING_FIELDS)
) -> ChatRequest:
    """Validate a chat request body (already JSON-decoded) or raise :class:`RequestError`.

    Parameters
    ----------
    body
        The decoded JSON body.
    model_name
        The one model the server serves; ``model`` may be omitted or equal to it.
    sampling
        The sampling fields the model takes; another one sent is a 400 naming it.
    """
    if not isinstance(body, dict):
        raise RequestError(
            f"The request body must be a JSON object, got {type(body).__name__}.", param=None
        )
    requested = body.get("model")
    if requested is not None and not isinstance(requested, str):
        raise RequestError("'model' must be a string.", param="model")
    if requested is not None and requested != model_name:
        raise RequestError(
            f"The model '{requested}' does not exist; available: {model_name}",
            status=404,
            code="model_not_found",
            param="model",
        )
    _refuse_unsupported(body)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError("'messages' must be a non-empty list of messages.", param="messages")
    normalized = [_parse_message(index, item) for index, item in enumerate(messages)]
    if normalized[-1]["role"] not in ("user", "tool"):
        raise RequestError(
            f"The last message must have role 'user' (or 'tool', answering tool calls), got "
            f"'messages[{len(normalized) - 1}].role' = '{normalized[-1]['role']}'.",
            param=f"messages[{len(normalized) - 1}].role",
        )
    tools, choice = parse_tools(body)
    sent = {key: body[key] for key in SAMPLING_FIELDS if body.get(key) is not None}
    for key in sent:
        if key not in sampling:
            raise RequestError(
                f"'{key}' is not supported by this server's model: it cannot pass it on.",
                param=key,
            )
    stream = body.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise RequestError("'stream' must be a boolean.", param="stream")
    include_usage = False
    options = body.get("stream_options")
    if options is not None:
        if not isinstance(options, dict):
            raise RequestError("'stream_options' must be an object.", param="stream_options")
        include_usage = options.get("include_usage", False)
        if not isinstance(include_usage, bool):
            raise RequestError(
                "'stream_options.include_usage' must be a boolean.",
                param="stream_options.include_usage",
            )
    return ChatRequest(
        model=model_name,
        messages=normalized,
        stream=stream,
        include_usage=include_usage,
        max_tokens=_parse_max_tokens(body),
        options=Options(tools, choice, sent),
    )


def _refuse_unsupported(body: Mapping[str, object]) -> None:
    for key, why in _REFUSED.items():
        value = body.get(key)
        if value is None or value is False or (key == "n" and value == 1):
            continue
        raise RequestError(f"'{key}' is not supported here: this server gives {why}.", param=key)


def parse_tools(body: Mapping[str, object]) -> tuple[tuple[ToolDef, ...], ToolChoice]:
    """The request's ``tools`` (function tools) and ``tool_choice``, checked."""
    tools = body.get("tools")
    choice = body.get("tool_choice")
    if tools is None or tools == []:
        if choice not in (None, "none", "auto"):
            raise RequestError("'tool_choice' needs 'tools'.", param="tool_choice")
        return (), "auto"
    if not isinstance(tools, list):
        raise RequestError("'tools' must be a list of function tools.", param="tools")
    defs: list[ToolDef] = []
    for index, tool in enumerate(tools):
        where = f"tools[{index}]"
        function = tool.get("function") if isinstance(tool, dict) else None
        if (
            not isinstance(tool, dict)
            or tool.get("type") != "function"
            or not isinstance(function, dict)
        ):
            raise RequestError(
                f'\'{where}\' must be {{"type": "function", "function": {{...}}}}'
                " (only function tools are supported).",
                param=where,
            )
        name = function.get("name")
        if not isinstance(name, str) or not name:
            raise RequestError(f"'{where}.function.name' must be a string.", param=where)
        parameters = function.get("parameters", {"type": "object", "properties": {}})
        if not isinstance(parameters, dict):
            raise RequestError(
                f"'{where}.function.parameters' must be a JSON schema object.",
                param=f"{where}.function.parameters",
            )
        description = function.get("description", "")
        defs.append(
            {
                "name": name,
                "description": description if isinstance(description, str) else "",
                "parameters": parameters,
            }
        )
    if choice is None:
        choice = "auto"
    named = tool_choice_name(choice) if isinstance(choice, dict) else None
    if not (choice in ("auto", "none", "required") or named):
        raise RequestError(
            '\'tool_choice\' must be "auto", "none", "required" or '
            '{"type": "function", "function": {"name": ...}}.',
            param="tool_choice",
        )
    if named and named not in {d["name"] for d in defs}:
        raise RequestError(
            f"'tool_choice' names the tool '{named}', which is not in 'tools'.",
            param="tool_choice",
        )
    return tuple(defs), cast(ToolChoice, choice)


def _parse_message(index: int, item: object) -> ChatMessageParam:
    where = f"messages[{index}]"
    if not isinstance(item, dict):
        raise RequestError(f"'{where}' must be an object with 'role' and 'content'.", param=where)
    role = item.get("role")
    if role not in _ROLES:
        raise RequestError(
            f"'{where}.role' must be one of {', '.join(_ROLES)}; got {json.dumps(role)}.",
            param=f"{where}.role",
        )
    content = item.get("content")
    calls = item.get("tool_calls")
    if isinstance(content, list):
        for part_index, part in enumerate(content):
            part_where = f"{where}.content[{part_index}]"
            if not (
                isinstance(part, dict)
                and part.get("type") == "text"
                and isinstance(part.get("text"), str)
            ):
                raise RequestError(
                    f'\'{part_where}\' must be a text part {{"type": "text", "text": str}}'
                    " (the server reads text only: no images or audio).",
                    param=part_where,
                )
    elif content is None and role == "assistant" and calls:
        content = ""  # an assistant message that only calls tools
    elif not isinstance(content, str):
        raise RequestError(
            f"'{where}.content' must be a string or a list of text parts.",
            param=f"{where}.content",
        )
    text = message_text(content)
    if role == "tool":
        call_id = item.get("tool_call_id")
        if not isinstance(call_id, str) or not call_id:
            raise RequestError(
                f"'{where}.tool_call_id' must name the call this result answers.",
                param=f"{where}.tool_call_id",
            )
        return {"role": "tool", "content": text, "tool_call_id": call_id}
    if role == "assistant" and calls is not None:
        return {"role": "assistant", "content": text, "tool_calls": _parse_calls(where, calls)}
    normal = "system" if role == "developer" else role
    return {"role": cast(ParamRole, normal), "content": text}


def _parse_calls(where: str, calls: object) -> list[ToolCallParam]:
    if not isinstance(calls, list):
        raise RequestError(f"'{where}.tool_calls' must be a list.", param=f"{where}.tool_calls")
    out: list[ToolCallParam] = []
    for index, call in enumerate(calls):
        at = f"{where}.tool_calls[{index}]"
        function = call.get("function") if isinstance(call, dict) else None
        if not (
            isinstance(call, dict)
            and isinstance(call.get("id"), str)
            and isinstance(function, dict)
            and isinstance(function.get("name"), str)
            and isinstance(function.get("arguments", ""), str)
        ):
            raise RequestError(
                f'\'{at}\' must be {{"id": str, "type": "function", "function": '
                '{"name": str, "arguments": str}}.',
                param=at,
            )
        out.append(
            {
                "id": call["id"],
                "type": "function",
                "function": {"name": function["name"], "arguments": function.get("arguments", "")},
            }
        )
    return out


def _parse_max_tokens(body: Mapping[str, object]) -> int | None:
    # Newer OpenAI clients send max_completion_tokens; accept either.
    for key in ("max_tokens", "max_completion_tokens"):
        value = body.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise RequestError(f"'{key}' must be a positive integer.", param=key)
        return value
    return None
