"""Parse a recorded response body into a :class:`~nbchat.accumulate.Reply`, offline.

The same path a live turn takes, minus the network: bytes -> the dialect's decoder
(server-sent events or lines) -> dialect -> normalized events -> Reply.
"""

from __future__ import annotations

from collections.abc import Iterable

from nbchat.accumulate import Reply
from nbchat.dialects import get_dialect
from nbchat.dialects.base import Dialect
from nbchat.errors import NbchatError
from nbchat.events import StreamError
from nbchat.stream.base import decoder_for
from nbchat.stream.sse import is_event_stream


def parse_stream(
    body_chunks: Iterable[bytes] | bytes,
    dialect: str | Dialect,
    content_type: str | None = None,
) -> Reply:
    """Parse a streamed response body into the reply it amounts to.

    Parameters
    ----------
    body_chunks
        The response body: one ``bytes`` object, or its chunks in any cutting (the
        result does not depend on where the chunks are cut).
    dialect
        A registered dialect name (``"openai-chat"``, ``"anthropic"``, ``"ai-sdk"``,
        ...; see ``nbchat.dialects.dialect_names()``) or a fresh
        :class:`~nbchat.dialects.Dialect` instance (one per response).
    content_type
        The response's Content-Type, when known. For a server-sent events dialect it
        must be ``text/event-stream``; anything else gives a reply whose ``error`` is a
        ``PROTOCOL_ERROR`` and nothing is parsed. Line-framed dialects (``ai-sdk-v4``)
        accept any content type.

    Returns
    -------
    Reply
        Text, reasoning, refusal, tool calls, finish reason, usage, progress and
        result as the stream reported them. A stream that reports an error, is
        malformed or stops before its end marker has ``reply.error`` set (codes
        ``PROVIDER_ERROR``, ``PROTOCOL_ERROR``, ``INTERRUPTED``) and keeps what
        arrived before.

    Raises
    ------
    ConfigurationError
        ``dialect`` is a name no dialect is registered under.

    Examples
    --------
    >>> reply = parse_stream(b'data: {"choices":[{"delta":{"content":"Hi"}}]}\\n\\n'
    ...                      b"data: [DONE]\\n\\n", "openai-chat")
    >>> reply.text, reply.finish_reason
    ('Hi', 'stop')
    """
    parser = get_dialect(dialect) if isinstance(dialect, str) else dialect
    reply = Reply()
    if parser.framing == "sse" and content_type is not None and not is_event_stream(content_type):
        reply.apply(
            StreamError(
                "PROTOCOL_ERROR",
                f"expected Content-Type text/event-stream for the {parser.name or 'custom'} "
                f"dialect, got {content_type!r}",
            )
        )
        return reply
    chunks = [body_chunks] if isinstance(body_chunks, (bytes, bytearray)) else body_chunks
    decoder = decoder_for(parser.framing)
    try:
        for chunk in chunks:
            for sse in decoder.feed(bytes(chunk)):
                for event in parser.feed(sse):
                    reply.apply(event)
        for sse in decoder.close():
            for event in parser.feed(sse):
                reply.apply(event)
    except NbchatError as exc:  # e.g. a line longer than the decoder's bound
        parser.failed = True
        reply.apply(StreamError(exc.code, exc.message))
    for event in parser.end():
        reply.apply(event)
    return reply
