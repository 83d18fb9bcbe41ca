"""Progress streams of spec 004 (``POST /api/generate-stream``): stages, then a result.

Wire format: ``data:`` events (an SSE ``event:`` name of ``progress`` / ``result`` /
``error`` is honoured too), each a JSON object:

* progress ``{"stage", "progress": 0-100, "message", "estimatedTimeRemaining": ms}``
  -> :class:`~nbchat.events.Progress` (``percent`` clamped to [0, 100], ``eta_s`` in
  seconds). Stages named by the spec: ``started``, ``fetching-exercises``,
  ``generating``, ``validating``, ``storing``, ``complete``; any name is accepted.
* a progress object with ``"error": "ERROR_CODE"`` (``AUTHENTICATION_ERROR``,
  ``VALIDATION_ERROR``, ``OPENAI_API_ERROR``, ``SERVER_ERROR``...), or
  ``{"type": "error", ...}`` -> PROVIDER_ERROR naming the code and the message.
* ``{"type": "result", "data": ...}`` (end marker) -> :class:`~nbchat.events.Result`
  then Finished ``stop`` (``native_reason`` ``"result"``). The ``complete`` stage is
  only a progress step: a stream that ends before the result is INTERRUPTED.

Request: ``POST`` to ``base_url`` as is when its path names a route; a bare server URL
(no path, or just ``/v1`` as for the embedded server) gets the spec's
``/api/generate-stream``. Body ``{"prompt": <last user message>}``; Bearer auth when a
key is set.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from nbchat.config import Endpoint
from nbchat.dialects.base import (
    JSONDialect,
    bearer_headers,
    error_label,
    last_user_text,
)
from nbchat.events import Finished, Progress, Result, StreamEvent
from nbchat.stream.base import HttpRequest
from nbchat.stream.sse import ServerSentEvent
from nbchat.wire import ChatMessageParam

PATH = "/api/generate-stream"


def progress_url(base_url: str) -> str:
    """The URL to POST to: ``base_url``, or its origin + ``/api/generate-stream``."""
    parts = urlsplit(base_url)
    if parts.path.rstrip("/") in ("", "/v1"):
        return f"{parts.scheme}://{parts.netloc}{PATH}"
    return base_url


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


class ProgressDialect(JSONDialect):
    """Parser for one spec 004 progress stream; see the module docstring."""

    name = "progress"
    end_marker = 'a {"type": "result"} event'

    def build_request(
        self, endpoint: Endpoint, messages: Sequence[ChatMessageParam]
    ) -> HttpRequest:
        body = {"prompt": last_user_text(messages)}
        return HttpRequest("POST", progress_url(endpoint.base_url), body, bearer_headers(endpoint))

    def on_object(self, event: ServerSentEvent, data: dict[str, Any]) -> list[StreamEvent]:
        kind = data.get("type")
        if not isinstance(kind, str) or not kind:
            kind = event.event if event.event in ("result", "error") else "progress"
        if kind == "result":
            self.finished = True
            return [Result(data.get("data")), Finished("stop", "result")]
        if kind == "error" or data.get("error"):
            return [self.provider_error(self._error_text(data))]
        if "stage" not in data and "progress" not in data:
            return []  # a heartbeat or an event type this parser does not know
        percent = _number(data.get("progress"))
        if percent is not None:
            percent = min(100.0, max(0.0, percent))
        eta_ms = _number(data.get("estimatedTimeRemaining"))
        eta_s = max(0.0, eta_ms) / 1000 if eta_ms is not None else None
        message = data.get("message")
        return [
            Progress(
                stage=str(data.get("stage") or ""),
                percent=percent,
                message=message if isinstance(message, str) else "",
                eta_s=eta_s,
            )
        ]

    @staticmethod
    def _error_text(data: dict[str, Any]) -> str:
        error = data.get("error")
        message = data.get("message")
        if isinstance(error, dict):
            return error_label(error)
        code = error if isinstance(error, str) and error else "ERROR"
        stage = data.get("stage")
        where = f" at stage {stage}" if isinstance(stage, str) and stage else ""
        if isinstance(message, str) and message:
            return f"{code}{where}: {message}"
        return f"{code}{where}"
