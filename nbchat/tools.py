"""Built-in tools for notebooks: let the model look at the variables you choose to share.

::

    nbchat.tools.share(sales, name="sales")           # the model may look at it
    chat = nbchat.Chat(tools=nbchat.tools.DATA_TOOLS)  # describe_data, query_data

``describe_data(name)`` tells the model a shared variable's shape, columns and dtypes,
its first rows and a numeric summary (a DataFrame or Series; for anything else its type,
length and a short ``repr``). ``query_data(name, ...)`` answers a read-only question —
columns, filters, group by + aggregate, sort, limit — built from structured arguments,
never from code the model writes: nothing the model sends is evaluated.

What leaves the kernel: exactly the text these tools return (at most
:data:`~nbchat.tool_result.MAX_ROWS` rows of a table, cut at
:data:`~nbchat.tool_result.MAX_CHARS` characters), sent to the chat's model provider as
the call's result; the whole data never, unless a query's result is the whole (small)
table. Variables not shared are not reachable: the tools know only the names given to
:func:`share`.
"""

from __future__ import annotations

import threading
from typing import Any, Literal

from typing_extensions import TypedDict

from nbchat.errors import ConfigurationError
from nbchat.tool_result import pandas_kind, result_text
from nbchat.tool_schema import tool_spec
from nbchat.toolbox import Tool
from nbchat.wire import ToolDef

__all__ = ["DATA_TOOLS", "Filter", "describe_data", "query_data", "share", "shared", "unshare"]

_lock = threading.Lock()
_shelf: dict[str, Any] = {}

#: the most rows ``query_data`` returns
QUERY_ROWS = 50


def share(value: Any, name: str | None = None) -> str:
    """Let the data tools show ``value`` to the model under ``name`` (a DataFrame's or
    Series' own ``.name`` when left out); returns the name. Sharing again replaces it.

    Raises
    ------
    ConfigurationError
        No name given and ``value`` has none.
    """
    label = name or getattr(value, "name", None)
    if not isinstance(label, str) or not label.strip():
        raise ConfigurationError("share(value, name='...'): give the name the model sees it by")
    with _lock:
        _shelf[label.strip()] = value
    return label.strip()


def unshare(name: str) -> None:
    """Stop showing ``name`` to the model (no error if it was not shared)."""
    with _lock:
        _shelf.pop(name, None)


def shared() -> list[str]:
    """The names shared, in the order they were shared."""
    with _lock:
        return list(_shelf)


def _get(name: str) -> Any:
    with _lock:
        if name in _shelf:
            return _shelf[name]
        names = ", ".join(_shelf) or "none (the user shares one with nbchat.tools.share)"
    raise ValueError(f"no shared variable {name!r}; the shared ones are: {names}")


def _describe(name: str) -> str:
    """Describe a variable the user shared: shape, columns and dtypes, first rows, and a
    summary of its numeric columns.

    Args:
        name: The shared variable's name.
    """
    value = _get(name)
    kind = pandas_kind(value)
    if kind == "DataFrame":
        parts = [
            f"{name}: DataFrame with {value.shape[0]:,} rows × {value.shape[1]:,} columns",
            "Columns and dtypes:\n" + value.dtypes.astype(str).to_string(),
            "First rows:\n" + result_text(value.head(5)),
        ]
        numeric = value.select_dtypes("number")
        if numeric.shape[1]:
            parts.append("Numeric summary:\n" + result_text(numeric.describe()))
        return "\n\n".join(parts)
    if kind == "Series":
        parts = [f"{name}: Series of {len(value):,} values, dtype {value.dtype}"]
        parts.append("First values:\n" + result_text(value.head(5)))
        if value.dtype.kind in "iuf":
            parts.append("Summary:\n" + result_text(value.describe()))
        return "\n\n".join(parts)
    size = f", {len(value):,} items" if hasattr(value, "__len__") else ""
    return f"{name}: {type(value).__name__}{size}\n{result_text(value, max_chars=2000)}"


class Filter(TypedDict):
    """Keep the rows where ``column`` ``op`` ``value``."""

    column: str
    op: Literal["==", "!=", "<", "<=", ">", ">=", "in", "contains"]
    value: Any


Aggregate = Literal["sum", "mean", "median", "min", "max", "count", "nunique"]


def _query(
    name: str,
    columns: list[str] | None = None,
    filters: list[Filter] | None = None,
    group_by: list[str] | None = None,
    aggregate: dict[str, Aggregate] | None = None,
    sort_by: str | None = None,
    descending: bool = False,
    limit: int = 20,
) -> Any:
    """Read rows of a shared DataFrame: filter, group and aggregate, sort, limit. Nothing
    is changed.

    Args:
        name: The shared DataFrame's name.
        columns: The columns to return (all when left out).
        filters: Conditions every returned row meets.
        group_by: Columns to group by (then give aggregate).
        aggregate: Column -> function, applied per group (or to the whole table).
        sort_by: A column of the result to sort by.
        descending: Sort from the largest.
        limit: At most this many rows (up to 50).
    """
    frame = _get(name)
    if pandas_kind(frame) != "DataFrame":
        raise ValueError(f"{name!r} is not a DataFrame; use describe_data")
    known = set(map(str, frame.columns))

    def check(column: str) -> str:
        if column not in known:
            raise ValueError(f"no column {column!r} in {name}; its columns: {', '.join(known)}")
        return column

    result = frame
    for rule in filters or ():
        series = result[check(rule["column"])]
        op, value = rule["op"], rule["value"]
        if op == "in":
            mask = series.isin(value if isinstance(value, list) else [value])
        elif op == "contains":
            mask = series.astype(str).str.contains(str(value), case=False, regex=False)
        else:
            mask = {
                "==": series.__eq__,
                "!=": series.__ne__,
                "<": series.__lt__,
                "<=": series.__le__,
                ">": series.__gt__,
                ">=": series.__ge__,
            }[op](value)
        result = result[mask]
    if group_by or aggregate:
        how = {check(c): f for c, f in (aggregate or {}).items()}
        if group_by:
            keys = [check(c) for c in group_by]
            result = result.groupby(keys).agg(how or "size")
            result = result.reset_index() if hasattr(result, "reset_index") else result
        else:
            result = result.agg(how).to_frame("value")
    if columns:
        result = result[[check(c) for c in columns]]
    if sort_by:
        if sort_by not in set(map(str, result.columns)):
            raise ValueError(f"cannot sort by {sort_by!r}: not a column of the result")
        result = result.sort_values(sort_by, ascending=not descending)
    return result.head(max(1, min(int(limit), QUERY_ROWS)))


class _SharedDataTool(Tool):
    """A tool over the shared variables: the model is told their names (an ``enum``) at
    every request, so variables shared later are offered too."""

    def definition(self) -> ToolDef:
        out = super().definition()
        names = shared()
        properties = dict(out["parameters"].get("properties") or {})
        if names and "name" in properties:
            properties["name"] = {**properties["name"], "enum": names}
        return {**out, "parameters": {**out["parameters"], "properties": properties}}


#: ``describe_data``: what a shared variable holds (see the module docstring)
describe_data = _SharedDataTool(_describe, tool_spec(_describe, name="describe_data"))
#: ``query_data``: a read-only query of a shared DataFrame (see the module docstring)
query_data = _SharedDataTool(_query, tool_spec(_query, name="query_data"))
#: both data tools: ``Chat(tools=nbchat.tools.DATA_TOOLS)``
DATA_TOOLS: tuple[Tool, ...] = (describe_data, query_data)
