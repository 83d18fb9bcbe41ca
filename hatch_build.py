"""Hatch build hook: refuse to build a wheel without the JS bundle.

The bundle is made by ``make bundle`` (esbuild); shipping a wheel without it would
give users a widget that cannot render, so the build fails with the fix named.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class BundleCheckHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or version == "editable":
            return
        for name in ("widget.js", "bar.js"):
            bundle = Path(self.root) / "nbchat" / "static" / name
            if not bundle.is_file():
                raise RuntimeError(f"{bundle} is missing: run `make bundle` (needs Node.js) first")
