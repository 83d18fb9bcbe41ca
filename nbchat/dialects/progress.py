"""Progress streams of spec 004 (``POST /api/generate-stream``): stages, then a result.

Wire format: ``data:`` events (an SSE ``event:`` name of ``progress`` / ``result`` /
``error`` is honoured too), each a JSON object:

* progress ``{"stage", "progress": 0-100, "message", "estimatedTimeRemaining": ms}``
  -> :class:`~nbchat.events.Progress` (``percent`` clamped to [0, 100], ``eta_s`` in
  seconds). Stages named by the spec: ``started``, ``fetching-exercises``,
  ``generating``, ``validating``, ``storing``, ``complete``; any name is accepted.
* a progress object with ``"error": "ERROR_CODE"`` (``AUTHENTICATION_ERROR``,
  ``VALIDATION_ERROR``, ``OPENAI_API_ERROR``, ``SERVER_ERROR``...), or
  ``{"type": "error", ...}`` -> a StreamError whose code is the server's own (when it
  reads as one: ``UPPER_SNAKE``, else PROVIDER_ERROR) and whose message names the
  stage and the server's message.
* a progress object may announce the job's stages, ``"stages": ["a", "b", ...]``
  (not in spec 004; the bar then shows those instead of the ones it knows).
* ``{"type": "result", "data": ...}`` (end marker) -> :class:`~nbchat.events.Result`
  then Finished ``stop`` (``native_reason`` ``"result"``). A stream that reached the
  ``complete`` stage (or 100 %) and then ends cleanly is done with no result
  (``native_reason`` ``"complete"``): asking again would start the job twice. One that
  ends before is INTERRUPTED.

Request: ``POST`` to ``base_url`` as is when its path names a route; a bare server URL
(no path, or just ``/v1`` as for the embedded server) gets the spec's
``/api/generate-stream``. Body ``{"prompt": <last user message>}``; Bearer auth when a
key is set.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from nbchat.config import Endpoint
from nbchat.dialects.base import (
    JSONDialect,
    bearer_headers,
    error_label,
    last_user_text,
    request_body,
)
from nbchat.eta import server_seconds
from nbchat.events import Finished, Progress, Result, StreamError, StreamEvent
from nbchat.stream.base import HttpRequest
from nbchat.stream.sse import ServerSentEvent
from nbchat.wire import ChatMessageParam

PATH = "/api/generate-stream"
#: the stages spec 004 names, in order, with the percent each starts at
SPEC_STAGES: tuple[tuple[str, float], ...] = (
    ("started", 5.0),
    ("fetching-exercises", 15.0),
    ("generating", 40.0),
    ("validating", 70.0),
    ("storing", 85.0),
    ("complete", 100.0),
)
#: the longest stage name kept (a server may send anything)
STAGE_CHARS = 200
_CODE = re.compile(r"[A-Z][A-Z0-9_]{1,63}")


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
    sends_model = False
    end_marker = 'a {"type": "result"} event'

    def __init__(self) -> None:
        super().__init__()
        self._complete = False  # the job said it reached its end

    def build_request(
        self, endpoint: Endpoint, messages: Sequence[ChatMessageParam]
    ) -> HttpRequest:
        body = request_body(endpoint, messages, {"prompt": last_user_text(messages)})
        return HttpRequest("POST", progress_url(endpoint.base_url), body, bearer_headers(endpoint))

    def on_object(self, event: ServerSentEvent, data: dict[str, Any]) -> list[StreamEvent]:
        kind = data.get("type")
        if not isinstance(kind, str) or not kind:
            kind = event.event if event.event in ("result", "error") else "progress"
        if kind == "result":
            self.finished = True
            return [Result(data.get("data")), Finished("stop", "result")]
        if kind == "error" or data.get("error"):
            self.failed = True
            return [self._error(data)]
        if "stage" not in data and "progress" not in data:
            return []  # a heartbeat or an event type this parser does not know
        percent = _number(data.get("progress"))
        if percent is not None:
            percent = min(100.0, max(0.0, percent))
        stage = str(data.get("stage") or "")[:STAGE_CHARS]
        if stage == "complete" or percent == 100.0:
            self._complete = True
        message = data.get("message")
        return [
            Progress(
                stage=stage,
                percent=percent,
                message=message if isinstance(message, str) else "",
                # milliseconds; a nonsense value (negative, 1e12, a string) is hidden
                eta_s=server_seconds(_number(data.get("estimatedTimeRemaining"))),
                stages=_stage_names(data.get("stages")),
            )
        ]

    def end(self) -> list[StreamEvent]:
        """At EOF: a job that reached ``complete`` / 100 % and then ended cleanly is done
        (with no result), not interrupted: asking again would start it twice."""
        if self._complete and not (self.finished or self.failed):
            self.finished = True
            return [Finished("stop", "complete")]
        return super().end()

    @staticmethod
    def _error(data: dict[str, Any]) -> StreamError:
        error = data.get("error")
        message = data.get("message")
        if isinstance(error, dict):
            code = error.get("code") or error.get("type")
            text = error_label(error)
        else:
            code = error
            text = message if isinstance(message, str) and message else ""
        stage = data.get("stage")
        if isinstance(stage, str) and stage and stage != "error":
            text = f"{text} (at stage {stage})" if text else f"failed at stage {stage}"
        code = code if isinstance(code, str) and _CODE.fullmatch(code) else "PROVIDER_ERROR"
        return StreamError(code, text or "the job reported an error")


def _stage_names(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(dict.fromkeys(str(v)[:100] for v in value[:50] if isinstance(v, str) and v))
