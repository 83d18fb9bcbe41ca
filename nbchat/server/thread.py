"""Run an ASGI app under uvicorn: in a background daemon thread, or in the foreground.

Either way a stop (``ServerThread.stop()``, or Ctrl-C / SIGTERM for
:func:`serve_foreground`) first sets the app's ``state.shutting_down`` event, so
in-flight replies are stopped and saved and open streams end at once, instead of
uvicorn waiting out its graceful timeout and then cancelling them.
"""

from __future__ import annotations

import math
import socket
import threading
import time
from types import FrameType, TracebackType

import uvicorn
from starlette.types import ASGIApp

from nbchat.errors import ConfigurationError

__all__ = ["ServerThread", "bind_socket", "format_url", "serve_foreground"]


def bind_socket(host: str, port: int) -> socket.socket:
    """Create a TCP socket bound to ``host:port`` (IPv6 when ``host`` contains ``:``).

    Parameters
    ----------
    host
        An IP address or host name to bind.
    port
        The port; ``0`` lets the OS pick a free one.

    Returns
    -------
    socket.socket
        The bound, not yet listening socket.

    Raises
    ------
    ConfigurationError
        If the address cannot be bound (port in use, unknown host ...).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP spelled out: asyncio enables TCP_NODELAY on accepted connections
    # only when the socket says it is TCP. Without it, a response's headers and body
    # (two writes) meet Nagle + delayed ACK: +40 ms on every request.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        # Same as uvicorn: a restarted server may rebind a port still in TIME_WAIT.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigurationError(f"Cannot bind the nbchat server to {host}:{port}: {exc}.") from exc
    return sock


def format_url(host: str, port: int) -> str:
    """``http://host:port``, with brackets around an IPv6 address."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def _shutdown_event(app: ASGIApp) -> threading.Event | None:
    # Apps from create_app() expose state.shutting_down: setting it lets open
    # streams finish at once instead of uvicorn cancelling them (with a logged
    # traceback) after the graceful timeout.
    event = getattr(getattr(app, "state", None), "shutting_down", None)
    return event if isinstance(event, threading.Event) else None


class _Server(uvicorn.Server):
    """uvicorn's server, telling the app as soon as a signal asks it to stop."""

    def __init__(self, config: uvicorn.Config, shutting_down: threading.Event | None) -> None:
        super().__init__(config)
        self._shutting_down = shutting_down

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._shutting_down is not None:
            self._shutting_down.set()
        super().handle_exit(sig, frame)


def serve_foreground(
    app: ASGIApp, sock: socket.socket, *, log_level: str = "info", graceful_timeout: int = 5
) -> None:
    """Serve ``app`` on the listening ``sock`` until Ctrl-C or SIGTERM.

    Parameters
    ----------
    app
        The ASGI application.
    sock
        A bound socket (see :func:`bind_socket`).
    log_level
        uvicorn's log level. uvicorn's own access log stays off: the app logs each
        request itself, without query strings.
    graceful_timeout
        Seconds open connections get to finish after the signal.
    """
    config = uvicorn.Config(
        app,
        log_level=log_level,
        access_log=False,
        ws="none",
        lifespan="on",
        timeout_graceful_shutdown=graceful_timeout,
    )
    event = _shutdown_event(app)
    if event is not None:
        event.clear()
    _Server(config, event).run(sockets=[sock])


class ServerThread:
    """A uvicorn server for ``app`` in a daemon thread, on ``127.0.0.1``.

    Parameters
    ----------
    app
        The ASGI application to serve.
    host
        Interface to bind; loopback only by default.
    port
        TCP port; ``0`` picks a free one (read it from the URL :meth:`start` returns).
    startup_timeout
        Seconds :meth:`start` waits for the server to accept connections.
    graceful_timeout
        Seconds in-flight responses get to finish after :meth:`stop` before uvicorn
        cancels them. If ``app.state.shutting_down`` is a ``threading.Event`` (apps
        from :func:`~nbchat.server.create_app`), :meth:`stop` sets it first so open
        streams end at once.

    Examples
    --------
    >>> from nbchat.server import ServerThread, create_app
    >>> with ServerThread(create_app()) as server:  # doctest: +SKIP
    ...     print(server.url)
    http://127.0.0.1:54321
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        startup_timeout: float = 10.0,
        graceful_timeout: float = 2.0,
    ) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.startup_timeout = startup_timeout
        self.graceful_timeout = graceful_timeout
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._url: str | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str | None:
        """``http://127.0.0.1:PORT`` while running, else ``None``."""
        return self._url if self.is_running else None

    @property
    def is_running(self) -> bool:
        """Whether the server thread is alive and has not been asked to stop."""
        server, thread = self._server, self._thread
        return (
            server is not None
            and thread is not None
            and thread.is_alive()
            and server.started
            and not server.should_exit
        )

    def start(self) -> str:
        """Start serving and return the base URL once connections are accepted.

        Returns
        -------
        str
            ``http://HOST:PORT`` (no trailing slash). Calling it again while running
            returns the same URL.

        Raises
        ------
        ConfigurationError
            If the port cannot be bound, or the server does not come up in time.
        """
        with self._lock:
            if self.is_running and self._url is not None:
                return self._url
            # Bind here rather than in uvicorn so port 0 resolves to a known port and
            # a busy port fails in the caller's thread with a clear message.
            sock = bind_socket(self.host, self.port)
            port = sock.getsockname()[1]
            event = self._shutdown_event()
            if event is not None:
                event.clear()  # the app may be served again after an earlier stop()
            config = uvicorn.Config(
                self.app,
                log_config=None,  # leave the host program's logging setup alone
                log_level="warning",
                access_log=False,
                ws="none",  # no websocket stack to import (and no warnings from it)
                lifespan="on",
                timeout_graceful_shutdown=math.ceil(self.graceful_timeout),  # uvicorn takes int
            )
            server = uvicorn.Server(config)
            thread = threading.Thread(
                target=server.run,
                kwargs={"sockets": [sock]},
                name=f"nbchat-server-{port}",
                daemon=True,
            )
            thread.start()
            deadline = time.monotonic() + self.startup_timeout
            while not server.started:
                if not thread.is_alive() or time.monotonic() > deadline:
                    server.should_exit = True
                    thread.join(self.graceful_timeout + 1.0)
                    sock.close()
                    raise ConfigurationError(
                        f"The nbchat server on {self.host}:{port} did not start "
                        f"within {self.startup_timeout:g} s."
                    )
                time.sleep(0.01)
            self._server, self._thread = server, thread
            self._url = format_url(self.host, port)
            return self._url

    def _shutdown_event(self) -> threading.Event | None:
        return _shutdown_event(self.app)

    def stop(self, timeout: float | None = None) -> None:
        """Ask the server to shut down and wait for its thread (idempotent).

        Parameters
        ----------
        timeout
            Seconds to wait for the thread; default: the graceful timeout plus 3 s.
        """
        with self._lock:
            server, thread = self._server, self._thread
            if server is None or thread is None:
                return
            event = self._shutdown_event()
            if event is not None:
                event.set()
            server.should_exit = True
            thread.join(self.graceful_timeout + 3.0 if timeout is None else timeout)
            if not thread.is_alive():
                self._server = self._thread = None
                self._url = None

    def __enter__(self) -> ServerThread:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"running at {self._url}" if self.is_running else "stopped"
        return f"<ServerThread {state}>"
