"""Event-stream bodies every SSE client reads the same way.

- ``Content-Type: text/event-stream`` exactly: SSE is always UTF-8, and clients such
  as ``@microsoft/fetch-event-source`` compare the header with that string.
- No block without data: a client that dispatches on every blank line (that library
  does, and then ``JSON.parse("")`` throws) sees only real events. So the ``retry:``
  line rides with the first event instead of a block of its own, and a keep-alive is a
  lone comment *line* (``: ping``) with no blank line after it: bytes that keep
  proxies and read timeouts alive, and are never an event to anyone.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from sse_starlette import EventSourceResponse

from nbchat.events import StreamEvent
from nbchat.server.generation import Generation

__all__ = ["KEEPALIVE", "SHUTDOWN_GRACE_S", "event_json", "follow_sse", "sse_response"]

#: seconds sse-starlette lets a stream end by itself when the process is signalled
SHUTDOWN_GRACE_S = 2.0
#: a keep-alive: a comment line, never followed by the blank line that ends a block
KEEPALIVE = b": ping\n"


def event_json(payload: object) -> str:
    """``payload`` as an event's data: compact JSON, text as is (JSON text holds no raw
    line break, so one ``data:`` line carries it whole)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


async def follow_sse(
    generation: Generation,
    render: Callable[[int, StreamEvent], str],
    *,
    first: str = "",
    prefix: str = "",
    after: int = 0,
    keepalive: float | None = None,
) -> AsyncIterator[bytes]:
    """The SSE body of ``generation``: ``first`` (a whole block, if any), then each event
    after ``after`` rendered, ``prefix`` (field lines such as ``retry:``) joined to the
    first of them; :data:`KEEPALIVE` once ``keepalive`` seconds passed without a byte
    written (events that render to nothing do not count).

    ``render(number, event)`` gives an event's text (``""`` for none). Everything that
    arrived together goes out in one write; closing the body stops following.
    """
    if first:
        yield first.encode()
    written = time.monotonic()  # a keep-alive is due this long after the last bytes
    async with contextlib.aclosing(generation.follow(after, keepalive)) as batches:
        async for batch in batches:
            text = "".join(render(number, event) for number, event in batch)
            if text:
                yield (prefix + text).encode()
                prefix = ""
                written = time.monotonic()
            elif keepalive is not None and time.monotonic() - written >= keepalive:
                # Quiet for the client, though events arrive (reasoning, usage...).
                yield KEEPALIVE
                written = time.monotonic()


def sse_response(body: AsyncIterator[bytes], **options: Any) -> EventSourceResponse:
    """An event-stream response with the exact content type and no pings of its own
    (``options`` go to ``EventSourceResponse``)."""
    return EventSourceResponse(
        body,
        ping=0,
        sep="\n",
        headers={"Content-Type": "text/event-stream", **options.pop("headers", {})},
        shutdown_grace_period=SHUTDOWN_GRACE_S,
        **options,
    )
