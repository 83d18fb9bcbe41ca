"""The layer rules of DESIGN.md, checked on the source: imports only go down, no cycles."""

from __future__ import annotations

import ast
from pathlib import Path

import nbchat

PACKAGE = Path(nbchat.__file__).parent

LAYERS: dict[str, int] = {
    "errors": 0, "events": 0, "config": 0, "wire": 0, "providers": 0, "changes": 0,
    "sse": 1, "lines": 1, "parse": 1, "dialects": 1, "accumulate": 1, "metrics": 1, "batching": 1,
    "error_body": 1, "retry": 1,
    "transport": 2, "history": 2, "server": 2, "recording": 2,
    "message": 3, "turn": 3, "controller": 3, "session_client": 3, "reply_stream": 3,
    "endpoints": 3,
    "widget": 4, "chat": 4,
    "__init__": 5, "__main__": 5, "cli": 5, "testing": 5,
}  # fmt: skip

#: third-party modules only some nbchat modules may import (at run time)
OWNERS: dict[str, set[str]] = {
    "httpx": {"transport"},
    "httpx_sse": {"transport"},
    "sqlite3": {"history", "server"},
    "anywidget": {"widget"},
    "traitlets": {"widget"},
    "IPython": {"chat"},
    "ipykernel": {"chat"},
    "starlette": {"server"},
    "sse_starlette": {"server"},
    "uvicorn": {"server", "cli"},
}


def top(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py")


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


def test_every_module_has_a_layer() -> None:
    assert {top(p) for p in modules()} <= set(LAYERS)


def test_imports_go_down_only() -> None:
    bad = []
    for path in modules():
        mine = top(path)
        for name in runtime_imports(ast.parse(path.read_text())):
            parts = name.split(".")
            if parts[0] == "nbchat" and len(parts) > 1:
                other = parts[1]
                if LAYERS[other] > LAYERS[mine]:
                    bad.append(f"{path.relative_to(PACKAGE)} imports {name}")
            owners = OWNERS.get(parts[0])
            if owners is not None and mine not in owners:
                bad.append(f"{path.relative_to(PACKAGE)} imports {name} (only {owners})")
    assert bad == []


def test_every_module_uses_future_annotations() -> None:
    missing = [
        str(p.relative_to(PACKAGE))
        for p in modules()
        if p.read_text().strip() and "from __future__ import annotations" not in p.read_text()
    ]
    assert missing == []
