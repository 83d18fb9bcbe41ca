"""The model seam: what the server's routes call to get a reply, and the demo behind it.

A :class:`ChatModel` turns a conversation (``{role, content}`` messages, oldest first)
into an async stream of normalized :mod:`nbchat.events`: ``TextDelta`` pieces, then
``Usage`` and ``Finished``, or a ``StreamError``. Both the sessions API and the
OpenAI-compatible route render from this one stream, so the offline demo model and
the upstream gateway (:mod:`nbchat.server.upstream`) serve every route alike.

Contract of ``stream``:

* it may first yield :class:`Opened` once the model accepted the request (for the
  gateway: the upstream answered 2xx with an event stream). Until then a failure is
  a *setup* failure, answered as JSON before any SSE byte; after it, failures are
  reported in the stream. A model that never yields ``Opened`` is opened by its
  first event;
* failures are raised as :class:`~nbchat.errors.StreamFailure` (the transport's
  errors) or yielded as ``StreamError`` events;
* cancelling the consuming task (Stop, a client that did not come back, shutdown)
  must stop the work: the gateway closes its upstream request.

``check`` runs before anything is saved: it raises :class:`ModelSetupError` for a
server that cannot call its model at all (``API_KEY_MISSING``, ``CONFIG_ERROR``).
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from nbchat.errors import ConfigurationError, NbchatError
from nbchat.events import (
    Finished,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    ToolCallFinished,
    ToolCallStarted,
    Usage,
)
from nbchat.server.demo_model import DemoModel, count_prompt_tokens, split_tokens
from nbchat.server.demo_tools import demo_tool_answer, demo_tool_calls
from nbchat.wire import SAMPLING_FIELDS, ChatMessageParam, ToolChoice, ToolDef

__all__ = [
    "SAMPLING_FIELDS",
    "ChatModel",
    "DemoChatModel",
    "ModelEvent",
    "ModelSetupError",
    "Opened",
    "Options",
    "check_tokens_per_second",
]


@dataclass(frozen=True)
class Options:
    """What a ``/v1`` request asks besides its messages: the tools it offers the model,
    its ``tool_choice``, and sampling fields (``temperature``...) as the client sent them."""

    tools: tuple[ToolDef, ...] = ()
    tool_choice: ToolChoice = "auto"
    sampling: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Opened:
    """The model accepted the request; reply events follow. Never rendered."""


ModelEvent = StreamEvent | Opened


class ModelSetupError(NbchatError):
    """The model cannot be asked (no key, bad setup, upstream refused before replying).

    Answered as a JSON error with ``status`` before any stream starts.
    """

    def __init__(self, message: str, *, code: str = "CONFIG_ERROR", status: int = 500) -> None:
        super().__init__(message, code=code)
        self.status = status


class ChatModel(Protocol):
    """What answers a conversation; see the module docstring."""

    #: the model id the server advertises and accepts in ``/v1`` requests
    name: str
    #: one line for the index page and the start-up banner (never holds a key)
    description: str

    def check(self) -> None:
        """Raise :class:`ModelSetupError` if no request can succeed (missing key...)."""

    #: the sampling fields (of :data:`SAMPLING_FIELDS`) the model takes; a request with
    #: another is refused with a 400 naming it, never silently ignored
    sampling: frozenset[str]

    def stream(
        self, messages: Sequence[ChatMessageParam], options: Options | None = None
    ) -> AsyncIterator[ModelEvent]:
        """The reply to ``messages`` as events (tool calls among them when ``options``
        offers tools); see the module docstring."""

    async def aclose(self) -> None:
        """Release connections; the model may be used again afterwards."""


def check_tokens_per_second(tokens_per_second: object) -> float:
    """``tokens_per_second`` as a positive float (``inf`` = no pauses).

    Raises
    ------
    ConfigurationError
        If it is not a positive number.
    """
    if isinstance(tokens_per_second, bool) or not isinstance(tokens_per_second, (int, float)):
        raise ConfigurationError(
            f"tokens_per_second must be a number, got {type(tokens_per_second).__name__}."
        )
    if math.isnan(tokens_per_second) or tokens_per_second <= 0:
        raise ConfigurationError(f"tokens_per_second must be positive, got {tokens_per_second!r}.")
    return float(tokens_per_second)


class DemoChatModel:
    """The offline :class:`DemoModel`, streamed at a steady pace.

    Parameters
    ----------
    model
        The reply maker; a fresh :class:`DemoModel` by default.
    tokens_per_second
        Pace of the stream; ``math.inf`` streams without pauses.

    Raises
    ------
    ConfigurationError
        If ``tokens_per_second`` is not a positive number.
    """

    description = "offline demo model"
    #: the demo is deterministic: it takes every sampling field, and none changes a reply
    sampling = frozenset(SAMPLING_FIELDS)

    def __init__(self, model: DemoModel | None = None, *, tokens_per_second: float = 45.0) -> None:
        self.model = model if model is not None else DemoModel()
        self.name = self.model.name
        self.tokens_per_second = check_tokens_per_second(tokens_per_second)

    def check(self) -> None:
        """The demo needs nothing: never raises."""

    async def stream(
        self, messages: Sequence[ChatMessageParam], options: Options | None = None
    ) -> AsyncIterator[ModelEvent]:
        """Yield ``Opened``, the reply's tokens at the configured pace, usage, ``Finished``;
        or, when ``options`` offers tools the prompt calls for, the tool calls (see
        :mod:`nbchat.server.demo_tools`); after tool results, an answer quoting them."""
        yield Opened()
        last = messages[-1] if messages else None
        if options and options.tools and last is not None and last["role"] == "user":
            calls = demo_tool_calls(last["content"], options.tools, options.tool_choice)
            if calls:
                for index, (name, arguments) in enumerate(calls):
                    yield ToolCallStarted(index, f"call_demo_{len(messages)}_{index}", name)
                    yield ToolCallDelta(index, json.dumps(arguments))
                    yield ToolCallFinished(index, arguments)
                yield Usage(count_prompt_tokens(messages), len(calls) * 8)
                yield Finished("tool_calls", "tool_calls")
                return
        if last is not None and last["role"] == "tool":
            tokens = split_tokens(demo_tool_answer(messages))
        else:
            tokens = self.model.tokens(messages)
        interval = 0.0 if math.isinf(self.tokens_per_second) else 1.0 / self.tokens_per_second
        # Pace against a fixed schedule so sleep overshoot does not accumulate.
        start = time.monotonic()
        for index, token in enumerate(tokens):
            if interval:
                delay = start + (index + 1) * interval - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            elif index % 32 == 31:
                await asyncio.sleep(0)  # unpaced: still let other streams run
            yield TextDelta(token)
        yield Usage(count_prompt_tokens(messages), len(tokens))
        yield Finished("stop", "stop")

    async def aclose(self) -> None:
        """Nothing to release."""
