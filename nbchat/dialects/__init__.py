"""Dialects: one module per wire format, looked up by name.

``register_dialect(name, factory)`` adds a user's own; ``get_dialect(name)`` makes a
fresh parser for one response.
"""

from __future__ import annotations

from collections.abc import Callable

from nbchat.dialects.base import Dialect, HttpRequest
from nbchat.dialects.openai_chat import OpenAIChatDialect
from nbchat.errors import ConfigurationError

_REGISTRY: dict[str, Callable[[], Dialect]] = {
    OpenAIChatDialect.name: OpenAIChatDialect,
}


def register_dialect(name: str, factory: Callable[[], Dialect]) -> None:
    """Make ``Chat(dialect=name)`` use ``factory()`` to parse each response."""
    if not name:
        raise ConfigurationError("a dialect needs a non-empty name")
    _REGISTRY[name] = factory


def get_dialect(name: str) -> Dialect:
    """A new parser for dialect ``name``; ConfigurationError lists the known names."""
    try:
        factory = _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise ConfigurationError(f"unknown dialect {name!r}; known dialects: {known}") from None
    return factory()


def dialect_names() -> list[str]:
    """The names ``get_dialect`` accepts."""
    return sorted(_REGISTRY)


__all__ = ["Dialect", "HttpRequest", "dialect_names", "get_dialect", "register_dialect"]
