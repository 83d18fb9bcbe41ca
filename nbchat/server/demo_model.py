"""nbchat's built-in offline demo model: deterministic Markdown replies, no I/O.

The demo model lets a fresh notebook stream a realistic reply with no key and no
network. It is honest about what it is: every reply says it is a demo, not an LLM,
and how to point nbchat at a real provider. The reply is derived from the prompt
(topic heading, a few observations, a small Python function) so that streaming,
Markdown rendering and code highlighting can all be exercised with it.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from collections.abc import Mapping, Sequence

__all__ = ["DemoModel", "count_prompt_tokens", "message_text", "split_tokens"]

# One token = a run of newlines, a word (contractions included) with its leading
# blanks, up to three punctuation characters with their leading blanks (real
# tokenizers merge runs like `**` or `")`), or a run of trailing blanks. The
# alternatives cover every character, so joining the pieces gives back the text.
_TOKEN_RE = re.compile(r"\n+|[^\S\n]*\w+(?:'\w+)*|[^\S\n]*[^\w\s]{1,3}|[^\S\n]+")
_WORD_RE = re.compile(r"\w+(?:['’-]\w+)*")


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


_QUESTION_STARTS = _wordset(
    "what why how when where who whom whose which is are can could should would will "
    "do does did may might shall"
)
_REQUEST_STARTS = _wordset(
    "write explain show make create give list tell help please build draft summarize "
    "summarise describe compare generate find fix plot translate"
)
# Words too common to say anything about the topic.
_STOPWORDS = _wordset(
    """a an the and or but if then so of to in on at by for with from into about as is
    are was were be been being am do does did have has had i me my you your we our they
    them their it its this that these those there here what why how when where who whom
    which can could should would will shall may might must not no yes please just also
    very some any all more most such than too up out over only own same other each few
    both again further once hi hello hey thanks thank"""
)
_MAX_KEYWORDS = 5
_EXCERPT_CHARS = 48


def message_text(content: object) -> str:
    """Return the text of an OpenAI message ``content`` (a string or a list of parts).

    Parameters
    ----------
    content
        A string, or a list of ``{"type": "text", "text": str}`` parts; other parts
        (images, audio) contribute nothing.

    Returns
    -------
    str
        The text, parts joined with newlines; ``""`` for anything else.
    """
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [
            part["text"]
            for part in content
            if isinstance(part, Mapping) and isinstance(part.get("text"), str)
        ]
        return "\n".join(texts)
    return ""


def split_tokens(text: str) -> list[str]:
    """Split ``text`` into token-like pieces whose concatenation is exactly ``text``.

    Parameters
    ----------
    text
        Any string.

    Returns
    -------
    list[str]
        Words with their leading blanks, short punctuation runs, newline runs.
    """
    return _TOKEN_RE.findall(text)


def count_prompt_tokens(messages: Sequence[Mapping[str, object]]) -> int:
    """Estimate the prompt size in tokens, for the ``usage`` block.

    Parameters
    ----------
    messages
        OpenAI-style messages (``role`` and ``content``).

    Returns
    -------
    int
        Token-like pieces of every message plus a small per-message overhead, like
        the framing a real chat template adds.
    """
    total = 3
    for message in messages:
        total += 4 + len(split_tokens(message_text(message.get("content"))))
    return total


def _py_string(text: str) -> str:
    """A Python string literal for ``text`` that also never contains a backtick.

    ``repr`` escapes quotes, backslashes, newlines and unprintable characters; the
    backtick is escaped too so a prompt cannot close the Markdown code fence.
    """
    return repr(text).replace("`", "\\x60")


def _identifier(words: Sequence[str]) -> str:
    """An ASCII snake_case identifier built from ``words`` (``"demo"`` if none fit)."""
    parts: list[str] = []
    for word in words:
        ascii_word = unicodedata.normalize("NFKD", word).encode("ascii", "ignore").decode()
        cleaned = re.sub(r"[^a-z0-9]+", "_", ascii_word.lower()).strip("_")
        if cleaned:
            parts.append(cleaned)
        if len(parts) == 3:
            break
    name = "_".join(parts)[:40].rstrip("_")
    return name or "demo"


def _pick(options: Sequence[str], seed: int) -> str:
    return options[seed % len(options)]


class DemoModel:
    """The offline demo model: same conversation in, same Markdown reply out.

    Parameters
    ----------
    name
        The model id the server advertises and accepts (``"demo"``).

    Examples
    --------
    >>> model = DemoModel()
    >>> text = model.reply([{"role": "user", "content": "How do I plot a histogram?"}])
    >>> text.startswith("## How do I plot a histogram")
    True
    >>> "".join(model.tokens([{"role": "user", "content": "hi"}])) == model.reply(
    ...     [{"role": "user", "content": "hi"}]
    ... )
    True
    """

    def __init__(self, name: str = "demo") -> None:
        self.name = name

    def tokens(self, messages: Sequence[Mapping[str, object]]) -> list[str]:
        """Return the reply to ``messages`` as token-like pieces.

        Parameters
        ----------
        messages
            The conversation, oldest first; the last user message is answered.

        Returns
        -------
        list[str]
            Pieces whose concatenation is exactly :meth:`reply`.
        """
        return split_tokens(self.reply(messages))

    def reply(self, messages: Sequence[Mapping[str, object]]) -> str:
        """Return the Markdown reply to ``messages``.

        Parameters
        ----------
        messages
            The conversation, oldest first; the last user message is answered,
            earlier user turns are counted and a system prompt is acknowledged.

        Returns
        -------
        str
            A heading, a short bulleted list, a table, an equation, a fenced Python
            block and a note on how to use a real provider; deterministic for a
            given conversation.
        """
        user_texts = [message_text(m.get("content")) for m in messages if m.get("role") == "user"]
        prompt = user_texts[-1] if user_texts else ""
        earlier_turns = max(len(user_texts) - 1, 0)
        system_words = sum(
            len(_WORD_RE.findall(message_text(m.get("content"))))
            for m in messages
            if m.get("role") in ("system", "developer")
        )
        if not prompt.strip():
            return self._empty_reply(earlier_turns)
        return self._reply_for(prompt, earlier_turns, system_words)

    # -- building blocks -------------------------------------------------------------

    def _empty_reply(self, earlier_turns: int) -> str:
        history = self._history_sentence(earlier_turns)
        lines = [
            "## An empty message",
            "",
            "I'm **nbchat's built-in offline demo model**, not a real LLM, and your "
            "message had no text for me to work with." + history,
            "",
            "- **Words:** 0",
            "- **Try:** a question such as *How do I read a CSV file?*",
            "",
            "```python",
            "def ask(question: str = '') -> str:",
            '    """Return the question, or a hint when it is empty."""',
            "    return question.strip() or 'Type a question first.'",
            "",
            "",
            "print(ask())",
            "```",
            "",
            self._provider_note(),
        ]
        return "\n".join(lines)

    def _reply_for(self, prompt: str, earlier_turns: int, system_words: int) -> str:
        words = _WORD_RE.findall(prompt)
        keywords = self._keywords(words)
        topic_words = words[:8]
        topic = " ".join(topic_words)
        if len(words) > len(topic_words):
            topic += " …"
        if not topic:
            # Only punctuation or symbols: there is no word to name the topic after.
            topic = "A message without words"
        topic = topic[0].upper() + topic[1:]
        kind = self._kind(prompt, words)
        seed = zlib.crc32(prompt.encode("utf-8", "surrogatepass"))

        opening = _pick(
            (
                "Let me take that apart.",
                "Good prompt for a demo.",
                "Here's my take.",
            ),
            seed,
        )
        intro = (
            f"{opening} I'm **nbchat's built-in offline demo model**, not a real LLM: "
            "I answer by fixed rules." + self._history_sentence(earlier_turns)
        )
        keyword_text = ", ".join(f"`{k}`" for k in keywords) if keywords else "none found"
        bullets = [
            f"- **Words:** {len(words)} ({len(prompt)} characters)",
            f"- **Kind:** {kind}",
            f"- **Key words:** {keyword_text}",
        ]
        if system_words:
            bullets.append(f"- **System prompt:** {system_words} words, noted but not obeyed")
        lines = [
            f"## {topic}",
            "",
            intro,
            "",
            "What I noticed:",
            "",
            *bullets,
            "",
            *self._measures(prompt, words),
            "",
            "A small function built from your prompt:",
            "",
            "```python",
            *self._code(prompt, words, keywords),
            "```",
            "",
            self._provider_note(),
        ]
        return "\n".join(lines)

    @staticmethod
    def _measures(prompt: str, words: Sequence[str]) -> list[str]:
        """A small table and an equation about the prompt (Markdown worth rendering)."""
        seconds = len(words) * 60 / 200
        longest = max((len(w) for w in words), default=0)
        return [
            "| measure | value |",
            "|---|---:|",
            f"| words | {len(words)} |",
            f"| characters | {len(prompt)} |",
            f"| longest word | {longest} letters |",
            f"| reading time | {seconds:.1f} s |",
            "",
            "Reading time, for $n$ words at 200 words a minute:",
            "",
            f"$$t = \\frac{{n}}{{200}} \\times 60\\,\\text{{s}} = {seconds:.1f}\\,\\text{{s}}$$",
        ]

    @staticmethod
    def _keywords(words: Sequence[str]) -> list[str]:
        """Up to five distinct, longest-first content words (ties keep prompt order)."""
        seen: dict[str, int] = {}
        for index, word in enumerate(words):
            lowered = word.lower()
            if (
                lowered in _STOPWORDS
                or lowered in _REQUEST_STARTS
                or lowered in seen
                or len(word) < 3
                or word.isdigit()
            ):
                continue
            seen[lowered] = index
        ranked = sorted(seen, key=lambda w: (-len(w), seen[w]))[:_MAX_KEYWORDS]
        return sorted(ranked, key=lambda w: seen[w])

    @staticmethod
    def _kind(prompt: str, words: Sequence[str]) -> str:
        first = words[0].lower() if words else ""
        if prompt.rstrip().endswith("?") or first in _QUESTION_STARTS:
            return "a question"
        if first in _REQUEST_STARTS:
            return "a request"
        return "a statement"

    @staticmethod
    def _history_sentence(earlier_turns: int) -> str:
        if earlier_turns == 0:
            return ""
        if earlier_turns == 1:
            return " I see 1 earlier turn, but I only count it."
        return f" I see {earlier_turns} earlier turns, but I only count them."

    @staticmethod
    def _code(prompt: str, words: Sequence[str], keywords: Sequence[str]) -> list[str]:
        """A short, valid Python function whose names and strings come from the prompt."""
        name = "about_" + _identifier(keywords or words)
        excerpt = " ".join(prompt.split())
        if len(excerpt) > _EXCERPT_CHARS:
            excerpt = excerpt[: _EXCERPT_CHARS - 1].rstrip() + "…"
        # Docstring words come from _WORD_RE, so they hold no quote or backslash.
        doc_topic = " ".join(keywords[:3]) or "your prompt"
        keyword_list = ", ".join(_py_string(k) for k in keywords)
        return [
            f"def {name}(prompt: str = {_py_string(excerpt)}) -> dict[str, object]:",
            f'    """Describe a prompt about {doc_topic} (a demo)."""',
            "    return {",
            '        "words": len(prompt.split()),',
            f'        "keywords": [{keyword_list}],',
            "    }",
            "",
            "",
            f"print({name}())",
        ]

    @staticmethod
    def _provider_note() -> str:
        return (
            "For real answers, connect any OpenAI-compatible provider with "
            "`nbchat.Chat(base_url=..., api_key=...)`."
        )
