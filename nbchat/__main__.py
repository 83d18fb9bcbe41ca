"""``python -m nbchat``: the command-line interface (see :mod:`nbchat.cli`)."""

from __future__ import annotations

from nbchat.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
