"""The transport alone over loopback: long streams in bounded memory, line framing."""

from __future__ import annotations

import resource
from collections.abc import Iterator

import pytest

from nbchat.dialects import HttpRequest, get_dialect
from nbchat.errors import ProtocolError
from nbchat.server import ServerThread
from nbchat.stream import HttpTransport
from tests.fault_streams import create_fault_streams


@pytest.fixture
def url() -> Iterator[str]:
    app, _state = create_fault_streams()
    thread = ServerThread(app)
    try:
        yield thread.start()
    finally:
        thread.stop()


def _max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def test_a_million_events_in_bounded_memory(url: str) -> None:
    request = HttpRequest("POST", f"{url}/million/chat/completions", {"stream": True})
    dialect = get_dialect("openai-chat")
    before = _max_rss_mib()
    events = chars = 0
    async with HttpTransport().open(request) as stream:
        async for sse in stream:
            events += 1
            for event in dialect.feed(sse):
                chars += len(getattr(event, "text", ""))
    assert events == 1_000_001  # a million chunks and [DONE]
    assert chars == 1_000_000 and dialect.finished
    assert stream.bytes_received > 45_000_000
    # Memory follows the largest piece in flight, not the 46 MB stream.
    assert _max_rss_mib() - before < 64


async def test_line_framing_reads_lines_of_any_content_type(url: str) -> None:
    request = HttpRequest("POST", f"{url}/v4-lines/chat/completions", {}, framing="lines")
    async with HttpTransport().open(request) as stream:
        lines = [event.data async for event in stream]
    assert lines == ['0:"Hel"', '0:"lo"', 'd:{"finishReason":"stop"}']


async def test_sse_framing_refuses_text_plain(url: str) -> None:
    request = HttpRequest("POST", f"{url}/v4-lines/chat/completions", {})
    with pytest.raises(ProtocolError, match=r"expected text/event-stream .* got text/plain"):
        async with HttpTransport().open(request) as stream:
            [event async for event in stream]
