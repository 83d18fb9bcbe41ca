"""The ``nbchat`` command: ``nbchat serve`` runs the nbchat server in the foreground.

Without ``--upstream`` the offline demo model answers; with ``--upstream URL --model
NAME`` the server is a gateway that holds the provider's key (from an environment
variable) and keeps every session's transcript. ``--token`` / ``--users`` require
bearer tokens; a non-loopback ``--host`` is refused without them unless
``--allow-remote`` is given. Tokens and keys are never printed.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nbchat.server.upstream import UpstreamModel

__all__ = ["TOKEN_ENV", "is_loopback", "main"]

#: the environment variable ``nbchat serve`` reads its bearer token from
TOKEN_ENV = "NBCHAT_SERVER_TOKEN"


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


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be 0 or more")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be 0 or more")
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
        help="run the nbchat server (sessions API + OpenAI-compatible API) in the foreground",
        description=(
            "Serve chat sessions that keep their transcripts (/sessions) and an "
            "OpenAI-compatible API (/v1/chat/completions), answered by the offline demo "
            "model, or by a real provider with --upstream (the key stays on the server). "
            "Point nbchat.Chat(base_url=...) or any OpenAI client at it."
        ),
    )
    serve.add_argument("--host", default="127.0.0.1", help="interface (default: 127.0.0.1)")
    serve.add_argument(
        "--port", type=_port, default=8000, help="TCP port, 0 = any free port (default: 8000)"
    )
    serve.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a non-loopback --host without --token/--users (no authentication)",
    )
    serve.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="log level (default: info, which logs each request without bodies)",
    )
    model = serve.add_argument_group("model")
    model.add_argument(
        "--tps",
        type=_positive_float,
        default=None,
        help="demo model: tokens per second of replies (default: $NBCHAT_DEMO_TPS or 45)",
    )
    model.add_argument(
        "--upstream",
        metavar="URL",
        help="forward turns to this provider base URL (e.g. https://api.openai.com/v1)",
    )
    model.add_argument(
        "--upstream-dialect",
        metavar="NAME",
        default="openai-chat",
        help="the upstream's wire format (default: openai-chat)",
    )
    model.add_argument(
        "--upstream-key-env",
        metavar="NAME",
        default=None,
        help="environment variable holding the upstream key (default: "
        "$NBCHAT_UPSTREAM_API_KEY, then the provider's usual one, e.g. $OPENAI_API_KEY)",
    )
    model.add_argument(
        "--no-upstream-key",
        action="store_true",
        help="the upstream needs no key (Ollama, vLLM on a private network)",
    )
    model.add_argument("--model", metavar="NAME", help="the upstream model (with --upstream)")
    access = serve.add_argument_group("access and limits")
    access.add_argument(
        "--token",
        default=None,
        help=f"require 'Authorization: Bearer TOKEN' (default: ${TOKEN_ENV}; prefer the "
        "variable: a command line is visible to other users of the machine)",
    )
    access.add_argument(
        "--users",
        metavar="FILE",
        help="per-user tokens, one 'name:token' per line; each user sees only their sessions",
    )
    access.add_argument(
        "--max-body",
        type=_count,
        default=1024 * 1024,
        metavar="BYTES",
        help="largest request body, 0 = no limit (default: 1048576)",
    )
    access.add_argument(
        "--max-concurrent",
        type=_count,
        default=4,
        metavar="N",
        help="replies in progress per token (all clients share one without tokens), "
        "0 = no limit (default: 4)",
    )
    access.add_argument(
        "--grace",
        type=_non_negative_float,
        default=30.0,
        metavar="SECONDS",
        help="how long a reply goes on after its client disconnected, so it can "
        "resume (default: 30)",
    )
    access.add_argument(
        "--cors",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="let scripts on web pages from ORIGIN (e.g. http://localhost:3000, or '*') "
        "call the server from a browser; repeat for more origins (default: none)",
    )
    access.add_argument(
        "--db",
        metavar="PATH",
        default=None,
        help="sessions database, ':memory:' to keep nothing "
        "(default: server.sqlite3 in the nbchat data folder)",
    )
    return parser


def _users(args: argparse.Namespace) -> dict[str, str]:
    """``{name: token}`` from --users and --token / $NBCHAT_SERVER_TOKEN."""
    from nbchat.errors import ConfigurationError
    from nbchat.server.access import TOKEN_USER, load_users

    users = load_users(args.users) if args.users else {}
    token = args.token if args.token is not None else os.environ.get(TOKEN_ENV, "").strip()
    if token:
        if TOKEN_USER in users:
            raise ConfigurationError(
                f"the users file already has a user named {TOKEN_USER!r}, the name --token uses"
            )
        users[TOKEN_USER] = token
    return users


def _model(args: argparse.Namespace) -> UpstreamModel | None:
    """The gateway model for --upstream, or None for the demo."""
    from nbchat.errors import ConfigurationError
    from nbchat.server.upstream import UpstreamModel

    if not args.upstream:
        if args.model:
            raise ConfigurationError("--model names the upstream model: use it with --upstream")
        return None
    if not args.model:
        raise ConfigurationError("--upstream needs --model NAME (the provider's model name)")
    return UpstreamModel(
        args.upstream,
        model=args.model,
        dialect=args.upstream_dialect,
        key_env=args.upstream_key_env,
        require_key=not args.no_upstream_key,
    )


def _access_log(level: str) -> logging.Handler:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("nbchat.server")
    logger.addHandler(handler)
    logger.setLevel(level.upper())
    logger.propagate = False
    return handler


def _serve(args: argparse.Namespace) -> int:
    # Imported here so `nbchat --version` stays fast and needs no server stack.
    from nbchat.errors import ConfigurationError, NbchatError
    from nbchat.history import data_dir
    from nbchat.server.app import create_app
    from nbchat.server.embedded import demo_tokens_per_second
    from nbchat.server.model import ChatModel
    from nbchat.server.thread import bind_socket, format_url, serve_foreground

    host: str = args.host
    try:
        users = _users(args)
        model = _model(args)
        tps = args.tps if args.tps is not None else demo_tokens_per_second()
    except ConfigurationError as exc:
        print(f"nbchat serve: {exc}", file=sys.stderr)
        return 2
    if not is_loopback(host) and not users and not args.allow_remote:
        print(
            f"nbchat serve: refusing to listen on {host}: without --token or --users the "
            "server has no authentication, so anyone who can reach that address could "
            "use it.\nUse --host 127.0.0.1, add --token/--users, or add --allow-remote "
            "if you really mean it.",
            file=sys.stderr,
        )
        return 2
    db = args.db if args.db is not None else str(data_dir() / "server.sqlite3")
    try:
        app = create_app(
            model,
            tokens_per_second=tps,
            db=db,
            users=users,
            max_body=args.max_body or None,
            max_concurrent=args.max_concurrent or None,
            grace=args.grace,
            cors_origins=args.cors,
        )
    except ConfigurationError as exc:
        print(f"nbchat serve: {exc}", file=sys.stderr)
        return 2
    except NbchatError as exc:  # the database cannot be opened
        print(f"nbchat serve: {exc}", file=sys.stderr)
        return 1
    try:
        sock = bind_socket(host, args.port)
    except ConfigurationError as exc:
        print(f"nbchat serve: {exc}", file=sys.stderr)
        return 1
    # Listen before announcing the URL: early clients queue instead of being refused.
    sock.listen(128)
    port = sock.getsockname()[1]
    url = format_url(host, port)
    served: ChatModel = app.state.model
    print(f"nbchat server running at {url} (Ctrl-C to stop)", flush=True)
    print(f"Model: {served.name} ({served.description})", flush=True)
    print(f'Base URL: {url}/v1  ->  nbchat.Chat(base_url="{url}/v1")', flush=True)
    print(f"Sessions: {url}/sessions, stored in {db}", flush=True)
    if users:
        names = ", ".join(sorted(users))
        print(f"Auth: on, bearer tokens required ({len(users)} users: {names})", flush=True)
        if not is_loopback(host):
            print("Note: tokens travel in clear text over http; put TLS in front.", flush=True)
    else:
        print("Auth: off (no token required)", flush=True)
    if args.cors:
        print(f"Browser pages allowed (CORS): {', '.join(args.cors)}", flush=True)
    if model is not None:
        try:
            model.check()
        except NbchatError as exc:
            print(f"Warning: {exc} Chat requests will fail until it is set.", file=sys.stderr)
    handler = _access_log(args.log_level)
    try:
        serve_foreground(app, sock, log_level=args.log_level)
    except KeyboardInterrupt:
        # uvicorn shuts down gracefully on Ctrl-C, then re-raises the signal it
        # captured; that KeyboardInterrupt is the normal way out, not an error.
        pass
    finally:
        sock.close()
        logging.getLogger("nbchat.server").removeHandler(handler)
    print("nbchat server stopped.", flush=True)
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
