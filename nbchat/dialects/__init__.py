"""Dialects: one module per wire format, looked up by name.

``register_dialect(name, factory)`` adds a user's own; ``get_dialect(name)`` makes a
fresh parser for one response. A public module: subclass :class:`Dialect` (or
:class:`JSONDialect`, when every event holds one JSON object) and use the helpers
exported here to write your own.

Built in: ``openai-chat`` (Chat Completions and compatibles), ``openai-responses``,
``anthropic``, ``ai-sdk`` (Vercel AI SDK 5 UI message stream), ``ai-sdk-v4`` (its v4
data stream, one part per line), ``events`` (the specs' chunk/complete/error and
start/message/tool_started/tool_finished/done/error streams) and ``progress``
(stage/progress/ETA events, then a result).
"""

from __future__ import annotations

from collections.abc import Callable

from nbchat.dialects.ai_sdk import AISDKDialect, AISDKv4Dialect
from nbchat.dialects.anthropic import AnthropicDialect
from nbchat.dialects.base import (
    Dialect,
    JSONDialect,
    ToolCallTracker,
    bearer_headers,
    error_label,
    last_user_text,
    parse_arguments,
    system_text,
    token_count,
    usage_events,
    with_last_event_id,
)
from nbchat.dialects.openai_chat import OpenAIChatDialect
from nbchat.dialects.openai_responses import OpenAIResponsesDialect
from nbchat.dialects.progress import ProgressDialect
from nbchat.dialects.spec_events import SpecEventsDialect
from nbchat.errors import ConfigurationError
from nbchat.stream.base import HttpRequest
from nbchat.stream.sse import ServerSentEvent

_REGISTRY: dict[str, Callable[[], Dialect]] = {
    cls.name: cls
    for cls in (
        OpenAIChatDialect,
        OpenAIResponsesDialect,
        AnthropicDialect,
        AISDKDialect,
        AISDKv4Dialect,
        SpecEventsDialect,
        ProgressDialect,
    )
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


__all__ = [
    "Dialect",
    "HttpRequest",
    "JSONDialect",
    "ServerSentEvent",
    "ToolCallTracker",
    "bearer_headers",
    "dialect_names",
    "error_label",
    "get_dialect",
    "last_user_text",
    "parse_arguments",
    "register_dialect",
    "system_text",
    "token_count",
    "usage_events",
    "with_last_event_id",
]
