"""Configuration values: where a chat sends requests and how patient it is.

Frozen dataclasses only; resolving defaults from the environment happens in the
controller, so these stay plain values that are easy to test and to print. The API
key is held here but never shown: ``repr`` hides it and nothing serializes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_API_KEY_ENV = "OPENAI_API_KEY"
DEMO_MODEL = "demo"


@dataclass(frozen=True)
class Timeouts:
    """Seconds to wait: for a connection, and for the stream to make progress.

    ``stall`` is the watchdog: the longest wait for the response headers, and then
    for each next event. Keep-alive comments (``: ping``) do not count as progress,
    so a server that only sends heartbeats still ends with a ``STALLED`` error naming
    the wait (or, when its events carry ids, is re-opened with ``Last-Event-ID``).
    """

    connect: float = 10.0
    stall: float = 120.0


@dataclass(frozen=True)
class Endpoint:
    """A chat completions endpoint: base URL (``.../v1``), key, model and dialect."""

    base_url: str
    model: str
    api_key: str | None = field(default=None, repr=False)
    dialect: str = "openai-chat"
    headers: tuple[tuple[str, str], ...] = ()
    embedded: bool = False

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
