"""``Chat(session=...)`` against a real sessions server: create, reopen, resume, stop, auth."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest

from nbchat import AuthenticationError, ChatController, NotFoundError
from nbchat.server import DemoModel, ServerThread, create_app


class Server:
    def __init__(self, url: str, token: str | None) -> None:
        self.url = url
        self.token = token

    def get(self, path: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return httpx.get(self.url + path, headers=headers, timeout=10)


def _serve(tps: float, token: str | None = None) -> Iterator[Server]:
    users = {"student": token} if token else None
    thread = ServerThread(create_app(tokens_per_second=tps, users=users, grace=30))
    url = thread.start()
    try:
        yield Server(url, token)
    finally:
        thread.stop()


@pytest.fixture
def server() -> Iterator[Server]:
    yield from _serve(400.0)


@pytest.fixture
def slow_server() -> Iterator[Server]:
    yield from _serve(40.0, token="student-token-123")


async def test_a_new_session_streams_and_the_server_keeps_it(server: Server) -> None:
    chat = ChatController(server.url, session="new", system="Be brief.")
    assert chat.session_id is None  # nothing is sent before the chat needs it
    await chat.connect()
    assert chat.session_id and chat.endpoint.dialect == "events"
    message = await chat.send("What is a DataFrame?")
    expected = DemoModel().reply(
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is a DataFrame?"},
        ]
    )
    assert message.status == "done" and message.content == expected
    stored = server.get(f"/sessions/{chat.session_id}").json()
    assert stored["system_prompt"] == "Be brief."
    assert [(m["role"], m["status"], m["content"]) for m in stored["messages"]] == [
        ("user", "done", "What is a DataFrame?"),
        ("assistant", "done", expected),
    ]

    reopened = ChatController(server.url, session=chat.session_id)
    await reopened.connect()
    assert [(m.role, m.content, m.status) for m in reopened.messages] == [
        (m.role, m.content, m.status) for m in chat.messages
    ]
    assert [m.id for m in reopened.messages] == [m["id"] for m in stored["messages"]]
    second = await reopened.send("And a Series?")
    assert second.status == "done"
    assert len(server.get(f"/sessions/{chat.session_id}").json()["messages"]) == 4


async def test_the_embedded_server_has_sessions_too() -> None:
    chat = ChatController(session="new")
    message = await chat.send("hello")
    assert message.status == "done" and chat.endpoint.embedded
    assert "/sessions/" in chat.endpoint.base_url


async def test_unknown_sessions_and_bad_tokens_are_named(slow_server: Server) -> None:
    with pytest.raises(NotFoundError, match="Session not found"):
        await ChatController(slow_server.url, session="nope", api_key="student-token-123").connect()
    with pytest.raises(AuthenticationError, match="HTTP 401") as caught:
        await ChatController(slow_server.url, session="new", api_key="wrong-token-456").connect()
    assert "wrong-token" not in str(caught.value)


async def test_a_failing_session_open_is_the_turns_error(slow_server: Server) -> None:
    chat = ChatController(slow_server.url, session="nope", api_key="student-token-123")
    message = await chat.send("hello")
    assert message.status == "error" and message.error is not None
    assert message.error["code"] == "NOT_FOUND" and "Session not found" in message.error["message"]


async def test_the_widget_and_a_send_open_one_session(server: Server) -> None:
    chat = ChatController(server.url, session="new")
    chat.connect_soon()  # what showing the widget does
    message = await chat.send("hello")
    assert message.status == "done"
    listed = server.get("/sessions").json()
    sessions = listed["sessions"] if isinstance(listed, dict) else listed
    assert [s["id"] for s in sessions] == [chat.session_id]


async def test_token_from_the_environment(
    slow_server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NBCHAT_SERVER_TOKEN", "student-token-123")
    chat = ChatController(slow_server.url, session="new")
    await chat.connect()
    assert chat.session_id


async def test_stop_stops_the_reply_on_the_server(slow_server: Server) -> None:
    chat = ChatController(slow_server.url, session="new", api_key="student-token-123")
    turn = chat.send("Tell me about numpy broadcasting")
    while len(turn.message.content) < 20:
        await asyncio.sleep(0.02)
    chat.stop()
    message = await turn
    assert message.status == "stopped"
    deadline = time.monotonic() + 5  # well before the server's 30 s grace period
    while True:
        stored = slow_server.get(f"/sessions/{chat.session_id}").json()["messages"][-1]
        if stored["status"] != "streaming" or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    assert stored["status"] == "stopped"
    assert stored["content"].startswith(message.content[:20])


class CuttingProxy:
    """Forwards TCP to a port; the first chat POST's answer is cut after ``limit`` bytes."""

    def __init__(self, target_port: int, limit: int) -> None:
        self.target_port = target_port
        self.limit = limit
        self.cuts = 0
        self.handlers: set[asyncio.Task[None]] = set()
        #: the request line of each connection's first request
        self.requests: list[str] = []

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        self.server.close()
        for task in list(self.handlers):
            task.cancel()
        await asyncio.gather(*self.handlers, return_exceptions=True)
        await self.server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.handlers.add(task)
        up_writer: asyncio.StreamWriter | None = None
        pump: asyncio.Future[None] | None = None
        try:
            first = await reader.read(65536)
            self.requests.append(first.split(b"\r\n", 1)[0].decode(errors="replace"))
            cut = first.startswith(b"POST") and b"/chat " in first.split(b"\r\n", 1)[0]
            cut = cut and self.cuts == 0
            self.cuts += cut
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
            up_writer.write(first)
            pump = asyncio.ensure_future(self._pump(reader, up_writer))
            sent = 0
            while data := await up_reader.read(256):
                if cut and sent + len(data) > self.limit:
                    writer.write(data[: self.limit - sent])
                    await writer.drain()
                    return
                writer.write(data)
                await writer.drain()
                sent += len(data)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            if pump is not None:
                pump.cancel()
                await asyncio.gather(pump, return_exceptions=True)
            for w in (writer, up_writer):
                if w is not None:
                    w.close()
                    await asyncio.gather(w.wait_closed(), return_exceptions=True)
            self.handlers.discard(task)

    @staticmethod
    async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()


