"""Read the reason out of an error response body, whatever its shape.

Servers explain failures in many shapes: OpenAI's ``{"error": {"message", "type",
"code"}}``, the specs' ``{"success": false, "error": {"message", "code"}}``,
Anthropic's ``{"type": "error", "error": {"type", "message"}}``, Ollama's
``{"error": "..."}``, FastAPI's ``{"detail": ...}``, HTML login or proxy pages, plain
text. ``summarize_body`` returns the server's code (if any) and a one-line message.
HTML is summarized as text (title or first words), never rendered.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

from nbchat.errors import excerpt

_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_DROP = re.compile(r"<(script|style|head)[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


def summarize_body(body: bytes, content_type: str | None) -> tuple[str | None, str]:
    """``(server_code, message)`` for an error body; message is never empty."""
    text = body.decode("utf-8", errors="replace").strip()
    if not text:
        return None, "(empty body)"
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    if kind.endswith("json") or text[:1] in "{[":
        try:
            return _from_json(json.loads(text))
        except json.JSONDecodeError:
            pass
    if "html" in kind or text[:1] == "<":
        return None, "HTML page: " + _from_html(text)
    return None, excerpt(_SPACE.sub(" ", text))


def _from_json(value: Any) -> tuple[str | None, str]:
    if isinstance(value, dict):
        error = value.get("error")
        if isinstance(error, dict):
            code = error.get("code") or error.get("type")
            message = error.get("message") or error.get("msg")
            if message:
                return (str(code) if code else None), excerpt(str(message))
        if isinstance(error, str) and error:
            message = value.get("message")
            if isinstance(message, str) and message:
                # {"error": "VALIDATION_ERROR", "message": "..."} (spec 004): both count
                return error, excerpt(message)
            return None, excerpt(error)
        for key in ("message", "detail", "msg"):
            if value.get(key):
                detail = value[key]
                text = detail if isinstance(detail, str) else json.dumps(detail)
                code = value.get("code")
                return (str(code) if code else None), excerpt(text)
    return None, excerpt(json.dumps(value))


def _from_html(text: str) -> str:
    title = _TITLE.search(text)
    if title:
        found = _SPACE.sub(" ", html.unescape(_TAG.sub(" ", title.group(1)))).strip()
        if found:
            return excerpt(found, 120)
    body = _SPACE.sub(" ", html.unescape(_TAG.sub(" ", _DROP.sub(" ", text)))).strip()
    return excerpt(body, 120) if body else "(no text)"
