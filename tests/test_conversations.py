"""Living with a chat: new, open, delete, clear, undo, edit, regenerate, the system
prompt, the model picker, the conversation list, and the widget requests for each."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import nbchat
from nbchat import Chat, ConfigurationError, TurnInProgressError
from nbchat.conversation import CONTEXT_CLEARED
from nbchat.history import MemoryHistory, SqliteHistory
from tests.memory_transport import MemoryTransport
from tests.test_widget import RecordingWidget


def body(text: str) -> list[bytes]:
    delta = json.dumps({"choices": [{"index": 0, "delta": {"content": text}}]})
    return [f"data: {delta}\n\n".encode(), b"data: [DONE]\n\n"]


def make_chat(
    history: Any, name: str = "nb.ipynb#cell=a", *answers: str, **kw: Any
) -> tuple[Chat, MemoryTransport]:
    transport = MemoryTransport(*[body(a) for a in answers or ("answer",)])
    chat = Chat("http://x/v1", model="m", history=history, name=name, transport=transport, **kw)
    return chat, transport


def sent(transport: MemoryTransport, n: int = -1) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in transport.requests[n].json["messages"]]


async def test_new_starts_empty_keeps_the_old_and_the_cell_reopens_the_new(
    tmp_path: Path,
) -> None:
    path = tmp_path / "h.sqlite3"
    chat, _ = make_chat(path)
    chat.conversation.notebook = "nb.ipynb"
    await chat.send("first conversation")
    old = chat.name
    new = chat.new()
    assert new != old and chat.name == new and chat.messages == []
    assert chat.new() == new  # an empty conversation is kept as it is
    await chat.send("second conversation")
    # A new kernel: the cell's chat reopens the conversation chosen last.
    again, _ = make_chat(path)
    assert again.name == new
    assert again.messages[0].content == "second conversation"
    rows = nbchat.conversations(path, as_list=True)
    assert [r.name for r in rows] == [new, old]  # the most recently active first
    assert rows[1].title == "first conversation" and rows[1].messages == 2
    assert rows[1].notebook == "nb.ipynb"
    # open() goes back, and the key follows it.
    again.open(old)
    assert again.messages[0].content == "first conversation"
    third, _ = make_chat(path)
    assert third.name == old


async def test_open_refuses_a_name_the_history_does_not_hold() -> None:
    chat, _ = make_chat(None)
    with pytest.raises(ConfigurationError, match=r"nbchat\.conversations"):
        chat.open("no such conversation")


async def test_delete_removes_another_conversation_or_empties_this_one(tmp_path: Path) -> None:
    store = SqliteHistory(tmp_path / "h.sqlite3")
    chat, _ = make_chat(store, "nb#cell=a", "x", "y")
    await chat.send("one")
    other = chat.name
    chat.new()
    await chat.send("two")
    chat.delete(other)
    assert store.conversations() == [chat.name]
    chat.delete()
    assert chat.messages == [] and store.conversations() == []
    assert nbchat.delete_conversation("gone", history=store) is False
    store.close()


async def test_clear_keeps_the_transcript_and_sends_nothing_above_its_note() -> None:
    chat, transport = make_chat(None, "c", "a1", "a2", "a3")
    await chat.send("before")
    assert chat.clear() is True
    assert chat.messages[-1].role == "note" and chat.messages[-1].content == CONTEXT_CLEARED
    assert chat.context == [] and len(chat.messages) == 3  # still on screen
    assert chat.clear() is False  # nothing would be sent anyway: no second note
    await chat.send("after")
    assert sent(transport) == [("user", "after")]
    # Undo takes the last exchange, then the clear itself.
    chat.undo()
    assert chat.messages[-1].role == "note"
    chat.undo()
    await chat.send("again")
    assert sent(transport) == [("user", "before"), ("assistant", "a1"), ("user", "again")]


async def test_clear_is_saved_so_a_new_kernel_agrees(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    chat, _ = make_chat(path)
    await chat.send("secret plan")
    chat.clear()
    again, transport = make_chat(path)
    assert [m.role for m in again.messages] == ["user", "assistant", "note"]
    await again.send("hello")
    assert sent(transport) == [("user", "hello")]


async def test_edit_replaces_the_last_question_and_its_answer() -> None:
    chat, transport = make_chat(None, "e", "a1", "a2", "a3")
    await chat.send("q1")
    await chat.send("q2 with a typo")
    await chat.edit("q2 fixed")
    assert [m.content for m in chat.messages] == ["q1", "a1", "q2 fixed", "a3"]
    assert sent(transport) == [("user", "q1"), ("assistant", "a1"), ("user", "q2 fixed")]


async def test_a_failed_edit_loses_nothing() -> None:
    from nbchat.errors import ConnectionFailed

    transport = MemoryTransport(body("a1"), ConnectionFailed("refused"))
    chat = Chat("http://x/v1", model="m", history=None, name="f", transport=transport)
    await chat.send("q1")
    reply = await chat.edit("q1 again")
    assert reply.status == "error"
    contents = [m.content for m in chat.messages]
    assert contents[:3] == ["q1", "a1", "q1 again"]
    assert not any(m.superseded for m in chat.messages)


async def test_regenerate_replaces_a_finished_reply() -> None:
    chat, transport = make_chat(None, "r", "first", "second")
    await chat.send("q")
    await chat.retry()
    assert [m.content for m in chat.messages] == ["q", "second"]
    assert sent(transport) == [("user", "q")]


async def test_edit_and_retry_look_no_further_back_than_a_clear() -> None:
    chat, _ = make_chat(None, "n")
    await chat.send("q")
    chat.clear()
    with pytest.raises(ConfigurationError, match="since the last clear"):
        chat.retry()
    with pytest.raises(ConfigurationError, match="nothing to edit"):
        chat.edit("x")


async def test_controls_wait_for_a_streaming_reply() -> None:
    chat, _ = make_chat(None, "busy")
    chat.transport.pause = 0.2  # type: ignore[attr-defined]
    turn = chat.send("q")
    for action in (chat.new, chat.clear, chat.undo, chat.delete):
        with pytest.raises(TurnInProgressError):
            action()
    await turn


async def test_the_system_prompt_changes_between_turns() -> None:
    chat, transport = make_chat(None, "s", "a", "b", system="be brief")
    await chat.send("q1")
    assert sent(transport)[0] == ("system", "be brief")
    chat.system = "be thorough"
    await chat.send("q2")
    assert sent(transport)[0] == ("system", "be thorough")
    chat.system = None
    assert chat.context[0]["role"] == "user"
    with pytest.raises(ConfigurationError, match="system must be a string"):
        chat.system = 3  # type: ignore[assignment]


def test_models_default_to_the_first_and_keep_the_given_one() -> None:
    transport = MemoryTransport(body("x"))
    chat = Chat("http://x/v1", models=["small", "large"], history=None, transport=transport)
    assert chat.model == "small" and chat.models == ("small", "large")
    chat = Chat(
        "http://x/v1", model="mid", models=["small", "large"], history=None, transport=transport
    )
    assert chat.models == ("mid", "small", "large")
    with pytest.raises(ConfigurationError, match="list of model names"):
        Chat("http://x/v1", models="small", history=None, transport=transport)


def test_conversations_is_a_dataframe_with_pandas() -> None:
    pd = pytest.importorskip("pandas")
    store = MemoryHistory()
    chat, _ = make_chat(store)
    chat.conversation.save(nbchat.Message("user", "Title line\nmore"))
    frame = nbchat.conversations(store)
    assert list(frame.columns) == ["name", "title", "notebook", "last_activity", "messages"]
    assert frame.iloc[0]["title"] == "Title line"
    assert isinstance(frame.iloc[0]["last_activity"], pd.Timestamp)
    with pytest.raises(ConfigurationError, match="history must be"):
        nbchat.conversations(history=3)  # type: ignore[arg-type]


def test_titles_are_one_line_and_short() -> None:
    from nbchat.history.store import TITLE_CHARS, title_of

    assert title_of("\n\n  hello  \nworld") == "hello"
    long = title_of("x" * 500)
    assert len(long) == TITLE_CHARS and long.endswith("…")


# -- the widget's requests ----------------------------------------------------------------


def request(widget: RecordingWidget, **content: Any) -> list[tuple[str, Any]]:
    count = len(widget.wire)
    widget._on_view_message(widget, content, [])
    return widget.wire[count:]


async def test_widget_new_clear_undo_and_the_list(tmp_path: Path) -> None:
    chat, _ = make_chat(tmp_path / "h.sqlite3", "w", "a", "b")
    widget = RecordingWidget(chat)
    await chat.send("hello")
    request(widget, type="clear")
    assert widget.wire[-1][0] == "head"  # the context line moves with the note
    assert chat.messages[-1].role == "note"
    request(widget, type="undo")
    assert chat.messages[-1].role == "assistant"
    old = chat.name
    out = request(widget, type="new")
    assert [k for k, _ in out][:1] == ["snapshot"] and widget.snapshot["messages"] == []
    assert widget.head["conversation"] == chat.name != old
    listing = request(widget, type="conversations")[-1][1]
    assert listing["type"] == "conversations" and listing["more"] == 0
    assert [(r["name"], r["title"], r["messages"]) for r in listing["items"]] == [(old, "hello", 2)]
    request(widget, type="open", name=old)
    assert [m["content"] for m in widget.snapshot["messages"]] == ["hello", "a"]
    assert widget.head["conversation"] == old
    refused = request(widget, type="open", name="nope")[-1]
    assert refused[0] == "refused" and "no conversation 'nope'" in refused[1]["message"]
    listing = request(widget, type="delete", name=old)[-1][1]
    assert listing["items"] == [] and chat.messages == []


async def test_widget_edit_and_model_picker() -> None:
    transport = MemoryTransport(body("a1"), body("a2"))
    chat = Chat(
        "http://x/v1", models=["small", "large"], history=None, name="m", transport=transport
    )
    widget = RecordingWidget(chat)
    assert widget.head["models"] == ["small", "large"] and widget.head["model"] == "small"
    request(widget, type="model", model="large")
    assert chat.model == "large" and widget.head["model"] == "large"
    request(widget, type="model", model="not offered")
    assert chat.model == "large"
    await chat.send("q wrong")
    request(widget, type="edit", text="q right")
    assert chat.turn is not None
    await chat.turn
    assert [m.content for m in chat.messages] == ["q right", "a2"]
    assert transport.requests[-1].json["model"] == "large"


async def test_widget_export_sends_a_file() -> None:
    chat, _ = make_chat(None, "/home/u/My Notes.ipynb#cell=abc")
    widget = RecordingWidget(chat)
    await chat.send("hello <b>")
    kind, file = request(widget, type="export", format="html")[-1]
    assert kind == "export" and file["filename"] == "My-Notes-chat.html"
    assert file["media_type"] == "text/html" and "hello &lt;b&gt;" in file["text"]
    kind, file = request(widget, type="export", format="json")[-1]
    assert json.loads(file["text"])["messages"][0]["content"] == "hello <b>"
    kind, file = request(widget, type="export", format="pdf")[-1]
    assert kind == "refused" and "markdown, json, html" in file["message"]
