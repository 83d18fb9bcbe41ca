"""Exporting a conversation: Markdown, JSON, a standalone sanitized HTML page, a DataFrame."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nbchat import Chat, ConfigurationError
from nbchat.message import Message

HOSTILE = '<img src=x onerror="alert(1)"> [click](javascript:alert(2)) **bold**'


def chat_with_messages() -> Chat:
    chat = Chat(replay=Path(__file__).parent / "fixtures/llm-streams/openai-chat-text.sse",
                history=None, name="export test")  # fmt: skip
    chat.conversation.append(Message("user", "Hello"))
    reply = Message("assistant", HOSTILE, model="m", metrics={"tokens_per_s": 12.5})
    chat.conversation.append(reply)
    failed = Message("assistant", "partial", status="interrupted",
                     error={"code": "INTERRUPTED", "message": "cut"})  # fmt: skip
    chat.conversation.append(failed)
    return chat


def test_markdown_and_json_hold_the_whole_conversation(tmp_path: Path) -> None:
    chat = chat_with_messages()
    markdown = chat.export("markdown")
    assert isinstance(markdown, str) and "Hello" in markdown and "<img" not in markdown
    document = json.loads(str(chat.export("json")))
    assert document["format"] == "nbchat-conversation" and document["conversation"] == "export test"
    roles = [(m["role"], m["status"]) for m in document["messages"]]
    assert roles == [("user", "done"), ("assistant", "done"), ("assistant", "interrupted")]
    assert document["messages"][1]["content"] == HOSTILE  # JSON keeps the text as it was
    assert document["messages"][2]["error"]["code"] == "INTERRUPTED"
    written = chat.export("json", tmp_path / "c.json")
    assert written == tmp_path / "c.json" and json.loads(written.read_text())["messages"]


def test_html_is_a_page_sanitized_by_the_page_rules() -> None:
    page = str(chat_with_messages().export("html"))
    assert page.startswith("<!doctype html>") and "<title>nbchat: export test</title>" in page
    assert "&lt;img" in page and "<img" not in page  # raw HTML is text
    assert 'href="javascript' not in page


def test_bad_format_and_unwritable_path_say_so(tmp_path: Path) -> None:
    chat = chat_with_messages()
    with pytest.raises(ConfigurationError, match="markdown, json, html"):
        chat.export("pdf")
    with pytest.raises(ConfigurationError, match="cannot write the export"):
        chat.export("markdown", tmp_path / "missing" / "x.md")


def test_dataframe_has_a_row_per_message() -> None:
    frame = chat_with_messages().to_dataframe()
    assert list(frame["role"]) == ["user", "assistant", "assistant"]
    assert frame.loc[1, "tokens_per_s"] == 12.5 and frame.loc[2, "error_code"] == "INTERRUPTED"
    assert str(frame["created_at"].dtype).startswith("datetime64")
