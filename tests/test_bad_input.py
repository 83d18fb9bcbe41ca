"""Bad input gets a message that names it, never INTERNAL_ERROR or a traceback."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from jupyter_client.session import json_packer

from nbchat import ChatController, ConfigurationError
from nbchat.history import SqliteHistory
from tests.conftest import DemoServer
from tests.memory_transport import MemoryTransport

LONE = b'data: {"choices":[{"index":0,"delta":{"content":"a\\ud800b"}}]}\n\n'


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://", "names no host"),
        ("https:///v1", "names no host"),
        ("http://my host/v1", "contains a space"),
        ("http://localhost:99999/v1", "invalid port"),
        ("http://localhost:80a/v1", "invalid port"),
        ("localhost:8000/v1", "must start with http:// or https://"),
        (8000, "must be a string, got int"),
    ],
)
def test_a_malformed_base_url_is_named(url: object, words: str) -> None:
    with pytest.raises(ConfigurationError, match=words):
        ChatController(url, model="m", history=None)  # type: ignore[arg-type]


async def test_messages_that_cannot_be_sent_are_named() -> None:
    chat = ChatController("http://model.test/v1", model="m", transport=MemoryTransport(),
                          history=None)  # fmt: skip
    with pytest.raises(ConfigurationError, match="message must be a string, got int"):
        chat.send(42)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="cannot send an empty message"):
        chat.send("  ")
    with pytest.raises(ConfigurationError, match=r"lone surrogate '\\udc80' at position 1"):
        chat.send("a\udc80b")
    assert chat.messages == []


async def test_a_lone_surrogate_from_the_model_is_kept_saved_and_sendable(tmp_path: Path) -> None:
    body = [LONE, b"data: [DONE]\n\n"]
    history = tmp_path / "h.sqlite3"
    chat = ChatController("http://model.test/v1", model="m", transport=MemoryTransport(body),
                          history=history, name="s")  # fmt: skip
    message = await chat.send("hi")
    assert message.status == "done" and message.content == "a\ufffdb"
    assert SqliteHistory(history).load("s")[-1].content == "a\ufffdb"
    json_packer(message.to_info())  # what the kernel sends to the browser


async def test_a_key_in_the_query_string_stays_out_of_reprs_and_logs(
    demo_server: DemoServer, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "sk-query-secret-0123456789"
    chat = ChatController(f"{demo_server.base_url}?key={secret}", model="demo", history=None)
    caplog.set_level(logging.DEBUG)
    message = await chat.send("hi")
    assert message.status == "done", message.error
    assert secret not in repr(chat) and secret not in repr(chat.endpoint)
    assert secret not in chat.where
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "HTTP Request: POST" in logged and "/chat/completions" in logged
    assert secret not in logged
    assert secret not in json.dumps([m.to_info() for m in chat.messages])


def test_a_configuration_error_from_a_public_call_has_a_short_traceback() -> None:
    import traceback

    import nbchat

    with pytest.raises(nbchat.ConfigurationError) as caught:
        nbchat.Chat(base_url="http://127.0.0.1:9/v1", history=None)
    exc = caught.value
    assert "model=" in exc.message and exc.code == "CONFIG_ERROR"
    assert exc.__suppress_context__ and exc.__context__ is not None
    # the caller's frame, then the one that re-raises: nbchat's internals are not shown
    frames = traceback.extract_tb(exc.__traceback__)
    assert [f.name for f in frames] == [
        "test_a_configuration_error_from_a_public_call_has_a_short_traceback",
        "checked",
    ]
