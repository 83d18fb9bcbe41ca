"""What a dialect is: a request builder plus an incremental stream parser.

A dialect is the only place that knows a provider's wire format. It builds the HTTP
request for a conversation and turns each server-sent event into normalized
:mod:`nbchat.events`. One instance parses one response; ``end`` is called at EOF and
reports a stream that stopped before its protocol's end marker as ``INTERRUPTED``.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from nbchat.config import Endpoint
from nbchat.errors import excerpt
from nbchat.events import StreamError, StreamEvent
from nbchat.sse import ServerSentEvent
from nbchat.wire import ChatMessageParam


@dataclass(frozen=True)
class HttpRequest:
    """An HTTP request to make: the transport sends it as is."""

    method: str
    url: str
    json: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict, repr=False)


class Dialect(ABC):
    """Parses one response of one wire format; see the module docstring."""

    name: str = ""
    #: the marker that ends a stream properly, named in INTERRUPTED errors
    end_marker: str = ""

    def __init__(self) -> None:
        self.finished = False
        self.failed = False

    @abstractmethod
    def build_request(
        self, endpoint: Endpoint, messages: Sequence[ChatMessageParam]
    ) -> HttpRequest:
        """The request that asks ``endpoint`` to continue ``messages``."""

    @abstractmethod
    def feed(self, event: ServerSentEvent) -> list[StreamEvent]:
        """Normalized events for one server-sent event."""

    def end(self) -> list[StreamEvent]:
        """Called at EOF: an unfinished, unfailed stream is reported as interrupted."""
        if self.finished or self.failed:
            return []
        self.failed = True
        return [
            StreamError(
                "INTERRUPTED",
                f"the stream ended before {self.end_marker}: the reply may be incomplete",
            )
        ]

    def parse_json(self, data: str) -> tuple[Any, StreamError | None]:
        """``json.loads(data)``, or a PROTOCOL_ERROR quoting the offending text."""
        try:
            return json.loads(data), None
        except json.JSONDecodeError as exc:
            self.failed = True
            return None, StreamError(
                "PROTOCOL_ERROR",
                f"malformed JSON in a {self.name} event ({exc.msg} at char {exc.pos}): "
                f"{excerpt(data)!r}",
            )
