"""What a tool returned, as the text a model is sent: by type, and never too long.

- ``str``: as is;
- ``None``, numbers, booleans and JSON-able lists and dicts: JSON;
- a pandas DataFrame or Series: a compact table (its first and last rows, at most
  :data:`MAX_COLUMNS` columns) with a line giving its shape and saying what was left out;
- anything else: its ``repr``.

Every result is cut at ``max_chars`` characters, saying so, so one call cannot fill the
model's context.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["MAX_CHARS", "MAX_COLUMNS", "MAX_ROWS", "pandas_kind", "result_text"]

#: the longest result text sent to a model
MAX_CHARS = 20_000
#: how many rows of a table are shown (half from the top, half from the bottom)
MAX_ROWS = 20
#: how many columns of a table are shown
MAX_COLUMNS = 20


def result_text(value: Any, max_chars: int = MAX_CHARS) -> str:
    """``value`` as the text a model is sent (see the module docstring)."""
    if isinstance(value, str):
        text = value
    elif (kind := pandas_kind(value)) is not None:
        text = _table(value, frame=kind == "DataFrame")
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError):
            text = _repr(value)
    return _capped(text, max_chars)


def pandas_kind(value: Any) -> str | None:
    """``"DataFrame"`` or ``"Series"`` for a pandas one (pandas itself is not imported:
    it is optional), else None."""
    kind = type(value)
    if kind.__module__.startswith("pandas") and kind.__name__ in ("DataFrame", "Series"):
        return kind.__name__
    return None


def _table(value: Any, *, frame: bool) -> str:
    # A DataFrame (``frame``) or a Series.
    rows = len(value)
    if frame:
        columns = value.shape[1]
        shape = f"DataFrame: {rows:,} rows × {columns:,} columns"
    else:
        columns = 1
        shape = f"Series {value.name!r}: {rows:,} rows, dtype {value.dtype}"
    left_out = []
    if rows > MAX_ROWS:
        left_out.append(f"{rows - MAX_ROWS:,} rows")
    if columns > MAX_COLUMNS:
        left_out.append(f"{columns - MAX_COLUMNS:,} columns")
    if frame:
        table = value.to_string(max_rows=MAX_ROWS, max_cols=MAX_COLUMNS, max_colwidth=60)
    else:
        table = value.to_string(max_rows=MAX_ROWS)
    note = f" (showing part: {' and '.join(left_out)} left out, shown as ...)" if left_out else ""
    return f"{shape}{note}\n{table}"


def _repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception as exc:  # a broken __repr__ must not break the turn
        return f"<{type(value).__name__} whose repr failed: {exc}>"


def _capped(text: str, max_chars: int) -> str:
    if len(text) <= max_chars:
        return text
    return f"{text[:max_chars]}\n… (cut: {len(text) - max_chars:,} more characters not shown)"
