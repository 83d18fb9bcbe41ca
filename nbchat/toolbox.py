"""A chat's tools: Python functions the model may call, run in the kernel.

::

    chat = nbchat.Chat(tools=[lookup])        # at creation
    chat.tools.add(plot, approve=True)        # later; approve: the user says yes first

    @chat.tool                                # or as a decorator
    def rows(table: str, limit: int = 5) -> pd.DataFrame:
        \"\"\"The first rows of a table.\"\"\"

    @chat.tool(approve=True)
    def drop(table: str) -> str: ...

A tool's name, description and JSON schema come from the function (see
:mod:`nbchat.tool_schema`). ``approve`` defaults to False: you wrote the function, so
it runs when the model calls it; mark the ones that change things (files, databases,
the kernel's state) with ``approve=True`` and each call waits for Approve in the widget
(or ``chat.approve``).
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, overload

from nbchat.errors import ConfigurationError
from nbchat.tool_schema import ToolSpec, call_target, tool_spec
from nbchat.wire import ToolDef

__all__ = ["Tool", "Toolbox"]


@dataclass(frozen=True)
class Tool:
    """One tool: the function, what the model is told of it, and whether each call
    waits for the user's approval."""

    func: Callable[..., Any]
    spec: ToolSpec
    approve: bool = False

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def is_async(self) -> bool:
        """Whether calling it returns an awaitable (an ``async def``)."""
        return inspect.iscoroutinefunction(call_target(self.func))

    def definition(self) -> ToolDef:
        spec = self.spec
        return {"name": spec.name, "description": spec.description, "parameters": spec.parameters}


class Toolbox:
    """The tools of one chat, by name; see the module docstring."""

    def __init__(self, tools: Iterable[Callable[..., Any] | Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for item in tools:
            if isinstance(item, Tool):
                self._put(item)
            else:
                self.add(item)

    @overload
    def add(
        self,
        func: Callable[..., Any] | Tool,
        *,
        name: str | None = None,
        description: str | None = None,
        approve: bool = False,
    ) -> Callable[..., Any]: ...

    @overload
    def add(
        self,
        func: None = None,
        *,
        name: str | None = None,
        description: str | None = None,
        approve: bool = False,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]: ...

    def add(
        self,
        func: Callable[..., Any] | Tool | None = None,
        *,
        name: str | None = None,
        description: str | None = None,
        approve: bool = False,
    ) -> Any:
        """Offer ``func`` to the model (replacing a tool of the same name); returns
        ``func``, so it also works as a decorator, with or without arguments. A
        :class:`Tool` (``nbchat.tools.describe_data``) is added as it is, ``approve``
        applied.

        Raises
        ------
        ConfigurationError
            ``func`` is not callable, or cannot be described to a model (see
            :func:`~nbchat.tool_schema.tool_spec`).
        """
        if func is None:
            return lambda f: self.add(f, name=name, description=description, approve=approve)
        if isinstance(func, Tool):
            self._put(dataclasses.replace(func, approve=bool(approve) or func.approve))
            return func
        if not callable(func):
            raise ConfigurationError(f"a tool must be a function, not {type(func).__name__}")
        self._put(Tool(func, tool_spec(func, name, description), bool(approve)))
        return func

    def _put(self, tool: Tool) -> None:
        self._tools[tool.name] = tool

    def remove(self, name: str) -> None:
        """Stop offering tool ``name`` (no error if there is none)."""
        self._tools.pop(name, None)

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def __getitem__(self, name: str) -> Tool:
        return self._tools[name]

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        return iter(list(self._tools.values()))

    def __len__(self) -> int:
        return len(self._tools)

    def definitions(self) -> list[ToolDef]:
        """What the model is told: each tool's name, description and parameters."""
        return [tool.definition() for tool in self._tools.values()]

    def __repr__(self) -> str:
        names = ", ".join(
            f"{t.name}{' (approve)' if t.approve else ''}" for t in self._tools.values()
        )
        return f"Toolbox([{names}])"