async def test_a_dropped_stream_resumes_with_the_full_text_once(server: Server) -> None:
    chat = ChatController(server.url, session="new")
    await chat.connect()
    port = int(server.url.rsplit(":", 1)[1])
    proxy = CuttingProxy(port, limit=1500)
    proxied = f"http://127.0.0.1:{await proxy.start()}"
    # One connection per request, so the proxy sees each request line first.
    client = httpx.AsyncClient(limits=httpx.Limits(max_keepalive_connections=0))
    try:
        # (its first turn loads the session through the proxy, then streams)
        via = ChatController(proxied, session=chat.session_id, http_client=client)
        message = await via.send("Explain vectorization")
    finally:
        await client.aclose()
        await proxy.close()
    expected = DemoModel().reply([{"role": "user", "content": "Explain vectorization"}])
    assert message.status == "done", message.error
    assert message.content == expected  # nothing lost, nothing twice
    assert message.metrics["reconnects"] == 1 and proxy.cuts == 1
    # the reply was asked for once and resumed from the session's stream route
    chats = [r for r in proxy.requests if r.startswith("POST") and "/chat " in r]
    resumes = [r for r in proxy.requests if r.startswith("GET") and "/stream " in r]
    assert len(chats) == 1 and len(resumes) == 1, proxy.requests
    stored = server.get(f"/sessions/{chat.session_id}").json()["messages"]
    assert [(m["role"], m["content"]) for m in stored] == [
        ("user", "Explain vectorization"),
        ("assistant", expected),
    ]
