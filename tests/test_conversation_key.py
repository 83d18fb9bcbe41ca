"""Which conversation a Chat is by default: its notebook and its cell."""

from __future__ import annotations

from typing import Any

import pytest

import nbchat.chat as chat_module
from nbchat.chat import current_cell_id, notebook_conversation_name, notebook_path


class FakeKernel:
    def __init__(self, parent: dict[str, Any]) -> None:
        self.parent = parent

    def get_parent(self, channel: str = "shell") -> dict[str, Any]:
        assert channel == "shell"
        return self.parent


class FakeShell:
    def __init__(self, user_ns: dict[str, Any], parent: dict[str, Any] | None = None) -> None:
        self.user_ns = user_ns
        self.kernel = FakeKernel(parent or {})


def execute(cell: str | None, **extra: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = {"cellId": cell} if cell else {}
    metadata.update(extra)
    return {"header": {"msg_type": "execute_request"}, "metadata": metadata}


@pytest.fixture
def shell(monkeypatch: pytest.MonkeyPatch) -> FakeShell:
    fake = FakeShell({"__session__": "/home/a/work/analysis.ipynb"})
    import IPython

    monkeypatch.setattr(IPython, "get_ipython", lambda: fake)
    return fake


def test_two_cells_are_two_conversations_and_a_rerun_is_the_same(shell: FakeShell) -> None:
    shell.kernel.parent = execute("c-1")
    first = notebook_conversation_name()
    shell.kernel.parent = execute("c-2")
    second = notebook_conversation_name()
    assert first == "/home/a/work/analysis.ipynb#cell=c-1"
    assert second == "/home/a/work/analysis.ipynb#cell=c-2"
    shell.kernel.parent = execute("c-1")  # the same cell again, in a new kernel too
    assert notebook_conversation_name() == first


def test_vs_code_file_and_colab_cell_ids_count(shell: FakeShell) -> None:
    shell.user_ns["__vsc_ipynb_file__"] = "/code/nb.ipynb"
    shell.kernel.parent = execute(None, colab={"cell_id": "xyz"})
    assert notebook_conversation_name() == "/code/nb.ipynb#cell=xyz"


def test_without_a_cell_id_the_notebook_is_the_key(shell: FakeShell) -> None:
    shell.kernel.parent = execute(None)  # nbclient, papermill
    assert notebook_conversation_name() == "/home/a/work/analysis.ipynb"
    # a comm message (a click) is not a cell
    shell.kernel.parent = {"header": {"msg_type": "comm_msg"}, "metadata": {}}
    assert current_cell_id() is None


def test_a_script_is_keyed_by_its_file(monkeypatch: pytest.MonkeyPatch) -> None:
    import IPython

    monkeypatch.setattr(IPython, "get_ipython", lambda: None)
    assert notebook_path().endswith(("pytest", "__main__.py", "py.test"))
    monkeypatch.setattr(chat_module.sys.modules["__main__"], "__file__", None, raising=False)
    assert notebook_path() == "default"
