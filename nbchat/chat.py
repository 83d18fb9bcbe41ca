"""``nbchat.Chat``: the controller, displayable as a widget in a notebook cell."""

from __future__ import annotations

import html
import os
from typing import Any

from nbchat.controller import ChatController, default_conversation_name
from nbchat.widget import ChatWidget


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
            self._widget = ChatWidget(self)
        return self._widget

    def __repr__(self) -> str:
        where = "embedded demo server" if self.endpoint.embedded else self.endpoint.display_url
        return (
            f"Chat(model={self.endpoint.model!r}, endpoint={where!r}, "
            f"conversation={self.name!r}, messages={len(self.messages)}, "
            f"state={self.state.value!r})"
        )

    def to_markdown(self) -> str:
        """The transcript as Markdown (model text is escaped, never raw HTML)."""
        lines = [f"**nbchat** · `{self.endpoint.model}` · {len(self.messages)} messages", ""]
        for message in self.messages:
            who = "You" if message.role == "user" else message.role.capitalize()
            mark = "" if message.status == "done" else f" *({message.status})*"
            lines.append(f"**{who}**{mark}:")
            lines.append("")
            lines.append(html.escape(message.content, quote=False) or "*(no text)*")
            lines.append("")
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
