"""The static transcript: what a saved notebook shows of a chat without its kernel.

A chat cell has two outputs: the live widget, and this transcript (sanitized HTML,
with Markdown and plain text beside it) in a display of its own, refreshed when a turn
ends. GitHub, nbviewer, ``jupyter nbconvert --to html``, VS Code without widget state
and a notebook reopened with no kernel show the transcript; while the widget is live
it hides the transcript it belongs to (a ``<style>`` in its own DOM names the
transcript's ``data-nbchat-transcript`` id), so the conversation is not shown twice.

The rules are the widget's (see ``js/markdown.js``): replies are Markdown, raw HTML in
them is text, links are absolute ``http(s):``/``mailto:`` only and open in a new tab
with ``rel="noopener noreferrer"``, images are not loaded (a link names them), no
styles, ids, forms or frames; nh3 (ammonia) checks the result. Math is shown as its
TeX source in code: no renderer runs where the notebook is read. It is bounded: the
last ``last`` messages and ``max_chars`` characters of text, with a line saying what
was left out (the history has the rest).
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.dollarmath import dollarmath_plugin
from mdit_py_plugins.tasklists import tasklists_plugin

from nbchat.message import Message
from nbchat.wire import ToolCallInfo

#: what of the transcript goes into a cell's saved output
MESSAGES = 50
CHARS = 100_000

_TAGS = {
    "a", "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "s", "del",
    "code", "pre", "blockquote", "ul", "ol", "li", "table", "thead", "tbody", "tr", "th",
    "td", "input", "div", "span", "small", "details", "summary",
}  # fmt: skip
_ATTRIBUTES = {
    "a": {"href", "title"},
    "input": {"type", "checked", "disabled"},
    "code": {"class"},
    "div": {"class", "data-nbchat-transcript", "data-role", "data-status"},
    "span": {"class"},
    "th": {"style"},
    "td": {"style"},
    "ol": {"start"},
    "li": {"class"},
    "ul": {"class"},
}


def _safe_link(url: str) -> bool:
    return url.strip().lower().startswith(("http://", "https://", "mailto:"))


def _markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False})
    md.enable(["table", "strikethrough"])
    md.use(tasklists_plugin)
    md.use(dollarmath_plugin, double_inline=True)
    md.validateLink = _safe_link  # type: ignore[method-assign]

    def image(_self: Any, tokens: Sequence[Token], idx: int, _options: Any, _env: Any) -> str:
        token = tokens[idx]
        src = str(token.attrGet("src") or "")
        alt = html.escape(token.content or "image")
        return f'<a href="{html.escape(src)}">[image: {alt}]</a>' if src else alt

    def math(_self: Any, tokens: Sequence[Token], idx: int, _options: Any, _env: Any) -> str:
        return f'<code class="nbchat-math">{html.escape(tokens[idx].content)}</code>'

    def math_block(_self: Any, tokens: Sequence[Token], idx: int, _options: Any, _env: Any) -> str:
        return f'<pre><code class="nbchat-math">{html.escape(tokens[idx].content)}</code></pre>\n'

    md.add_render_rule("image", image)
    md.add_render_rule("math_inline", math)
    md.add_render_rule("math_inline_double", math)
    md.add_render_rule("math_block", math_block)
    return md


_MD = _markdown()


def sanitize(fragment: str) -> str:
    """``fragment`` with only the transcript's tags, attributes and URL schemes left."""
    return nh3.clean(
        fragment,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
        set_tag_attribute_values={"a": {"target": "_blank"}},
        filter_style_properties={"text-align"},
        strip_comments=True,
    )


def pick(
    messages: Sequence[Message], last: int = MESSAGES, max_chars: int = CHARS
) -> tuple[list[tuple[Message, str]], int]:
    """The messages to show with their (maybe shortened) text, and how many are left out.

    The ``last`` messages, newest kept first, within ``max_chars`` characters: a message
    too long for what is left keeps its end (what was said last).
    """
    picked: list[tuple[Message, str]] = []
    budget = max_chars
    for message in reversed(messages[-last:] if last > 0 else []):
        if budget <= 0:
            break
        text = message.content
        if len(text) > budget:
            cut = len(text) - budget
            text = f"(… {cut:,} characters left out) {text[cut:]}"
        budget -= len(message.content)
        picked.append((message, text))
    picked.reverse()
    return picked, len(messages) - len(picked)


def _who(message: Message) -> str:
    who = "You" if message.role == "user" else message.role.capitalize()
    return who if message.status == "done" else f"{who} ({message.status})"


