"""The offline demo model: deterministic, honest, valid Markdown and Python."""

from __future__ import annotations

import re

import pytest

from nbchat.server.demo_model import DemoModel, count_prompt_tokens, message_text, split_tokens


def _user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def _code_blocks(reply: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", reply, flags=re.MULTILINE | re.DOTALL)


ODD_PROMPTS = [
    "How do I plot a histogram of ages in pandas?",
    "",
    "   \n\t ",
    "héllo wörld — naïve café, 中文 提示, emoji 🎉🚀",
    "```python\nprint('hi')\n``` and `inline` code",
    "\"double\" 'single' '''triple''' \"\"\"doc\"\"\" \\ backslash \\n",
    "def class import return lambda None True",
    "x² 3rd ½ ⅓ ٣ digits",
    "line one\r\nline two\u2028line three\x00nul",
    "!!! ??? ...",
    "lone surrogate \ud800 from a JSON escape",
    "<script>alert(1)</script> **bold** # not a heading",
    "word " * 5000,
    "supercalifragilisticexpialidocious" * 50,
]


def test_reply_is_deterministic() -> None:
    messages = _user("Explain gradient descent in two sentences")
    assert DemoModel().reply(messages) == DemoModel().reply(messages)
    assert DemoModel().tokens(messages) == DemoModel().tokens(messages)


def test_reply_has_heading_list_and_code_and_says_it_is_a_demo() -> None:
    reply = DemoModel().reply(_user("How do I plot a histogram of ages in pandas?"))
    assert reply.startswith("## How do I plot a histogram of ages")
    assert re.search(r"^- \*\*Words:\*\* 10\b", reply, flags=re.MULTILINE)
    assert "a question" in reply
    assert "`histogram`" in reply
    assert len(_code_blocks(reply)) == 1
    assert "offline demo model" in reply
    assert "not a real LLM" in reply
    assert "nbchat.Chat(base_url=" in reply
    assert "api_key=" in reply


def test_code_block_compiles_and_uses_prompt_words() -> None:
    reply = DemoModel().reply(_user("Write a parser for CSV files"))
    (code,) = _code_blocks(reply)
    compile(code, "<demo>", "exec")
    assert "def about_parser_csv_files(" in code
    assert "'Write a parser for CSV files'" in code


def test_tokens_join_to_reply_and_look_like_tokens() -> None:
    messages = _user("What is a closure in Python?")
    tokens = DemoModel().tokens(messages)
    assert "".join(tokens) == DemoModel().reply(messages)
    assert 80 <= len(tokens) <= 350
    assert " closure" in tokens  # words carry their leading space
    assert all(tok for tok in tokens)


def test_history_and_system_prompt_are_acknowledged() -> None:
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "again"},
        {"role": "assistant", "content": "yes"},
        {"role": "user", "content": "Tell me about numpy"},
    ]
    reply = DemoModel().reply(messages)
    assert "2 earlier turns" in reply
    assert "**System prompt:** 3 words" in reply
    assert "1 earlier turn," in DemoModel().reply(messages[1:4])


def test_content_parts_are_read_as_text() -> None:
    parts = [{"type": "text", "text": "Compare lists"}, {"type": "text", "text": "and tuples"}]
    messages = [{"role": "user", "content": parts}]
    assert DemoModel().reply(messages) == DemoModel().reply(_user("Compare lists\nand tuples"))
    assert message_text(None) == ""


@pytest.mark.parametrize("prompt", ODD_PROMPTS, ids=range(len(ODD_PROMPTS)))
def test_odd_prompts_give_valid_code(prompt: str) -> None:
    messages = _user(prompt)
    reply = DemoModel().reply(messages)
    assert "".join(DemoModel().tokens(messages)) == reply
    assert reply.startswith("## ")
    assert "\n" not in reply.split("\n", 1)[0][3:]  # the heading stays on one line
    blocks = _code_blocks(reply)
    assert len(blocks) == 1
    compile(blocks[0], "<demo>", "exec")
    # The prompt can never close the fence early: the only fences are ours.
    assert reply.count("```") == 2
    assert len(DemoModel().tokens(messages)) <= 300
    reply.encode("utf-8")  # nothing unencodable leaks into the reply


def test_empty_prompt_is_handled_gracefully() -> None:
    reply = DemoModel().reply(_user("  "))
    assert reply.startswith("## An empty message")
    assert "demo model" in reply


def test_split_tokens_round_trips_arbitrary_text() -> None:
    text = "  a\tb \n\n c!!!?? d's  \r\n é中 🎉 \u2028x  "
    assert "".join(split_tokens(text)) == text
    assert split_tokens("Hi, there!") == ["Hi", ",", " there", "!"]


def test_count_prompt_tokens_grows_with_the_prompt() -> None:
    short = count_prompt_tokens(_user("hi"))
    long = count_prompt_tokens(_user("hi " * 50))
    assert 0 < short < long
