"""The layer rules of DESIGN.md, checked on the source: imports only go down, no cycles."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbchat

PACKAGE = Path(nbchat.__file__).parent
DEVELOP = PACKAGE.parent / "DEVELOP.md"


def read_layers() -> dict[str, int]:
    """The layer table of DEVELOP.md: module (or package) name -> layer number."""
    layers: dict[str, int] = {}
    for row in DEVELOP.read_text().splitlines():
        found = re.match(r"\| L(\d) [^|]*\| (.*)\|\s*$", row)
        if found:
            for name in re.findall(r"`([\w.]+)`", re.sub(r"\([^()]*\)", "", found.group(2))):
                layers[name] = int(found.group(1))
    return layers


LAYERS = read_layers()

#: third-party modules only some nbchat modules may import (at run time)
OWNERS: dict[str, set[str]] = {
    "httpx": {"stream.http"},
    "httpx_sse": {"stream.http"},
    "sqlite3": {"history", "server"},
    "anywidget": {"widget", "bar_widget"},
    "traitlets": {"widget", "bar_widget"},
    "IPython": {"chat", "bar_widget", "loop_bar", "magic"},
    "ipykernel": {"chat"},
    "starlette": {"server"},
    "sse_starlette": {"server"},
    "uvicorn": {"server", "cli"},
    "pydantic": {"tool_schema"},
    "docstring_parser": {"tool_schema"},
}


def name_of(path: Path) -> str:
    """``nbchat/stream/http.py`` -> ``stream.http``; a package's ``__init__`` is the package."""
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def within(module: str, name: str) -> bool:
    return module == name or module.startswith(name + ".")


def layer_of(module: str) -> int | None:
    """The layer of the most specific table entry that covers ``module``."""
    covering = [name for name in LAYERS if within(module, name)]
    return LAYERS[max(covering, key=len)] if covering else None


def runtime_imports(tree: ast.Module) -> list[str]:
    """Imported module names, leaving out ``if TYPE_CHECKING:`` blocks."""
    names: list[str] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return names


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "static" not in p.parts)


def test_the_table_is_read() -> None:
    assert LAYERS["errors"] == 0 and LAYERS["stream.sse"] == 1 and LAYERS["stream"] == 2
    assert LAYERS["controller"] == 3 and LAYERS["widget"] == 4 and LAYERS["__init__"] == 5


def test_every_module_has_a_layer() -> None:
    assert [name_of(p) for p in modules() if layer_of(name_of(p)) is None] == []


def test_imports_go_down_only() -> None:
    bad = []
    for path in modules():
        mine = name_of(path)
        level = layer_of(mine)
        assert level is not None
        for name in runtime_imports(ast.parse(path.read_text())):
            parts = name.split(".")
            if parts[0] == "nbchat" and len(parts) > 1:
                other = layer_of(".".join(parts[1:]))
                if other is None or other > level:
                    bad.append(f"{path.relative_to(PACKAGE)} imports {name}")
            owners = OWNERS.get(parts[0])
            if owners is not None and not any(within(mine, owner) for owner in owners):
                bad.append(f"{path.relative_to(PACKAGE)} imports {name} (only {owners})")
    assert bad == []


def test_every_module_uses_future_annotations() -> None:
    missing = [
        str(p.relative_to(PACKAGE))
        for p in modules()
        if p.read_text().strip() and "from __future__ import annotations" not in p.read_text()
    ]
    assert missing == []
