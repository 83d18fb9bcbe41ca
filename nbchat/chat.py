"""``nbchat.Chat``: the controller, displayable as a widget in a notebook cell."""

from __future__ import annotations

import html
import logging
import os
import re
import sys
from typing import Any

from nbchat.controller import ChatController
from nbchat.conversation import default_conversation_name
from nbchat.message import Message
from nbchat.widget import ChatWidget

log = logging.getLogger("nbchat")

#: what of the transcript goes into a cell's saved output (see ``Chat.to_markdown``)
MARKDOWN_MESSAGES = 50
MARKDOWN_CHARS = 100_000
_warned_kernel = False


def warn_if_old_ipykernel() -> bool:
    """Warn once per process when the running ipykernel is older than 7.4.

    Measured: with ipykernel < 7.4 a cell that awaits a turn receives no widget message,
    so the Stop button cannot reach it (``chat.send`` without ``await`` still works).
    """
    global _warned_kernel
    version = str(getattr(sys.modules.get("ipykernel"), "__version__", ""))
    numbers = tuple(int(n) for n in re.findall(r"\d+", version)[:2])
    if _warned_kernel or not numbers or numbers >= (7, 4):
        return False
    _warned_kernel = True
    log.warning(
        "nbchat: ipykernel %s cannot deliver Stop to a cell that is awaiting a reply; "
        "use chat.send(...) without await, or upgrade: pip install 'ipykernel>=7.4'",
        version,
    )
    return True


def notebook_conversation_name() -> str:
    """The notebook's path as the kernel knows it (VS Code, Jupyter Server), else 'default'."""
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:  # pragma: no cover - IPython ships with every Jupyter kernel
        shell = None
    if shell is not None:
        for key in ("__vsc_ipynb_file__", "__session__"):
            value = shell.user_ns.get(key)
            if isinstance(value, str) and value:
                return value.replace(os.sep, "/")
    return default_conversation_name()


class Chat(ChatController):
    """A streaming chat; display it (last line of a cell) to get the chat widget.

    Same parameters as :class:`nbchat.controller.ChatController`: with no arguments it
    talks to nbchat's embedded offline demo model, and keeps the conversation (keyed by
    the notebook's path) in a SQLite file in the per-user data folder.

    Examples
    --------
    >>> chat = nbchat.Chat()                      # doctest: +SKIP
    >>> chat                                      # shows the widget  # doctest: +SKIP
    >>> reply = await chat.send("Explain SSE")    # doctest: +SKIP
    >>> reply.content                             # doctest: +SKIP
    """

    def __init__(self, *args: Any, name: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, name=name or notebook_conversation_name(), **kwargs)
        self._widget: ChatWidget | None = None

    @property
    def widget(self) -> ChatWidget:
        """The chat's widget (created on first use; every display shows the same one)."""
        if self._widget is None:
            warn_if_old_ipykernel()
            self._widget = ChatWidget(self)
            self.connect_soon()
        return self._widget

    def __repr__(self) -> str:
        return (
            f"Chat(model={self.endpoint.model!r}, endpoint={self.where!r}, "
            f"conversation={self.name!r}, messages={len(self.messages)}, "
            f"state={self.state.value!r})"
        )

    def to_markdown(self, last: int = MARKDOWN_MESSAGES, max_chars: int = MARKDOWN_CHARS) -> str:
        """The transcript as Markdown (model text is escaped, never raw HTML).

        What goes into the cell's saved output, so it is bounded: the ``last`` messages
        and at most ``max_chars`` characters of text, with a line saying what was left
        out. The whole conversation stays in the history file.
        """
        messages = self.messages
        picked: list[tuple[Message, str]] = []
        budget = max_chars
        for message in reversed(messages[-last:] if last > 0 else []):
            if budget <= 0:
                break
            text = message.content
            if len(text) > budget:  # the end of a long message is what was said last
                cut = len(text) - budget
                text = f"(… {cut:,} characters left out) {text[cut:]}"
            budget -= len(message.content)
            picked.append((message, text))
        picked.reverse()
        lines = [f"**nbchat** · `{self.endpoint.model}` · {len(messages)} messages", ""]
        left_out = len(messages) - len(picked)
        if left_out:
            lines += [
                f"*{left_out:,} earlier messages are not shown here; the whole conversation "
                f"is in the history ({self.history_location}).*",
                "",
            ]
        for message, text in picked:
            who = "You" if message.role == "user" else message.role.capitalize()
            mark = "" if message.status == "done" else f" *({message.status})*"
            lines += [f"**{who}**{mark}:", "", html.escape(text, quote=False) or "*(no text)*", ""]
        return "\n".join(lines)

    def _repr_mimebundle_(
        self, include: Any = None, exclude: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        shown: Any = self.widget._repr_mimebundle_(include=include, exclude=exclude)
        data, metadata = shown if isinstance(shown, tuple) else (shown or {}, {})
        data = dict(data)
        # Readable where widgets are not (nbviewer, GitHub, a reopened notebook).
        data["text/plain"] = repr(self)
        data["text/markdown"] = self.to_markdown()
        return data, dict(metadata)
