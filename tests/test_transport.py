"""The transport alone over loopback: long streams in bounded memory, line framing."""

from __future__ import annotations

import asyncio
import resource
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from nbchat import ChatController
from nbchat.dialects import HttpRequest, get_dialect
from nbchat.errors import ProtocolError
from nbchat.server import ServerThread
from nbchat.stream import HttpTransport
from nbchat.stream.http import POOL
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


@pytest.mark.timeout(20)
async def test_a_client_whose_hook_read_the_body_still_streams(url: str) -> None:
    # A caller's own client may read responses in a hook: the body is then whole in
    # memory, and the stream reads it from there (never the spent network stream).
    async def read(response: httpx.Response) -> None:
        await response.aread()

    request = HttpRequest("POST", f"{url}/v4-lines/chat/completions", {}, framing="lines")
    client = httpx.AsyncClient(event_hooks={"response": [read]})
    async with client, HttpTransport(client=client).open(request) as stream:
        lines = [event.data async for event in stream]
    assert lines == ['0:"Hel"', '0:"lo"', 'd:{"finishReason":"stop"}']


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


class KeepAliveServer:
    """A raw HTTP/1.1 server answering every POST with one short SSE reply, keep-alive;
    it counts TCP connections."""

    BODY = b'data: {"choices":[{"delta":{"content":"ok"}}]}\n\ndata: [DONE]\n\n'

    def __init__(self) -> None:
        self.connections = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (int(line.split(b":")[1]) for line in head.split(b"\r\n")
                     if line.lower().startswith(b"content-length")), 0,
                )  # fmt: skip
                await reader.readexactly(length)
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                    + f"content-length: {len(self.BODY)}\r\n\r\n".encode()
                    + self.BODY
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def test_one_pooled_client_per_loop_kept_alive_and_closed_with_the_loop() -> None:
    server = KeepAliveServer()

    async def turns() -> httpx.AsyncClient:
        listening = await asyncio.start_server(server.handle, "127.0.0.1", 0)
        port = listening.sockets[0].getsockname()[1]
        try:
            first = ChatController(f"http://127.0.0.1:{port}/v1", model="m", history=None)
            second = ChatController(f"http://127.0.0.1:{port}/v1", model="m", history=None)
            for chat in (first, second, first):
                assert (await chat.send("hi")).content == "ok"
            client = POOL.client()
            assert not client.is_closed
            return client
        finally:
            listening.close()

    client = asyncio.run(turns())
    assert server.connections == 1  # three turns, two chats: one connection
    assert client.is_closed  # closed with its loop


EXIT_SCRIPT = """
import asyncio, atexit, sys
from nbchat import ChatController
from nbchat.stream.http import POOL
from tests.test_transport import KeepAliveServer

clients = []
# Registered before nbchat's own hook, so it runs after it.
atexit.register(lambda: print("closed" if clients[0].is_closed else "open", flush=True))


async def turn():
    server = KeepAliveServer()
    listening = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    chat = ChatController(f"http://127.0.0.1:{port}/v1", model="m", history=None)
    assert (await chat.send("hi")).content == "ok"
    clients.append(POOL.client())


loop = asyncio.new_event_loop()  # a kernel's loop: never closed before the process ends
loop.run_until_complete(turn())
"""


def test_the_pooled_client_is_closed_at_interpreter_exit() -> None:
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-W", "error::ResourceWarning", "-c", EXIT_SCRIPT],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "closed", done.stderr
