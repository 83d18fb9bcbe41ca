"""A chat message: what the transcript, the widget and the history hold.

The assistant's message is created when a turn starts and its ``content`` grows as
text arrives. Text is kept as a list of pieces, joined on read, so a long reply
streamed token by token costs linear, not quadratic, time.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, cast

from nbchat.errors import HINTS
from nbchat.history.store import MessageRecord
from nbchat.wire import (
    ChatMessageParam,
    ErrorInfo,
    MessageInfo,
    MessageStatus,
    MetricsInfo,
    ProgressInfo,
    Role,
    ToolCallInfo,
)


def new_id() -> str:
    """A fresh message id."""
    return uuid.uuid4().hex[:16]


class Message:
    """One message of a conversation.

    Attributes
    ----------
    role : {"system", "user", "assistant"}
    content : str
        The text so far (an assistant reply grows while it streams).
    status : {"streaming", "done", "stopped", "error", "interrupted"}
        How the message ended; user messages are ``"done"``.
    error : dict or None
        ``{"code", "message", "hint"}`` when the reply ended in error or interrupted.
    created_at : float
        Unix time.
    metrics : dict
        ``ttft_s``, ``tokens_per_s``, ``duration_s``, ``output_tokens`` when measured.
    """

    __slots__ = (
        "_parts",
        "_reasoning",
        "_text",
        "created_at",
        "error",
        "finish_reason",
        "id",
        "metrics",
        "model",
        "progress",
        "refusal",
        "result",
        "role",
        "status",
        "tool_calls",
    )

    def __init__(
        self,
        role: Role,
        content: str = "",
        *,
        status: MessageStatus = "done",
        error: ErrorInfo | None = None,
        created_at: float | None = None,
        metrics: MetricsInfo | None = None,
        id: str | None = None,
        model: str | None = None,
    ) -> None:
        self.id = id or new_id()
        self.role: Role = role
        self._parts: list[str] = [content] if content else []
        self._text: str | None = content
        self.status: MessageStatus = status
        self.error = error
        self.created_at = time.time() if created_at is None else created_at
        self.metrics: MetricsInfo = metrics if metrics is not None else MetricsInfo()
        self.model = model
        self._reasoning: list[str] = []
        self.refusal = ""
        self.tool_calls: list[ToolCallInfo] = []
        self.finish_reason: str | None = None
        self.progress: ProgressInfo | None = None
        self.result: Any = None

    @property
    def content(self) -> str:
        if self._text is None:
            self._text = "".join(self._parts)
            self._parts = [self._text] if self._text else []
        return self._text

    def append(self, text: str) -> None:
        """Add streamed text to the end of the content."""
        self._parts.append(text)
        self._text = None

    @property
    def reasoning(self) -> str:
        """The model's reasoning ("thinking") text, apart from the reply."""
        if len(self._reasoning) > 1:
            self._reasoning = ["".join(self._reasoning)]
        return self._reasoning[0] if self._reasoning else ""

    def append_reasoning(self, text: str) -> None:
        self._reasoning.append(text)

    def _extra(self) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if self.reasoning:
            extra["reasoning"] = self.reasoning
        if self.refusal:
            extra["refusal"] = self.refusal
        if self.tool_calls:
            extra["tool_calls"] = [dict(call) for call in self.tool_calls]
        if self.finish_reason:
            extra["finish_reason"] = self.finish_reason
        if self.progress is not None:
            extra["progress"] = dict(self.progress)
        if self.result is not None:
            extra["result"] = self.result
        return extra

    def __repr__(self) -> str:
        text = self.content
        shown = text if len(text) <= 60 else text[:57] + "..."
        return f"Message(role={self.role!r}, status={self.status!r}, content={shown!r})"

    def to_info(self) -> MessageInfo:
        """The message as the widget and exports see it (JSON-safe)."""
        info: MessageInfo = {
            "id": self.id,
            "role": self.role,
            "content": self.content,
            "status": self.status,
            "error": self.error,
            "created_at": self.created_at,
            "metrics": self.metrics,
        }
        if self.reasoning:
            info["reasoning"] = self.reasoning
        if self.refusal:
            info["refusal"] = self.refusal
        if self.tool_calls:
            info["tool_calls"] = [cast(ToolCallInfo, dict(call)) for call in self.tool_calls]
        if self.finish_reason:
            info["finish_reason"] = self.finish_reason
        if self.progress is not None:
            info["progress"] = self.progress
        if self.result is not None:
            info["result"] = self.result
        return info

    def to_param(self) -> ChatMessageParam:
        """The message as it goes to the model in a request."""
        return {"role": self.role, "content": self.content}

    def to_record(self, finished_at: float | None = None) -> MessageRecord:
        error = self.error
        return MessageRecord(
            id=self.id,
            role=self.role,
            content=self.content,
            status=self.status,
            created_at=self.created_at,
            error_code=error["code"] if error else None,
            error_message=error["message"] if error else None,
            model=self.model,
            metrics=self.metrics,
            finished_at=finished_at,
            extra=self._extra(),
        )

    @classmethod
    def from_record(cls, record: MessageRecord) -> Message:
        error: ErrorInfo | None = None
        if record.error_code:
            error = {
                "code": record.error_code,
                "message": record.error_message or "",
                "hint": HINTS.get(record.error_code, ""),
            }
        message = cls(
            record.role,
            record.content,
            status=record.status,
            error=error,
            created_at=record.created_at,
            metrics=record.metrics,
            id=record.id,
            model=record.model,
        )
        extra = record.extra
        if isinstance(extra.get("reasoning"), str):
            message._reasoning = [extra["reasoning"]]
        if isinstance(extra.get("refusal"), str):
            message.refusal = extra["refusal"]
        calls = extra.get("tool_calls")
        if isinstance(calls, list):
            message.tool_calls = [cast(ToolCallInfo, c) for c in calls if isinstance(c, dict)]
        if isinstance(extra.get("finish_reason"), str):
            message.finish_reason = extra["finish_reason"]
        if isinstance(extra.get("progress"), dict):
            message.progress = cast(ProgressInfo, extra["progress"])
        message.result = extra.get("result")
        return message
