"""A conversation taken out of the notebook: Markdown, JSON, a standalone HTML page, or a
pandas DataFrame. The whole conversation (not the saved output's last page), with the
same safety rules as the page (:mod:`nbchat.transcript`).
"""

from __future__ import annotations

import datetime as dt
import html
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from nbchat.errors import ConfigurationError
from nbchat.message import Message
from nbchat.transcript import Transcript

Format = Literal["markdown", "json", "html"]
FORMATS: tuple[Format, ...] = ("markdown", "json", "html")
#: file name suffix and media type of each format
SUFFIXES = {"markdown": ".md", "json": ".json", "html": ".html"}
MEDIA_TYPES = {"markdown": "text/markdown", "json": "application/json", "html": "text/html"}
#: the columns of :func:`to_dataframe`, in order
COLUMNS = (
    "id",
    "role",
    "content",
    "status",
    "created_at",
    "model",
    "error_code",
    "error_message",
    "ttft_s",
    "tokens_per_s",
    "duration_s",
    "output_tokens",
    "input_tokens",
)

_PAGE_STYLE = """
body { max-width: 52rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.5;
       font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328; }
pre { background: #f6f8fa; padding: 0.6rem; overflow: auto; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
table { border-collapse: collapse; } td, th { border: 1px solid #d0d7de; padding: 2px 6px; }
"""


def export_text(
    fmt: str, messages: Sequence[Message], *, name: str, model: str, location: str
) -> str:
    """The conversation ``name`` (its ``messages``) as ``fmt`` text.

    Raises
    ------
    ConfigurationError
        ``fmt`` is not one of :data:`FORMATS`.
    """
    if fmt not in FORMATS:
        raise ConfigurationError(f"export format {fmt!r}: use one of {', '.join(FORMATS)}")
    whole = Transcript(messages, model, location, last=len(messages) or 1, max_chars=2**62)
    if fmt == "markdown":
        return whole.markdown()
    if fmt == "html":
        title = html.escape(f"nbchat: {name}")
        return (
            f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{title}</title><style>{_PAGE_STYLE}</style></head>\n"
            f"<body><h1>{title}</h1>\n{whole.html('0' * 32)}\n</body></html>\n"
        )
    document = {
        "format": "nbchat-conversation",
        "version": 1,
        "conversation": name,
        "model": model,
        "exported_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "messages": [{**m.to_info(), "model": m.model} for m in messages],
    }
    return json.dumps(document, ensure_ascii=False, indent=2, default=str) + "\n"


def export_filename(name: str, fmt: str) -> str:
    """A file name for conversation ``name`` exported as ``fmt``: the conversation's
    last path part, safe on every file system."""
    stem = name.rsplit("/", 1)[-1].split("#", 1)[0].removesuffix(".ipynb")
    stem = re.sub(r"[^\w.-]+", "-", stem).strip(".-")[:60] or "conversation"
    return f"{stem}-chat{SUFFIXES.get(fmt, '.txt')}"


def write_export(text: str, path: str | os.PathLike[str]) -> Path:
    """Write an export; a failure (a missing folder, a full disk) names the file."""
    target = Path(path).expanduser()
    try:
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot write the export to {target}: {exc}") from exc
    return target


def rows(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """One row per message, with the :data:`COLUMNS`."""
    out = []
    for m in messages:
        error: dict[str, Any] = dict(m.error or {})
        metrics: dict[str, Any] = dict(m.metrics)
        out.append(
            {
                "id": m.id,
                "role": m.role,
                "content": m.content,
                "status": m.status,
                "created_at": dt.datetime.fromtimestamp(m.created_at, dt.UTC),
                "model": m.model,
                "error_code": error.get("code"),
                "error_message": error.get("message"),
                **{key: metrics.get(key) for key in COLUMNS[8:]},
            }
        )
    return out


def to_dataframe(messages: Sequence[Message]) -> Any:
    """A pandas DataFrame of :func:`rows` (pandas is optional: a clear error without it)."""
    try:
        import pandas as pd
    except ImportError as exc:
        raise ConfigurationError(
            "to_dataframe() needs pandas: pip install pandas (or use export('json'))"
        ) from exc
    return pd.DataFrame(rows(messages), columns=list(COLUMNS))


__all__ = [
    "FORMATS",
    "MEDIA_TYPES",
    "SUFFIXES",
    "export_text",
    "rows",
    "to_dataframe",
    "write_export",
]
