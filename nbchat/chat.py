"""``nbchat.Chat``: the controller, displayable as a widget in a notebook cell."""

from __future__ import annotations

import logging
import os
import re
import sys
import uuid
import weakref
from collections.abc import Callable
from typing import Any

from nbchat.changes import Change, PhaseChanged, TranscriptReplaced
from nbchat.controller import ChatController
from nbchat.conversation import default_conversation_name
from nbchat.errors import user_facing
from nbchat.transcript import CHARS, MESSAGES, Transcript
from nbchat.widget import ChatWidget

log = logging.getLogger("nbchat")

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


def notebook_path() -> str:
    """Where the code runs: the notebook's path as the kernel knows it (VS Code's
    ``__vsc_ipynb_file__``, Jupyter Server's ``__session__`` / ``JPY_SESSION_NAME``), a
    script's file, else 'default'."""
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
    else:
        script = getattr(sys.modules.get("__main__"), "__file__", None)
        if isinstance(script, str) and script:
            return os.path.abspath(script).replace(os.sep, "/")
    return default_conversation_name()


def current_cell_id() -> str | None:
    """The id of the notebook cell being run, when the front end sends one with its
    execute request (JupyterLab and Notebook 7 send the id stored in the notebook;
    VS Code its cell's; nbclient and papermill none). Read while the cell runs: an
    asyncio task the cell started still sees it, a comm message does not."""
    try:
        from IPython import get_ipython

        kernel = getattr(get_ipython(), "kernel", None)
        parent = kernel.get_parent("shell") if kernel is not None else {}
    except Exception:  # an older or a foreign kernel: no cell id
        return None
    if not isinstance(parent, dict):
        return None
    if (parent.get("header") or {}).get("msg_type") != "execute_request":
        return None
    metadata = parent.get("metadata") or {}
    cell = metadata.get("cellId") or (metadata.get("colab") or {}).get("cell_id")
    return cell if isinstance(cell, str) and cell else None


def notebook_conversation_name(path: str | None = None) -> str:
    """The default conversation of a chat: its notebook and its cell.

    Two chats made in two cells are two conversations; re-running a cell (also in a new
    kernel) reopens that cell's. Without a cell id (nbclient, papermill, scripts) the
    notebook's or script's path is the key: pass ``name=`` to tell chats apart there,
    or to share one conversation between cells on purpose. ``path``: the notebook's, when
    the caller has it already (:func:`notebook_path`).
    """
    path = path or notebook_path()
    cell = current_cell_id()
    return f"{path}#cell={cell}" if cell else path


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

    @user_facing
    def __init__(self, *args: Any, name: str | None = None, **kwargs: Any) -> None:
        path = notebook_path()
        super().__init__(*args, name=name or notebook_conversation_name(path), **kwargs)
        self.conversation.notebook = path
        Chat._latest = weakref.ref(self)
        self._widget: ChatWidget | None = None
        #: marks this chat's static transcript, which its live widget hides
        self.transcript_id = uuid.uuid4().hex
        self._displays: list[str] = []  # display ids of the transcript outputs
        self._unsubscribe_displays: Callable[[], None] | None = None

    _latest: weakref.ref[Chat] | None = None

    @classmethod
    def latest(cls) -> Chat | None:
        """The chat made last in this kernel (``%%chat`` talks to it), if it still exists."""
        return cls._latest() if cls._latest is not None else None

    @property
    def widget(self) -> ChatWidget:
        """The chat's widget (created on first use; every display shows the same one)."""
        if self._widget is None:
            warn_if_old_ipykernel()
            self._widget = ChatWidget(self, transcript_id=self.transcript_id)
            self.connect_soon()
        return self._widget

    def can_ask(self) -> bool:
        """A tool call that needs approval is asked in the widget, once it was shown;
        before (or in a script) nobody can answer: set ``chat.approve`` there."""
        return self._widget is not None

    def __repr__(self) -> str:
        return (
            f"Chat(model={self.endpoint.model!r}, endpoint={self.where!r}, "
            f"conversation={self.name!r}, messages={len(self.messages)}, "
            f"state={self.state.value!r})"
        )

    def to_markdown(self, last: int = MESSAGES, max_chars: int = CHARS) -> str:
        """The transcript as Markdown (model text is escaped, never raw HTML).

        Bounded like the saved output: the ``last`` messages and at most ``max_chars``
        characters of text, with a line saying what was left out. The whole
        conversation stays in the history file.
        """
        return self._transcript(last, max_chars).markdown()

    def transcript(self, last: int = MESSAGES, max_chars: int = CHARS) -> str:
        """The transcript as sanitized HTML, to paste elsewhere; the cell's saved output
        shows the same (see :mod:`nbchat.transcript` for the rules)."""
        return self._transcript(last, max_chars).html(self.transcript_id)

    def _transcript(self, last: int, max_chars: int) -> Transcript:
        return Transcript(
            self.messages, self.endpoint.model, self.history_location, last, max_chars
        )

    def _transcript_bundle(self) -> dict[str, str]:
        shown = self._transcript(MESSAGES, CHARS)
        markdown = shown.markdown()  # also the plain text: Markdown reads as text
        return {
            "text/html": shown.html(self.transcript_id),
            "text/markdown": markdown,
            "text/plain": markdown,
        }

    def _ipython_display_(self) -> None:
        """Two outputs: the live widget, and the static transcript for readers without
        a kernel (refreshed when a turn ends; the live widget hides it)."""
        from IPython.display import display

        data, metadata = self._repr_mimebundle_()
        display(data, metadata=metadata, raw=True)  # type: ignore[no-untyped-call]
        display_id = uuid.uuid4().hex
        display(self._transcript_bundle(), raw=True, display_id=display_id)  # type: ignore[no-untyped-call]
        self._displays.append(display_id)
        if self._unsubscribe_displays is None:
            self._unsubscribe_displays = self.subscribe(self._refresh_transcript)

    def _refresh_transcript(self, change: Change) -> None:
        # When a turn has ended, or the transcript changed as a whole while idle.
        ended = isinstance(change, PhaseChanged) and not change.phase.busy
        replaced = isinstance(change, TranscriptReplaced) and not self.state.busy
        if not (ended or replaced):
            return
        from IPython.display import update_display

        bundle = self._transcript_bundle()
        for display_id in self._displays:
            update_display(bundle, raw=True, display_id=display_id)  # type: ignore[no-untyped-call]

    def _repr_mimebundle_(
        self, include: Any = None, exclude: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        shown: Any = self.widget._repr_mimebundle_(include=include, exclude=exclude)
        data, metadata = shown if isinstance(shown, tuple) else (shown or {}, {})
        data = dict(data)
        data["text/plain"] = (
            f"{self!r}\n(the chat widget: live while the kernel runs; "
            "the transcript is shown below it)"
        )
        return data, dict(metadata)
