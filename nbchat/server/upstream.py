"""The gateway model: forward each turn to a real provider, holding its key.

``nbchat serve --upstream URL --upstream-dialect NAME --model NAME`` puts a real
model behind the sessions API and ``/v1/chat/completions``: one place keeps the key
and the transcripts, many notebooks use it. The wire format is a dialect looked up
by name (:func:`nbchat.dialects.get_dialect`), so every dialect nbchat knows works
here; the request goes out through :class:`nbchat.stream.http.HttpTransport`, which maps
network failures to :class:`~nbchat.errors.StreamFailure` and redacts the key.

The key comes from an environment variable, read on every request (so a key can
be provided without rebuilding the app): ``--upstream-key-env NAME`` if given, else
``NBCHAT_UPSTREAM_API_KEY``, else the provider's usual variable (``OPENAI_API_KEY``
for the OpenAI dialects, ``ANTHROPIC_API_KEY`` for ``anthropic``). With none set,
chat requests answer ``API_KEY_MISSING`` before anything is saved; a keyless
upstream (Ollama, vLLM on a private network) is served with ``require_key=False``.
The key is never logged, returned or stored: failure messages are scrubbed of it.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from nbchat.config import Endpoint, Timeouts, redact_url
from nbchat.dialects import get_dialect
from nbchat.errors import ConfigurationError, StreamFailure
from nbchat.events import StreamError, StreamEvent
from nbchat.server.model import ModelEvent, ModelSetupError, Opened, Options
from nbchat.stream.http import HttpTransport, make_client
from nbchat.wire import ChatMessageParam

if TYPE_CHECKING:
    import httpx

__all__ = ["DEFAULT_KEY_ENV", "PROVIDER_KEY_ENV", "UpstreamModel"]

#: the environment variable the gateway reads its key from first
DEFAULT_KEY_ENV = "NBCHAT_UPSTREAM_API_KEY"
#: the provider's own variable, tried when ``DEFAULT_KEY_ENV`` is not set
PROVIDER_KEY_ENV: dict[str, str] = {
    "openai-chat": "OPENAI_API_KEY",
    "openai-responses": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
}


class UpstreamModel:
    """A :class:`~nbchat.server.model.ChatModel` that forwards to ``base_url``.

    Parameters
    ----------
    base_url
        The provider's base URL, as ``nbchat.Chat(base_url=...)`` takes it
        (``https://api.openai.com/v1``).
    model
        The provider's model name; also the only name ``/v1`` clients may ask for.
    dialect
        A registered dialect name (``openai-chat``, ``anthropic`` ...).
    key_env
        The environment variable holding the key; ``None`` tries
        :data:`DEFAULT_KEY_ENV`, then the provider's usual variable.
    require_key
        ``False`` for upstreams that need no key.
    timeouts
        Connect timeout and the longest silence tolerated from the upstream.

    Raises
    ------
    ConfigurationError
        If the dialect is unknown or ``base_url`` / ``model`` are empty.
    """

    def __init__(
        self,
        base_url: str,
        *,
        model: str,
        dialect: str = "openai-chat",
        key_env: str | None = None,
        require_key: bool = True,
        timeouts: Timeouts | None = None,
    ) -> None:
        if not base_url.strip():
            raise ConfigurationError("the upstream needs a base URL")
        if not model.strip():
            raise ConfigurationError("the upstream needs a model name (--model)")
        get_dialect(dialect)  # fail now, listing the known names, not on the first turn
        self.base_url = base_url.strip()
        self.name = model.strip()
        self.dialect = dialect
        #: the sampling fields the upstream's format carries (the gateway passes them on)
        self.sampling = frozenset(get_dialect(dialect).sampling)
        self.key_env = key_env
        self.require_key = require_key
        self.timeouts = timeouts if timeouts is not None else Timeouts()
        self.description = f"gateway to {redact_url(self.base_url)} ({dialect}, model {self.name})"
        self._client: httpx.AsyncClient | None = None

    @property
    def key_names(self) -> list[str]:
        """The environment variables searched for the key, in order."""
        if self.key_env:
            return [self.key_env]
        names = [DEFAULT_KEY_ENV]
        provider = PROVIDER_KEY_ENV.get(self.dialect)
        if provider:
            names.append(provider)
        return names

    def _key(self) -> str | None:
        for name in self.key_names:
            value = os.environ.get(name, "").strip()
            if value:
                return value
        return None

    def check(self) -> None:
        """Raise ``API_KEY_MISSING`` when a key is required and none is set."""
        if self.require_key and self._key() is None:
            names = " or ".join(f"${name}" for name in self.key_names)
            raise ModelSetupError(
                f"The server has no API key for its upstream model: set {names} "
                "in the server's environment.",
                code="API_KEY_MISSING",
            )

    def _http(self) -> httpx.AsyncClient:
        # One pooled client per serving loop: connections to the provider are reused.
        if self._client is None:
            self._client = make_client(self.timeouts)
        return self._client

    async def stream(
        self, messages: Sequence[ChatMessageParam], options: Options | None = None
    ) -> AsyncIterator[ModelEvent]:
        """Send the turn upstream (with the tools and sampling fields of ``options``, in
        the upstream's format); yield ``Opened`` once it answers, then its events, tool
        calls included."""
        self.check()
        key = self._key()
        secrets = (key,) if key else ()
        dialect = get_dialect(self.dialect)
        endpoint = Endpoint(self.base_url, self.name, api_key=key, dialect=self.dialect)
        tools = options.tools if options is not None else ()
        request = dialect.request(endpoint, messages, tools)
        if options is not None:
            if tools:
                request = dialect.with_tool_choice(request, options.tool_choice)
            request = dialect.with_sampling(request, options.sampling)
        transport = HttpTransport(self.timeouts, self._http())
        try:
            async with transport.open(request) as events:
                yield Opened()
                async for message in events:
                    for event in dialect.feed(message):
                        yield _scrub_event(event, secrets)
                for event in dialect.end():
                    yield _scrub_event(event, secrets)
        except StreamFailure as exc:
            scrubbed = _scrub(exc.message, secrets)
            if scrubbed == exc.message:
                raise
            raise type(exc)(scrubbed, code=exc.code, status=exc.status, url=exc.url) from None

    async def aclose(self) -> None:
        """Close the pooled connections (a new pool opens on the next request)."""
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()


def _scrub(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def _scrub_event(event: StreamEvent, secrets: tuple[str, ...]) -> StreamEvent:
    # A provider may quote the key it rejected in an in-band error.
    if isinstance(event, StreamError) and secrets:
        return replace(event, message=_scrub(event.message, secrets))
    return event
