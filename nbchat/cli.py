"""The ``nbchat`` command: ``nbchat serve`` runs the embedded server in the foreground."""

from __future__ import annotations

import argparse
import ipaddress
import sys
from collections.abc import Sequence

__all__ = ["is_loopback", "main"]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("nbchat")
    except PackageNotFoundError:
        # Running from a source checkout that is not installed.
        import nbchat

        return str(getattr(nbchat, "__version__", "unknown"))


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine.

    Parameters
    ----------
    host
        An IP address or host name.

    Returns
    -------
    bool
        ``True`` for ``localhost`` and loopback addresses (``127.0.0.0/8``, ``::1``).
    """
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # some other host name: it may resolve to a public interface


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be positive")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is outside 0-65535")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nbchat",
        description="Stream LLM chat and live progress into a Jupyter notebook.",
    )
    parser.add_argument("--version", action="version", version=f"nbchat {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        help="run the OpenAI-compatible demo server in the foreground",
        description=(
            "Serve the offline demo model at http://HOST:PORT/v1 (OpenAI Chat "
            "Completions). Point nbchat.Chat(base_url=...) or any OpenAI client at it."
        ),
    )
    serve.add_argument("--host", default="127.0.0.1", help="interface (default: 127.0.0.1)")
    serve.add_argument(
        "--port", type=_port, default=8000, help="TCP port, 0 = any free port (default: 8000)"
    )
    serve.add_argument(
        "--tps",
        type=_positive_float,
        default=None,
        help="tokens per second of streamed replies (default: $NBCHAT_DEMO_TPS or 45)",
    )
    serve.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a non-loopback --host (the server has no authentication)",
    )
    serve.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="uvicorn log level (default: info, which logs each request)",
    )
    return parser


def _serve(args: argparse.Namespace) -> int:
    # Imported here so `nbchat --version` stays fast and needs no server stack.
    import uvicorn

    from nbchat.errors import ConfigurationError
    from nbchat.server.app import create_app
    from nbchat.server.embedded import demo_tokens_per_second
    from nbchat.server.thread import bind_socket, format_url

    host: str = args.host
    if not is_loopback(host) and not args.allow_remote:
        print(
            f"nbchat serve: refusing to listen on {host}: the demo server has no "
            "authentication, so anyone who can reach that address could use it.\n"
            "Use --host 127.0.0.1, or add --allow-remote if you really mean it.",
            file=sys.stderr,
        )
        return 2
    try:
        tps = args.tps if args.tps is not None else demo_tokens_per_second()
        sock = bind_socket(host, args.port)
    except ConfigurationError as exc:
        print(f"nbchat serve: {exc}", file=sys.stderr)
        return 1
    # Listen before announcing the URL: early clients queue instead of being refused.
    sock.listen(128)
    port = sock.getsockname()[1]
    url = format_url(host, port)
    print(f"nbchat demo server running at {url} (Ctrl-C to stop)", flush=True)
    print(f'Base URL: {url}/v1  ->  nbchat.Chat(base_url="{url}/v1")', flush=True)
    config = uvicorn.Config(
        create_app(tokens_per_second=tps),
        log_level=args.log_level,
        ws="none",
        lifespan="on",
        timeout_graceful_shutdown=3,
    )
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:
        # uvicorn shuts down gracefully on Ctrl-C, then re-raises the signal it
        # captured; that KeyboardInterrupt is the normal way out, not an error.
        pass
    finally:
        sock.close()
    print("nbchat demo server stopped.", flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``nbchat`` command line.

    Parameters
    ----------
    argv
        Arguments without the program name; ``sys.argv[1:]`` by default.

    Returns
    -------
    int
        The exit status: 0 on success (and after Ctrl-C), 2 for usage errors and a
        refused host, 1 when the server cannot start.
    """
    parser = _parser()
    try:
        args = parser.parse_args(None if argv is None else list(argv))
    except SystemExit as exc:  # --help, --version, usage errors
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 2)
    if args.command == "serve":
        return _serve(args)
    parser.print_help()
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
