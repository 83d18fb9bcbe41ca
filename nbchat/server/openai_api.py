"""OpenAI Chat Completions routes of the embedded server: ``/v1/chat/completions``, ``/v1/models``.

Error rule: every malformed request is ``400`` with ``type: "invalid_request_error"``;
``code`` is ``"invalid_json"`` when the body is not JSON and ``"invalid_request"`` when
a field is wrong (``param`` names the field, and so does the message). An unknown model
is ``404`` with ``code: "model_not_found"``, as OpenAI answers.
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sse_starlette import EventSourceResponse
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Message

from nbchat.server.demo_model import DemoModel, count_prompt_tokens, message_text

__all__ = [
    "ServerStats",
    "chat_completions",
    "error_response",
    "list_models",
]

_ROLES = ("system", "user", "assistant")
_SHUTDOWN_POLL_S = 0.05
_COMPACT = (",", ":")  # OpenAI's own chunks carry no spaces


@dataclass
class ServerStats:
    """Counters the embedded server keeps, shared between its thread and tests.

    Attributes
    ----------
    requests
        ``POST /v1/chat/completions`` requests received (valid or not).
    streams_started, streams_completed, streams_disconnected
        Streaming replies begun, sent to the end (``[DONE]``), and cut short because
        the client went away.
    tokens_streamed
        Content tokens sent in streaming replies.
    last_request
        The last JSON object posted to ``/v1/chat/completions``.
    disconnected
        Set when any stream sees its client disconnect.
    """

    requests: int = 0
    streams_started: int = 0
    streams_completed: int = 0
    streams_disconnected: int = 0
    tokens_streamed: int = 0
    last_request: dict[str, Any] | None = None
    disconnected: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, counter: str, amount: int = 1) -> None:
        """Increase ``counter`` by ``amount`` atomically (tests read from another thread)."""
        with self._lock:
            setattr(self, counter, getattr(self, counter) + amount)

    def record_request(self, body: dict[str, Any] | None) -> None:
        """Count one chat request and remember its body when it is a JSON object."""
        with self._lock:
            self.requests += 1
            if body is not None:
                self.last_request = body

    def record_disconnect(self) -> None:
        """Count a stream cut short by its client and set :attr:`disconnected`."""
        with self._lock:
            self.streams_disconnected += 1
        self.disconnected.set()


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


def error_response(
    status: int,
    message: str,
    *,
    code: str,
    param: str | None = None,
    error_type: str = "invalid_request_error",
) -> JSONResponse:
    """Build an OpenAI-style error: ``{"error": {"message", "type", "code", "param"}}``.

    Parameters
    ----------
    status
        HTTP status code.
    message
        What went wrong, naming the offending field.
    code
        Stable machine-readable code (``invalid_request``, ``model_not_found`` ...).
    param
        The offending field, when there is one.
    error_type
        OpenAI's ``type``; ``"invalid_request_error"`` for every 4xx here.

    Returns
    -------
    JSONResponse
        The error response.
    """
    body = {"error": {"message": message, "type": error_type, "code": code, "param": param}}
    return JSONResponse(body, status_code=status)


@dataclass(frozen=True)
class _ChatRequest:
    model: str
    messages: list[dict[str, str]]
    stream: bool
    include_usage: bool
    max_tokens: int | None


def _parse_request(body: object, model: DemoModel) -> _ChatRequest:
    """Validate a chat request body (already JSON-decoded) or raise :class:`RequestError`."""
    if not isinstance(body, dict):
        raise RequestError(
            f"The request body must be a JSON object, got {type(body).__name__}.", param=None
        )
    model_name = body.get("model")
    if model_name is not None and not isinstance(model_name, str):
        raise RequestError("'model' must be a string.", param="model")
    if model_name is not None and model_name != model.name:
        raise RequestError(
            f"The model '{model_name}' does not exist; available: {model.name}",
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
    return _ChatRequest(
        model=model.name,
        messages=normalized,
        stream=stream,
        include_usage=include_usage,
        max_tokens=_parse_max_tokens(body),
    )


def _parse_message(index: int, item: object) -> dict[str, str]:
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
                    " (the demo model reads text only).",
                    param=part_where,
                )
    elif not isinstance(content, str):
        raise RequestError(
            f"'{where}.content' must be a string or a list of text parts.",
            param=f"{where}.content",
        )
    return {"role": str(role), "content": message_text(content)}


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


def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


async def chat_completions(request: Request) -> Response:
    """Handle ``POST /v1/chat/completions`` with the app's demo model.

    Parameters
    ----------
    request
        The incoming request; the app's ``state`` holds ``model``, ``stats`` and
        ``tokens_per_second``.

    Returns
    -------
    Response
        An SSE stream (``stream: true``), a ``chat.completion`` object, or an error.
    """
    state = request.app.state
    model: DemoModel = state.model
    stats: ServerStats = state.stats
    raw = await request.body()
    try:
        if not raw.strip():
            raise ValueError("the body is empty; send a JSON object")
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        # ValueError covers JSONDecodeError and UnicodeDecodeError (bytes not UTF-8).
        stats.record_request(None)
        return error_response(
            400, f"The request body is not valid JSON: {exc}.", code="invalid_json"
        )
    stats.record_request(body if isinstance(body, dict) else None)
    try:
        chat = _parse_request(body, model)
    except RequestError as exc:
        return error_response(exc.status, exc.message, code=exc.code, param=exc.param)

    tokens = model.tokens(chat.messages)
    finish_reason = "stop"
    if chat.max_tokens is not None and len(tokens) > chat.max_tokens:
        tokens = tokens[: chat.max_tokens]
        finish_reason = "length"
    prompt_tokens = count_prompt_tokens(chat.messages)
    completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
    created = int(time.time())

    if not chat.stream:
        return JSONResponse(
            {
                "id": completion_id,
                "object": "chat.completion",
                "created": created,
                "model": chat.model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "".join(tokens)},
                        "finish_reason": finish_reason,
                    }
                ],
                "usage": _usage(prompt_tokens, len(tokens)),
            }
        )

    stream = _Stream(
        stats=stats,
        tokens=tokens,
        tokens_per_second=float(state.tokens_per_second),
        shutting_down=state.shutting_down,
        base={"id": completion_id, "object": "chat.completion.chunk", "created": created},
        model=chat.model,
        finish_reason=finish_reason,
        usage=_usage(prompt_tokens, len(tokens)) if chat.include_usage else None,
    )
    stats.add("streams_started")
    return EventSourceResponse(
        stream.events(),
        # Pings are off: a reply lasts seconds, and a stall watchdog should see only
        # real progress. "\n" separators match what OpenAI sends byte for byte.
        ping=0,
        sep="\n",
        client_close_handler_callable=stream.on_client_close,
    )


class _Stream:
    """One streaming reply: yields SSE ``data`` payloads at the configured pace."""

    def __init__(
        self,
        *,
        stats: ServerStats,
        tokens: list[str],
        tokens_per_second: float,
        base: dict[str, Any],
        model: str,
        finish_reason: str,
        usage: dict[str, int] | None,
        shutting_down: threading.Event,
    ) -> None:
        self.stats = stats
        self.shutting_down = shutting_down
        self.tokens = tokens
        self.interval = 0.0 if math.isinf(tokens_per_second) else 1.0 / tokens_per_second
        self.base = {**base, "model": model}
        self.finish_reason = finish_reason
        self.usage = usage
        self.completed = False
        self.client_gone = False

    def _chunk(self, delta: dict[str, str], finish_reason: str | None) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
        return json.dumps(
            {**self.base, "choices": [choice]}, ensure_ascii=False, separators=_COMPACT
        )

    async def events(self) -> AsyncIterator[dict[str, str]]:
        """Yield the chunks; sse-starlette cancels this when the client disconnects."""
        yield {"data": self._chunk({"role": "assistant", "content": ""}, None)}
        # Pace against a fixed schedule so sleep overshoot does not accumulate.
        start = time.monotonic()
        for index, token in enumerate(self.tokens):
            if self.interval:
                await self._sleep_until(start + (index + 1) * self.interval)
            if self.client_gone or self.shutting_down.is_set():
                # Server stopping: end the body without [DONE] so the client sees an
                # interrupted stream, instead of uvicorn cancelling us with a traceback.
                return
            self.stats.add("tokens_streamed")
            yield {"data": self._chunk({"content": token}, None)}
        yield {"data": self._chunk({}, self.finish_reason)}
        if self.usage is not None:
            yield {
                "data": json.dumps(
                    {**self.base, "choices": [], "usage": self.usage}, separators=_COMPACT
                )
            }
        # Count before the last yield: code after it only runs on the next __anext__,
        # which a client that closes right after [DONE] could race into a "disconnect".
        self.completed = True
        self.stats.add("streams_completed")
        yield {"data": "[DONE]"}

    async def _sleep_until(self, deadline: float) -> None:
        # Sleep in short slices so a server shutdown is noticed even at a slow pace.
        while not self.shutting_down.is_set():
            delay = deadline - time.monotonic()
            if delay <= 0:
                return
            await asyncio.sleep(min(delay, _SHUTDOWN_POLL_S))

    async def on_client_close(self, message: Message) -> None:
        """Record a disconnect that happened before the reply was complete."""
        self.client_gone = True
        if not self.completed:
            self.stats.record_disconnect()


async def list_models(request: Request) -> Response:
    """Handle ``GET /v1/models``: an OpenAI-style list holding the demo model.

    Parameters
    ----------
    request
        The incoming request.

    Returns
    -------
    Response
        ``{"object": "list", "data": [{"id": "demo", "object": "model", ...}]}``.
    """
    model: DemoModel = request.app.state.model
    entry = {"id": model.name, "object": "model", "created": 0, "owned_by": "nbchat"}
    return JSONResponse({"object": "list", "data": [entry]})
