"""From ``Chat(...)`` arguments to one :class:`~nbchat.config.Endpoint`, checked early.

Precedence: explicit arguments, then the provider preset, then defaults. With no
``base_url`` and no ``provider`` the embedded offline demo server answers. Every
mistake a user can make here (unknown provider, missing key, missing model, a URL
without a scheme) is a ConfigurationError raised before any request, naming the fix.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from nbchat.config import (
    DEFAULT_API_KEY_ENV,
    DEMO_MODEL,
    Endpoint,
    RequestBody,
    Timeouts,
    redact_url,
)
from nbchat.dialects import get_dialect
from nbchat.errors import ConfigurationError
from nbchat.providers import PROVIDERS, provider_names
from nbchat.session_client import RemoteSession
from nbchat.stream import HttpTransport, ReplayTransport, Transport

if TYPE_CHECKING:  # only nbchat.stream.http imports httpx at run time
    import httpx

DEFAULT_DIALECT = "openai-chat"
#: where the token of a sessions server comes from when ``api_key`` is not given
SERVER_TOKEN_ENV = "NBCHAT_SERVER_TOKEN"
#: where a key comes from when only a dialect (no provider) is given
KEY_ENV_BY_DIALECT = {"anthropic": "ANTHROPIC_API_KEY"}


@dataclass(frozen=True)
class Source:
    """Where a chat's replies come from: the endpoint, the transport, a server session."""

    endpoint: Endpoint
    transport: Transport
    session: RemoteSession | None = None


def resolve_source(
    *,
    base_url: str | None,
    api_key: str | None,
    model: str | None,
    provider: str | None,
    dialect: str | None,
    headers: Mapping[str, str] | None,
    system: str | None,
    timeouts: Timeouts | None,
    http_client: httpx.AsyncClient | None,
    transport: Transport | None,
    replay: str | os.PathLike[str] | None,
    replay_speed: float,
    session: str | None,
    resumable: bool = False,
    request_body: RequestBody | None = None,
) -> Source:
    """The ``Chat(...)`` arguments as one :class:`Source` (reads a replay file; sends nothing)."""
    own_clocks = timeouts is not None and (timeouts.connect, timeouts.read) != (
        Timeouts().connect,
        Timeouts().read,
    )
    if transport is not None and (own_clocks or http_client is not None):
        raise ConfigurationError(
            "Timeouts(connect=..., read=...) and http_client= configure the default HTTP "
            "transport; with transport=, configure the transport itself"
        )
    if replay is not None:
        if transport is not None or session is not None:
            raise ConfigurationError("replay= plays a recording: drop transport= and session=")
        replayed = ReplayTransport.from_file(replay, dialect=dialect, speed=replay_speed)
        return Source(replay_endpoint(replayed, replay, model, dialect), replayed)
    transport = transport or HttpTransport(timeouts, http_client)
    if session is not None:
        remote, endpoint = session_endpoint(
            session, base_url, api_key, model, dialect, headers, system, transport
        )
        return Source(endpoint, transport, remote)
    endpoint = resolve_endpoint(base_url, api_key, model, provider, dialect, headers)
    if resumable:
        endpoint = dataclasses.replace(endpoint, resumable=True)
    if request_body is not None:
        if endpoint.dialect not in BODY_DIALECTS:
            raise ConfigurationError(
                f"request_body= shapes the events and progress formats' requests; the "
                f"{endpoint.dialect!r} dialect builds its own"
            )
        if not (callable(request_body) or isinstance(request_body, Mapping)):
            raise ConfigurationError(
                "request_body= must be a dict template (strings may hold {message}) or a "
                "function (message, messages) -> dict"
            )
        endpoint = dataclasses.replace(endpoint, body=request_body)
    return Source(endpoint, transport)


#: the formats whose request body ``Chat(request_body=...)`` may shape
BODY_DIALECTS = ("events", "progress")


