"""A chat message: what the transcript, the widget and the history hold.

A message is an id, a role, a status, times, metrics and a model, plus the
:class:`~nbchat.accumulate.Reply` ledger that holds everything it says: its text,
and for an assistant reply the reasoning, refusal, tool calls, progress, result,
finish reason and error. The message presents the ledger (``content``,
``tool_calls``, ``error``...) and stores nothing of it twice.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from typing import Any

from nbchat.accumulate import Reply, text_offset
from nbchat.errors import ConfigurationError, error_info
from nbchat.events import StreamError
from nbchat.history.store import MessageRecord
from nbchat.wire import (
    ErrorInfo,
    MessageInfo,
    MessageStatus,
    MetricsInfo,
    ProgressInfo,
    Role,
    ToolCallInfo,
)


def check_message(text: object) -> None:
    """Raise a ConfigurationError naming what is wrong with a message to send."""
    if not isinstance(text, str):
        raise ConfigurationError(f"message must be a string, got {type(text).__name__}")
    if not text.strip():
        raise ConfigurationError("cannot send an empty message")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = text[exc.start]
        raise ConfigurationError(
            f"message is not valid Unicode: a lone surrogate {bad!r} at position {exc.start} "
            "(text decoded with errors='surrogateescape'?); fix or remove it"
        ) from None


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
    reply : Reply
        The ledger behind ``content``, ``reasoning``, ``tool_calls``, ``error``...
    """

    __slots__ = ("created_at", "id", "metrics", "model", "reply", "role", "status", "superseded")

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
        reply: Reply | None = None,
    ) -> None:
        self.id = id or new_id()
        self.role: Role = role
        self.reply = reply if reply is not None else Reply(content)
        self.status: MessageStatus = status
        self.created_at = time.time() if created_at is None else created_at
        self.metrics: MetricsInfo = metrics if metrics is not None else MetricsInfo()
        self.model = model
        #: a retry is answering again: shown until the new reply has output (not stored)
        self.superseded = False
        if error is not None:
            self.error = error

    # -- what the ledger holds ---------------------------------------------------------

    @property
    def content(self) -> str:
        return self.reply.text

    @property
    def reasoning(self) -> str:
        """The model's reasoning ("thinking") text, apart from the reply."""
        return self.reply.reasoning

    @property
    def refusal(self) -> str:
        return self.reply.refusal

    @property
    def tool_calls(self) -> list[ToolCallInfo]:
        return self.reply.tool_call_infos()

    @property
    def finish_reason(self) -> str | None:
        return self.reply.finish_reason

    @property
    def progress(self) -> ProgressInfo | None:
        return self.reply.progress_info()

    @property
    def result(self) -> Any:
        return self.reply.result

    @property
    def error(self) -> ErrorInfo | None:
        problem = self.reply.error
        return None if problem is None else error_info(problem.code, problem.message)

    @error.setter
    def error(self, info: ErrorInfo | None) -> None:
        self.reply.error = None if info is None else StreamError(info["code"], info["message"])

    # -- views -------------------------------------------------------------------------

    def __repr__(self) -> str:
        text = self.content
        shown = text if len(text) <= 60 else text[:57] + "..."
        return f"Message(role={self.role!r}, status={self.status!r}, content={shown!r})"

    def _extra(self) -> dict[str, Any]:
        # What a message holds besides its text, as history and the widget store it.
        extra: dict[str, Any] = {}
        if self.reasoning:
            extra["reasoning"] = self.reasoning
        if self.reply.reasoning_at:
            extra["reasoning_at"] = self.reply.reasoning_at
        if self.refusal:
            extra["refusal"] = self.refusal
        if self.reply.tool_calls:
            extra["tool_calls"] = self.tool_calls
        if self.finish_reason:
            extra["finish_reason"] = self.finish_reason
        progress = self.progress
        if progress is not None:
            extra["progress"] = progress
        if self.result is not None:
            extra["result"] = self.result
        return extra

    def patch_info(self) -> dict[str, Any]:
        """Every field of :meth:`to_info` but the text (content, reasoning) and the id."""
        fields: dict[str, Any] = {
            "role": self.role,
            "status": self.status,
            "error": self.error,
            "created_at": self.created_at,
            "metrics": self.metrics,
            "refusal": self.refusal,
            "tool_calls": self.tool_calls,
            "reasoning_at": self.reply.reasoning_at,
            "finish_reason": self.finish_reason or "",
            "progress": self.progress,
            "superseded": self.superseded,
        }
        if self.result is not None:
            fields["result"] = self.result
        return fields

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
        info.update(self._extra())  # type: ignore[typeddict-item]
        if self.superseded:
            info["superseded"] = True
        return info

    def to_record(self, finished_at: float | None = None) -> MessageRecord:
        problem = self.reply.error
        return MessageRecord(
            id=self.id,
            role=self.role,
            content=self.content,
            status=self.status,
            created_at=self.created_at,
            error_code=problem.code if problem else None,
            error_message=problem.message if problem else None,
            model=self.model,
            metrics=self.metrics,
            finished_at=finished_at,
            extra=self._extra(),
        )

    @classmethod
    def from_record(cls, record: MessageRecord) -> Message:
        """The stored message; a reply still ``streaming`` was cut off by a crash.

        Replies are saved while they stream (see :mod:`nbchat.turn`); a row that is
        still ``streaming`` when a conversation is opened belonged to a kernel that
        stopped mid-reply. It is shown as interrupted, with the text it had.
        """
        if record.status == "streaming":
            calls = record.extra.get("tool_calls")
            if isinstance(calls, list):  # a tool the kernel was running (or asking) died too
                calls = [
                    {**c, "status": "cancelled", "result": c.get("result") or CUT_SHORT}
                    if isinstance(c, dict) and c.get("round") and c.get("status") in UNFINISHED
                    else c
                    for c in calls
                ]
                record = dataclasses.replace(record, extra={**record.extra, "tool_calls": calls})
            record = dataclasses.replace(
                record,
                status="interrupted",
                error_code="INTERRUPTED",
                error_message="the kernel stopped during this reply; the text is as last "
                "saved (at most a second is missing)",
            )
        extra = record.extra
        calls = extra.get("tool_calls")
        progress = extra.get("progress")
        finish = extra.get("finish_reason")
        reply = Reply.restore(
            record.content,
            reasoning=_text(extra.get("reasoning")),
            reasoning_at=text_offset(extra.get("reasoning_at")),
            refusal=_text(extra.get("refusal")),
            tool_calls=[c for c in calls if isinstance(c, dict)] if isinstance(calls, list) else (),
            finish_reason=finish if isinstance(finish, str) else None,
            progress=progress if isinstance(progress, dict) else None,
            result=extra.get("result"),
            error=StreamError(record.error_code, record.error_message or "")
            if record.error_code
            else None,
        )
        return cls(
            record.role,
            status=record.status,
            created_at=record.created_at,
            metrics=record.metrics,
            id=record.id,
            model=record.model,
            reply=reply,
        )


#: a kernel tool call that had not ended when its kernel stopped
UNFINISHED = ("queued", "waiting", "running")
#: what such a call's result says (the model is told it on the next turn)
CUT_SHORT = "Not completed: the kernel stopped during this call."


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""
