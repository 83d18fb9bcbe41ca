"""Configuration values: where a chat sends requests and how patient it is.

Frozen dataclasses only; resolving defaults from the environment happens in the
controller, so these stay plain values that are easy to test and to print. The API
key is held here but never shown: ``repr`` hides it and nothing serializes it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from nbchat.errors import ConfigurationError

DEFAULT_API_KEY_ENV = "OPENAI_API_KEY"
DEMO_MODEL = "demo"


@dataclass(frozen=True)
class Timeouts:
    """Seconds to wait, on two clocks that mean different things.

    ``connect``
        For the TCP (and TLS) connection.
    ``read``
        Silence: no bytes at all, not even a keep-alive comment or half an event, for
        this long means the connection is dead. Before the response headers that fails
        the turn (``STALLED``); after some of the reply, a stream that can resume is
        re-opened, any other ends ``interrupted`` with its partial text.
    ``idle``
        No new output (text, reasoning, a tool call, a progress step) for this long
        while the server is still sending bytes (a model "thinking", keep-alives). By
        default there is no such limit: the widget shows "waiting ... s" and the turn
        goes on until the model speaks or the user presses Stop. Set it to end such a
        turn by itself (``STALLED``, the partial text kept).
    """

    connect: float = 10.0
    read: float = 120.0
    idle: float | None = None


@dataclass(frozen=True)
class ContextLimit:
    """How much of the conversation a request sends: the newest whole turns that fit.

    ``messages``
        At most this many user and assistant messages (``None``: no count limit).
    ``tokens``
        At most about this many tokens of them, system prompt included, estimated as
        four characters a token plus four a message (``None``: no budget). Set it a
        little under the model's context window.

    The oldest turns are left out first, and the context always starts with a user
    message; the message being answered is always sent, whatever its size. The
    widget marks the first message that is sent.
    """

    messages: int | None = 100
    tokens: int | None = None

    def __post_init__(self) -> None:
        for name in ("messages", "tokens"):
            value = getattr(self, name)
            if value is not None and (type(value) is not int or value < 1):
                raise ConfigurationError(
                    f"the context limit's {name} must be a positive int or None, not {value!r}"
                )


#: ``Chat(request_body=...)``: a JSON template, or a function of the message (and the
#: whole request's messages) that returns the body
RequestBody = Mapping[str, Any] | Callable[[str, Sequence[Any]], Mapping[str, Any]]


@dataclass(frozen=True)
class Endpoint:
    """A chat completions endpoint: base URL (``.../v1``), key, model and dialect."""

    base_url: str
    model: str
    api_key: str | None = field(default=None, repr=False)
    dialect: str = "openai-chat"
    headers: tuple[tuple[str, str], ...] = ()
    embedded: bool = False
    #: the server resumes a re-sent request with ``Last-Event-ID`` without starting the
    #: work again (declared by the user: ``Chat(resumable=True)``)
    resumable: bool = False
    #: a GET route that resumes a dropped reply after ``Last-Event-ID`` (a sessions
    #: server's ``/sessions/{id}/stream``)
    resume_url: str | None = None
    #: the JSON body of the ``events`` and ``progress`` formats (``Chat(request_body=...)``):
    #: a template whose strings have ``{message}`` replaced by the user's message, or a
    #: function ``(message, messages) -> dict``; None for the format's own
    body: RequestBody | None = field(default=None, repr=False, compare=False)

    def __repr__(self) -> str:
        # The URL without query string or user info: keys sometimes travel there.
        return (
            f"Endpoint(base_url={self.display_url!r}, model={self.model!r}, "
            f"dialect={self.dialect!r}, embedded={self.embedded!r})"
        )

    @property
    def display_url(self) -> str:
        """The base URL without query string or credentials: safe to show and log."""
        return redact_url(self.base_url)


def redact_url(url: str) -> str:
    """``url`` without user info and query string (keys sometimes travel there)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    host_path = rest.split("?", 1)[0].split("#", 1)[0]
    if "@" in host_path.split("/", 1)[0]:
        host_path = host_path.split("@", 1)[1]
    return f"{scheme}{sep}{host_path}"