@dataclass(frozen=True)
class Transcript:
    """What a saved notebook shows of ``messages``: the last ``last`` of them, within
    ``max_chars`` characters of text (see :func:`pick`), as Markdown or as HTML.

    ``model`` names the chat's model; ``location`` says where the whole conversation
    is (the history file), for the line about what was left out.
    """

    messages: Sequence[Message]
    model: str
    location: str
    last: int = MESSAGES
    max_chars: int = CHARS

    def markdown(self) -> str:
        """Markdown, the model's text escaped (never raw HTML)."""
        return _as_markdown(self)

    def html(self, transcript_id: str) -> str:
        """Sanitized HTML; ``transcript_id`` lets the live widget hide it."""
        return _as_html(self, transcript_id)


def _as_markdown(shown: Transcript) -> str:
    messages, location = shown.messages, shown.location
    picked, left_out = pick(messages, shown.last, shown.max_chars)
    lines = [f"**nbchat** · `{shown.model}` · {len(messages)} messages", ""]
    if left_out:
        lines += [
            f"*{left_out:,} earlier messages are not shown here; the whole conversation "
            f"is in the history ({location}).*",
            "",
        ]
    for message, text in picked:
        who, _, mark = _who(message).partition(" (")
        status = f" *({mark}" if mark else ""
        lines += [f"**{who}**{status}:", "", html.escape(text, quote=False) or "*(no text)*", ""]
    return "\n".join(lines)


def _tool_html(call: ToolCallInfo) -> str:
    raw = call.get("arguments") or (json.dumps(call["input"]) if call.get("input") else "")
    arguments = html.escape(raw)
    result = call.get("result")
    if result is None:
        shown = ""
    else:  # a kernel tool's result is the text the model was sent: shown as it is
        text = result if isinstance(result, str) else json.dumps(result, indent=2, default=str)
        shown = html.escape(text)
    return (
        f"<details><summary>Tool: <code>{html.escape(call.get('name') or 'tool')}</code> "
        f"({html.escape(call.get('status') or '')})</summary>"
        f"<pre><code>{arguments}</code></pre>"
        + (f"<pre><code>{shown}</code></pre>" if shown else "")
        + "</details>"
    )


def _reply_html(message: Message, text: str) -> str:
    """A reply's reasoning, then its text with the tool calls where they streamed."""
    out: list[str] = []
    if message.reasoning:
        reasoning = html.escape(message.reasoning).replace("\n", "<br>")
        out.append(f"<details><summary>Reasoning</summary><p>{reasoning}</p></details>")
    whole = text == message.content  # a shortened text has no offsets to place calls at

    def place(call: ToolCallInfo) -> int:
        at = call.get("at", 0)
        return at if whole and 0 < at <= len(text) else 0

    calls = message.tool_calls
    out += [_tool_html(call) for call in calls if not place(call)]
    start = 0
    for cut in sorted({place(call) for call in calls} - {0}):
        out.append(_MD.render(text[start:cut]))
        out += [_tool_html(call) for call in calls if place(call) == cut]
        start = cut
    if start < len(text):
        out.append(_MD.render(text[start:]))
    if not text and not calls:
        out.append("<p><em>(no text)</em></p>")
    return "".join(out)


def _as_html(shown: Transcript, transcript_id: str) -> str:
    messages, location = shown.messages, shown.location
    picked, left_out = pick(messages, shown.last, shown.max_chars)
    parts = [
        f"<p><strong>nbchat</strong> · <code>{html.escape(shown.model)}</code> · "
        f"{len(messages)} messages</p>"
    ]
    if left_out:
        parts.append(
            f"<p><em>{left_out:,} earlier messages are not shown here; the whole "
            f"conversation is in the history ({html.escape(location)}).</em></p>"
        )
    for message, text in picked:
        if message.role == "assistant":
            body = _reply_html(message, text)  # (sanitized below, with the whole transcript)
        else:  # what the user typed, as typed
            body = "<p>" + html.escape(text).replace("\n", "<br>") + "</p>"
        error = message.error
        if error is not None:
            reason = html.escape(f"{error['code']}: {error['message']}")
            body += f"<p><small>{reason}</small></p>"
        role, status = html.escape(message.role), html.escape(message.status)
        parts.append(
            f'<div data-role="{role}" data-status="{status}">'
            f"<p><strong>{html.escape(_who(message))}</strong></p>{body}</div>"
        )
    inner = sanitize("".join(parts))
    mark = html.escape(transcript_id)
    return f'<div class="nbchat-transcript" data-nbchat-transcript="{mark}">{inner}</div>'


__all__ = ["CHARS", "MESSAGES", "Transcript", "pick", "sanitize"]
