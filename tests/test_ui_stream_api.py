"""``POST /api/chat``: the AI SDK 5 chat route. Its UI message stream read by nbchat's
own ``ai-sdk`` format, the body ``DefaultChatTransport`` sends, regenerate, refusals."""

from __future__ import annotations

import json
from typing import Any

import nbchat
from nbchat.server import DemoModel, create_app
from tests.server_fixtures import Serve, serve

__all__ = ["serve"]  # the fixture, imported for pytest

TOKEN = "classroom-token-0123456789"


def ui_message(role: str, text: str, n: int = 0) -> dict[str, Any]:
    return {"id": f"m{n}", "role": role, "parts": [{"type": "text", "text": text}]}


def parts(body: bytes) -> list[Any]:
    out = []
    for block in body.decode().split("\n\n"):
        if block.startswith("data: "):
            data = block[6:]
            out.append(data if data == "[DONE]" else json.loads(data))
    return out


def test_the_use_chat_body_streams_the_ui_message_protocol(serve: Serve) -> None:
    client = serve(create_app(tokens_per_second=5000)).client
    body = {
        "id": "chat-1",
        "messages": [ui_message("user", "How do I read a CSV file?")],
        "trigger": "submit-message",
    }
    with client.stream("POST", "/api/chat", json=body) as response:
        assert response.status_code == 200
        assert response.headers["x-vercel-ai-ui-message-stream"] == "v1"
        assert response.headers.get_list("content-type") == ["text/event-stream"]
        got = parts(response.read())
    kinds = [p if isinstance(p, str) else p["type"] for p in got]
    assert kinds[:3] == ["start", "start-step", "text-start"]
    assert kinds[-4:] == ["text-end", "finish-step", "finish", "[DONE]"]
    text = "".join(p["delta"] for p in got if isinstance(p, dict) and p["type"] == "text-delta")
    assert text == DemoModel().reply([{"role": "user", "content": "How do I read a CSV file?"}])


def test_regenerate_drops_the_last_reply_and_assistant_parts_are_history(serve: Serve) -> None:
    client = serve(create_app(tokens_per_second=5000)).client
    assistant = {
        "id": "a1",
        "role": "assistant",
        "parts": [{"type": "step-start"}, {"type": "text", "text": "old answer"}],
    }
    body = {
        "id": "chat-1",
        "messages": [ui_message("user", "hello"), assistant],
        "trigger": "regenerate-message",
    }
    with client.stream("POST", "/api/chat", json=body) as response:
        got = parts(response.read())
    text = "".join(p["delta"] for p in got if isinstance(p, dict) and p["type"] == "text-delta")
    assert text == DemoModel().reply([{"role": "user", "content": "hello"}])


def test_refusals_name_the_field(serve: Serve) -> None:
    client = serve(create_app(tokens_per_second=5000, users={"s": TOKEN})).client
    body = {"messages": [ui_message("user", "hi")]}
    assert client.post("/api/chat", json=body).status_code == 401  # tokens apply here too
    client.headers["Authorization"] = f"Bearer {TOKEN}"
    image = {"id": "u", "role": "user", "parts": [{"type": "file", "url": "data:..."}]}
    answer = client.post("/api/chat", json={"messages": [image]})
    assert answer.status_code == 400 and answer.json()["error"]["param"] == "messages[0].parts[0]"
    answer = client.post("/api/chat", json={"message": "hi"})
    assert (
        answer.status_code == 400 and "'messages' is required" in answer.json()["error"]["message"]
    )


async def test_nbchat_speaks_the_ui_stream_to_its_own_server(serve: Serve) -> None:
    url = serve(create_app(tokens_per_second=5000)).url
    chat = nbchat.Chat(f"{url}/api/chat", model="demo", dialect="ai-sdk", history=None)
    reply = await chat.send("Explain groupby")
    assert reply.status == "done", reply.error
    assert reply.content == DemoModel().reply([{"role": "user", "content": "Explain groupby"}])
