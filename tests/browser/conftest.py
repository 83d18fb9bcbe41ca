"""The page most browser tests use: headless Chromium on the module's ``lab`` server.

A module whose pages need more (permissions, dialog handlers) defines its own ``page``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import jupyter
from tests.browser.jupyter import JupyterLab

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"


@pytest.fixture
def page(lab: JupyterLab, tmp_path: Path) -> Iterator[Any]:
    with jupyter.chromium_page(tmp_path / "chromium-profile", ARTIFACTS / "last.png") as page:
        yield page