def resolve_endpoint(
    base_url: str | None,
    api_key: str | None,
    model: str | None,
    provider: str | None = None,
    dialect: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Endpoint:
    """The endpoint these ``Chat`` arguments mean; see the module docstring."""
    extra = tuple((headers or {}).items())
    if provider is not None:
        return _preset(provider, base_url, api_key, model, dialect, extra)
    if base_url is None:
        from nbchat.server.embedded import ensure_embedded_server

        return Endpoint(
            base_url=ensure_embedded_server(),
            model=model or DEMO_MODEL,
            api_key=api_key,
            dialect=dialect or DEFAULT_DIALECT,
            headers=extra,
            embedded=True,
        )
    url = _checked_url(base_url)
    name = dialect or DEFAULT_DIALECT
    if not model:
        if get_dialect(name).sends_model:
            raise ConfigurationError(
                "model is required with base_url, e.g. Chat(base_url=..., model='gpt-4o-mini')"
            )
        model = name  # (the request names none: the format stands in, for the records)
    env = KEY_ENV_BY_DIALECT.get(name, DEFAULT_API_KEY_ENV)
    key = api_key if api_key is not None else os.environ.get(env)
    return Endpoint(url, model, key, name, extra)


def replay_endpoint(
    replay: ReplayTransport, path: str | os.PathLike[str], model: str | None, dialect: str | None
) -> Endpoint:
    """The endpoint of a chat that plays recording ``path``: the file, its model and dialect."""
    first = replay.turns[0]
    return Endpoint(
        base_url=Path(path).resolve().as_uri(),
        model=model or first.model or "replay",
        dialect=dialect or first.dialect or DEFAULT_DIALECT,
    )


def session_endpoint(
    session: str,
    base_url: str | None,
    api_key: str | None,
    model: str | None,
    dialect: str | None,
    headers: Mapping[str, str] | None,
    system: str | None,
    transport: Transport,
) -> tuple[RemoteSession, Endpoint]:
    """Session ``session`` on the sessions server at ``base_url`` (the embedded one if None).

    Nothing is sent yet: the session is created or loaded when the chat first needs
    it. The endpoint streams with the ``events`` dialect from ``{server}/sessions/{id}``
    once it is open; the token is ``api_key`` or ``$NBCHAT_SERVER_TOKEN``.
    """
    embedded = base_url is None
    if base_url is None:
        from nbchat.server.embedded import ensure_embedded_server

        server = ensure_embedded_server().removesuffix("/v1")
    else:
        server = _checked_url(base_url)
    key = api_key if api_key is not None else os.environ.get(SERVER_TOKEN_ENV) or None
    remote = RemoteSession(server, session, transport=transport, api_key=key, system=system)
    endpoint = Endpoint(
        base_url=remote.url,
        model=model or "server",
        api_key=key,
        dialect=dialect or "events",
        headers=tuple((headers or {}).items()),
        embedded=embedded,
    )
    return remote, endpoint


def _preset(
    provider: str,
    base_url: str | None,
    api_key: str | None,
    model: str | None,
    dialect: str | None,
    headers: tuple[tuple[str, str], ...],
) -> Endpoint:
    preset = PROVIDERS.get(provider)
    if preset is None:
        known = ", ".join(provider_names())
        raise ConfigurationError(f"unknown provider {provider!r}; known providers: {known}")
    if not model:
        raise ConfigurationError(
            f"model is required with provider={provider!r}, "
            f"e.g. Chat(provider={provider!r}, model={preset.example_model!r})"
        )
    key = api_key
    if key is None and preset.key_env:
        key = os.environ.get(preset.key_env) or None
    if not key and preset.key_required:
        raise ConfigurationError(
            f"no API key for {provider}: set the {preset.key_env} environment variable "
            f"(or pass api_key=...)"
        )
    url = _checked_url(base_url) if base_url is not None else preset.resolved_base_url()
    return Endpoint(url, model, key, dialect or preset.dialect, headers)


def _checked_url(base_url: object) -> str:
    if not isinstance(base_url, str):
        raise ConfigurationError(f"base_url must be a string, got {type(base_url).__name__}")
    if not base_url.startswith(("http://", "https://")):
        raise ConfigurationError(f"base_url must start with http:// or https://, got {base_url!r}")
    parts = urlsplit(base_url)
    shown = redact_url(base_url)
    host = parts.netloc.rsplit("@", 1)[-1]
    if not parts.hostname or not host.strip():
        raise ConfigurationError(
            f"base_url {shown!r} names no host, e.g. 'http://localhost:8000/v1'"
        )
    if any(c.isspace() for c in base_url.strip()):
        raise ConfigurationError(f"base_url {shown!r} contains a space; remove it or encode it")
    try:
        parts.port  # noqa: B018 (raises on a port that is not a number in range)
    except ValueError as exc:
        raise ConfigurationError(f"base_url {shown!r} has an invalid port: {exc}") from None
    return base_url.strip().rstrip("/")
