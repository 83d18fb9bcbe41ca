"""The static transcript a saved notebook shows: safe, bounded, refreshed at a turn's end."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest

from nbchat import Chat, Message
from nbchat.transcript import Transcript, sanitize
from tests.memory_transport import MemoryTransport, openai_body

HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[click](javascript:alert(1))",
    "[click](JAVASCRIPT:alert(1))",
    "[data](data:text/html;base64,PHNjcmlwdD4=)",
    "[rel](/api/kernels)",
    "![pixel](https://tracker.example/p.png?leak=1)",
    '<a href="https://x" style="position:fixed;inset:0">overlay</a>',
    "<form action=/x><input name=q></form>",
    "<iframe src=https://x></iframe>",
    "<base href=https://evil/>",
    "<style>*{display:none}</style>",
    "$\\href{javascript:alert(1)}{x}$",
]


class Elements(HTMLParser):
    """Every start tag of an HTML text, with its attributes (what a browser would build)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))


def html_of(*texts: str) -> str:
    messages = [Message("assistant", text) for text in texts]
    return Transcript(messages, model="m", location="(memory)").html("abc123abc")


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_replies_stay_inert(text: str) -> None:
    for tag, attrs in Elements(html_of(text)).found:
        assert tag not in {"script", "img", "iframe", "form", "base", "style", "svg", "math"}
        assert not {"style", "id", "name", "action", "src"} & set(attrs), (tag, attrs)
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        href = attrs.get("href")
        assert href is None or re.match(r"(https?://|mailto:)", href), href


def test_replies_render_as_markdown_and_links_open_safely() -> None:
    out = html_of(
        "# Title\n\n**bold** `code`\n\n| a | b |\n|---|--:|\n| 1 | 2 |\n\n- [x] done\n\n"
        "[docs](https://example.com)\n\n```python\nprint(1)\n```\n\n$$x^2$$"
    )
    assert "<h1>Title</h1>" in out and "<strong>bold</strong>" in out
    assert "<table>" in out and 'style="text-align:right"' in out
    assert 'type="checkbox"' in out and "disabled" in out
    assert '<a href="https://example.com" target="_blank" rel="noopener noreferrer">docs</a>' in out
    assert '<code class="language-python">print(1)' in out
    assert '<code class="nbchat-math">x^2</code>' in out
    assert out.startswith('<div class="nbchat-transcript" data-nbchat-transcript="abc123abc">')


def test_images_are_links_not_loads() -> None:
    out = html_of("![chart](https://img.example/c.png)")
    assert "<img" not in out
    assert '<a href="https://img.example/c.png"' in out and "[image: chart]" in out


def test_user_text_is_shown_as_typed() -> None:
    out = Transcript([Message("user", "a <b>\n**not bold**")], model="m", location="x").html(
        "0" * 8
    )
    assert "a &lt;b&gt;<br>**not bold**" in out


def test_the_sanitizer_is_a_real_one() -> None:
    # A positive control for the rules above: nh3 itself drops what markdown never makes.
    dirty = '<a href="javascript:x" onclick="y">a</a><div style="x" id="i">d</div><svg/onload=z>'
    assert sanitize(dirty) == '<a target="_blank" rel="noopener noreferrer">a</a><div>d</div>'


def test_the_saved_transcript_is_bounded() -> None:
    chat = Chat("http://model.test/v1", model="m", history=None)
    for i in range(120):
        chat.messages.append(Message("user" if i % 2 == 0 else "assistant", f"message {i}"))
    text = chat.to_markdown()  # the last 50 messages
    assert "120 messages" in text and "message 119" in text and "message 70" in text
    assert "message 69\n" not in text
    assert "70 earlier messages are not shown here" in text and "(memory)" in text
    assert "118 earlier messages" in chat.to_markdown(last=2)
    assert "70 earlier messages are not shown here" in chat.transcript()
    chat.messages.append(Message("assistant", "y" * 10 + "x" * 200_000))
    big = chat.to_markdown()  # at most 100,000 characters of text
    assert "120 earlier messages" in big and len(big) < 101_000
    assert "(… 100,010 characters left out)" in big
    assert "yyy" not in big  # the end of a long reply is kept, its start left out
    assert len(chat.transcript()) < 110_000


async def test_display_shows_the_widget_and_a_transcript_refreshed_when_a_turn_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import IPython.display

    shown: list[tuple[dict[str, Any], str | None]] = []
    updated: list[tuple[dict[str, Any], str]] = []
    monkeypatch.setattr(
        IPython.display,
        "display",
        lambda data, raw=False, display_id=None, metadata=None: shown.append((data, display_id)),
    )
    monkeypatch.setattr(
        IPython.display,
        "update_display",
        lambda data, raw=False, display_id="": updated.append((data, display_id)),
    )
    transport = MemoryTransport(openai_body("**Hello** there"))
    chat = Chat("http://model.test/v1", model="m", history=None, transport=transport)
    chat._ipython_display_()
    (widget, no_id), (first, display_id) = shown
    assert "application/vnd.jupyter.widget-view+json" in widget and no_id is None
    assert display_id and "0 messages" in first["text/html"]
    assert chat.widget.transcript_id == chat.transcript_id
    assert f'data-nbchat-transcript="{chat.transcript_id}"' in first["text/html"]

    await chat.send("hi")
    assert updated, "the transcript was not refreshed at the turn's end"
    latest, same_id = updated[-1]
    assert same_id == display_id
    assert "2 messages" in latest["text/html"]
    assert "<strong>Hello</strong> there" in latest["text/html"]
    assert "**Hello** there" in latest["text/markdown"]


def unsafe(out: str) -> bool:
    """What test_hostile_replies_stay_inert asserts against, as one verdict."""
    for tag, attrs in Elements(out).found:
        if tag in {"script", "img", "iframe", "form", "base", "style", "svg", "math"}:
            return True
        if {"style", "id", "name", "action", "src"} & set(attrs):
            return True
        if any(name.startswith("on") for name in attrs):
            return True
        href = attrs.get("href")
        if href is not None and not re.match(r"(https?://|mailto:)", href):
            return True
    return False


def test_the_corpus_check_catches_an_unsafe_renderer() -> None:
    # Positive control: raw HTML on and no sanitizer, and the same check sees the hits.
    from markdown_it import MarkdownIt

    careless = MarkdownIt("commonmark", {"html": True})
    careless.validateLink = lambda url: True  # type: ignore[method-assign]
    hits = [text for text in HOSTILE if unsafe(careless.render(text))]
    assert len(hits) >= 10, hits
    assert not [text for text in HOSTILE if unsafe(html_of(text))]


def test_tool_calls_show_where_they_streamed() -> None:
    from nbchat.accumulate import Reply
    from nbchat.events import TextDelta, ToolCallFinished, ToolCallStarted

    reply = Reply()
    reply.apply(TextDelta("Let me **check**."))
    reply.apply(ToolCallStarted(0, "t1", "get_weather"))
    reply.apply(ToolCallFinished(0, {"city": "<Paris>"}, result={"sky": "clear"}))
    reply.apply(TextDelta("\n\nIt is *clear*."))
    message = Message("assistant", reply=reply)
    out = Transcript([message], model="m", location="x").html("0" * 8)
    first, tool, after = (
        out.index("<strong>check</strong>"),
        out.index("get_weather"),
        out.index("<em>clear</em>"),
    )
    assert first < tool < after
    assert "&lt;Paris&gt;" in out and "<Paris>" not in out and '"sky": "clear"' in out
