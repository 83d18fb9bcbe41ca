"""The process-wide embedded server that ``Chat()`` uses when no endpoint is configured."""

from __future__ import annotations

import atexit
import math
import os
import threading

from nbchat.errors import ConfigurationError
from nbchat.server.app import DEFAULT_TOKENS_PER_SECOND, create_app
from nbchat.server.thread import ServerThread

__all__ = ["TPS_ENV_VAR", "demo_tokens_per_second", "ensure_embedded_server"]

#: Environment variable that overrides the demo model's pace (tokens per second).
TPS_ENV_VAR = "NBCHAT_DEMO_TPS"

_lock = threading.Lock()
_server: ServerThread | None = None


def demo_tokens_per_second() -> float:
    """The demo pace: ``$NBCHAT_DEMO_TPS`` if set, else the default (45 tokens/s).

    Returns
    -------
    float
        A positive number of tokens per second (``inf`` means no pauses).

    Raises
    ------
    ConfigurationError
        If the variable is set but is not a positive number.
    """
    raw = os.environ.get(TPS_ENV_VAR, "").strip()
    if not raw:
        return DEFAULT_TOKENS_PER_SECOND
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if math.isnan(value) or value <= 0:
        raise ConfigurationError(
            f"{TPS_ENV_VAR}={raw!r} is not a positive number of tokens per second."
        )
    return value


def ensure_embedded_server() -> str:
    """Start the shared embedded server once per process; return its OpenAI base URL.

    Thread-safe and lazy: the first call starts a :class:`ServerThread` serving the
    demo model on a free loopback port and registers its shutdown with ``atexit``;
    later calls return the same URL (restarting the server if it died).

    Returns
    -------
    str
        ``http://127.0.0.1:PORT/v1``.

    Raises
    ------
    ConfigurationError
        If ``$NBCHAT_DEMO_TPS`` is invalid or the server cannot start.
    """
    global _server
    with _lock:
        if _server is None or not _server.is_running:
            server = ServerThread(create_app(tokens_per_second=demo_tokens_per_second()))
            server.start()
            atexit.register(server.stop)
            _server = server
        url = _server.url
        assert url is not None  # is_running was just checked or established
        return url + "/v1"
