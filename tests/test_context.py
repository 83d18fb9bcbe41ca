"""What the model is sent: the context window, its limit, and where the widget marks it."""

from __future__ import annotations

from pathlib import Path

import pytest

from nbchat import Chat, ConfigurationError, ContextLimit, Message
from nbchat.conversation import Conversation, estimate_tokens
from nbchat.history import open_history
from nbchat.widget import ChatWidget
from tests.memory_transport import MemoryTransport

OK = [
    b'data: {"choices":[{"index":0,"delta":{"content":"answer"}}]}\n\n',
    b"data: [DONE]\n\n",
]

FIXTURES = Path(__file__).parent / "fixtures" / "llm-streams"


def conversation(*messages: Message) -> Conversation:
    return Conversation("t", open_history(None), messages)


def turns(n: int, size: int = 10) -> list[Message]:
    out: list[Message] = []
    for i in range(n):
        out += [Message("user", f"q{i}" + "x" * size), Message("assistant", f"a{i}" + "y" * size)]
    return out


def texts(messages: list[Message]) -> list[str]:
    return [m.content[:3] for m in messages]


def test_the_newest_whole_turns_within_the_message_limit() -> None:
    conv = conversation(*turns(5))
    assert texts(conv.window(ContextLimit(messages=4))) == ["q3x", "a3y", "q4x", "a4y"]
    # An odd limit never starts the context on a reply: the turn is left out whole.
    assert texts(conv.window(ContextLimit(messages=3))) == ["q4x", "a4y"]
    assert len(conv.window(ContextLimit(messages=None))) == 10


def test_until_sends_what_came_before_the_reply_being_written() -> None:
    messages = turns(3)
    reply = Message("assistant", status="streaming")
    conv = conversation(*messages, Message("user", "now"), reply)
    window = conv.window(ContextLimit(messages=3), until=reply)
    assert [m.content for m in window][-1] == "now"
    assert texts(window) == ["q2x", "a2y", "now"]


def test_the_token_budget_leaves_out_the_oldest_turns() -> None:
    conv = conversation(*turns(4, size=396))  # 100 + 4 tokens a message
    limit = ContextLimit(messages=None, tokens=4 * estimate_tokens("q0" + "x" * 396))
    assert texts(conv.window(limit)) == ["q2x", "a2y", "q3x", "a3y"]
    # The system prompt counts against the budget.
    params = conv.context("s" * 40, limit)
    assert [p["content"][:3] for p in params] == ["sss", "q3x", "a3y"]


def test_the_newest_user_message_is_sent_whatever_its_size() -> None:
    big = Message("user", "z" * 10_000)
    reply = Message("assistant", status="streaming")
    conv = conversation(*turns(2), big, reply)
    window = conv.window(ContextLimit(messages=1, tokens=10), until=reply)
    assert window == [big]


def test_partials_are_sent_as_shown_and_retried_replies_are_not() -> None:
    stopped = Message("assistant", "half an ans", status="stopped")
    failed = Message("assistant", "", status="error")
    old = Message("assistant", "old answer", status="interrupted")
    old.superseded = True
    conv = conversation(Message("user", "a"), stopped, Message("user", "b"), failed, old)
    params = conv.context(None, ContextLimit())
    assert params == [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "half an ans"},
        {"role": "user", "content": "b"},
    ]


def test_context_start_names_the_first_message_sent_only_when_some_are_left_out() -> None:
    messages = turns(3)
    conv = conversation(*messages)
    assert conv.context_start(ContextLimit(messages=6)) == ""
    assert conv.context_start(ContextLimit(messages=4)) == messages[2].id


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "10"])
def test_a_bad_limit_is_a_configuration_error(bad: object) -> None:
    with pytest.raises(ConfigurationError, match="positive int"):
        ContextLimit(messages=bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="positive int"):
        Chat("http://x/v1", model="m", history=None, max_context_tokens=bad)  # type: ignore[arg-type]


async def test_the_request_sends_chat_context_and_the_widget_marks_its_start() -> None:
    transport = MemoryTransport(OK)
    chat = Chat(
        "http://x/v1",
        model="m",
        history=None,
        transport=transport,
        system="sys",
        max_context_messages=4,
    )
    widget = ChatWidget(chat)
    for i in range(3):
        await chat.send(f"question {i}")
    # What the next request sends, before the new message:
    assert chat.context == [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "question 1"},
        {"role": "assistant", "content": "answer"},
        {"role": "user", "content": "question 2"},
        {"role": "assistant", "content": "answer"},
    ]
    sent = transport.requests[-1].json["messages"]
    assert [m["content"] for m in sent] == ["sys", "question 1", "answer", "question 2"]
    assert widget.head["context_start"] == chat.messages[2].id

    chat.context_limit = ContextLimit(messages=None)
    assert widget.head["context_start"] == ""
    assert len(chat.context) == 7
    with pytest.raises(ConfigurationError):
        chat.context_limit = 5  # type: ignore[assignment]
    widget.close()


def test_the_widget_line_and_the_request_agree_with_a_system_prompt() -> None:
    # The system prompt takes its share of the token budget in both places.
    messages = turns(4, size=396)  # 104 tokens a message
    conv = conversation(*messages)
    limit = ContextLimit(messages=None, tokens=4 * 104)
    system = "s" * 40
    sent = conv.context(system, limit)
    assert [p["content"][:3] for p in sent] == ["sss", "q3x", "a3y"]
    assert conv.context_start(limit, system) == messages[6].id
    assert conv.context_start(limit) == messages[4].id  # no system prompt: one turn more


async def test_undo_takes_back_the_last_exchange_here_and_in_history(tmp_path: Path) -> None:
    from nbchat import Chat
    from nbchat.history import SqliteHistory

    path = tmp_path / "h.sqlite3"
    chat = Chat(replay=FIXTURES / "openai-chat-text.sse", history=path, name="undo")
    await chat.send("one")
    await chat.send("two")
    gone = chat.undo()
    assert [m.role for m in gone] == ["user", "assistant"] and gone[0].content == "two"
    assert [m.content for m in chat.messages if m.role == "user"] == ["one"]
    assert [m["content"] for m in chat.context if m["role"] == "user"] == ["one"]
    store = SqliteHistory(path)
    assert [r.content for r in store.load("undo") if r.role == "user"] == ["one"]
    store.close()
    chat.undo()
    assert chat.messages == [] and chat.undo() == []
