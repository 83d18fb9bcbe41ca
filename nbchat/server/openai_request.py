"""Validation of ``POST /v1/chat/completions`` bodies (OpenAI Chat Completions).

Error rule: every malformed request is ``400`` with ``type: "invalid_request_error"``;
``code`` is ``"invalid_json"`` when the body is not JSON and ``"invalid_request"`` when
a field is wrong (``param`` names the field, and so does the message). An unknown model
is ``404`` with ``code: "model_not_found"``, as OpenAI answers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

from nbchat.server.demo_model import message_text
from nbchat.wire import ChatMessageParam, ParamRole

__all__ = ["ChatRequest", "RequestError", "parse_chat_request"]

_ROLES = ("system", "user", "assistant")


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
    """A valid chat request, messages reduced to ``{role, content}`` text."""

    model: str
    messages: list[ChatMessageParam]
    stream: bool
    include_usage: bool
    max_tokens: int | None


def parse_chat_request(body: object, model_name: str) -> ChatRequest:
    """Validate a chat request body (already JSON-decoded) or raise :class:`RequestError`.

    Parameters
    ----------
    body
        The decoded JSON body.
    model_name
        The one model the server serves; ``model`` may be omitted or equal to it.
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
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError("'messages' must be a non-empty list of messages.", param="messages")
    normalized = [_parse_message(index, item) for index, item in enumerate(messages)]
    if normalized[-1]["role"] != "user":
        raise RequestError(
            f"The last message must have role 'user', got 'messages[{len(normalized) - 1}]"
            f".role' = '{normalized[-1]['role']}'.",
            param=f"messages[{len(normalized) - 1}].role",
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
    )


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
                    " (the server reads text only).",
                    param=part_where,
                )
    elif not isinstance(content, str):
        raise RequestError(
            f"'{where}.content' must be a string or a list of text parts.",
            param=f"{where}.content",
        )
    return {"role": cast(ParamRole, role), "content": message_text(content)}


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
