"""The public face: a curated, sorted ``__all__`` that names everything users need."""

from __future__ import annotations

import pkgutil

import nbchat
import nbchat.dialects
import nbchat.errors
import nbchat.events
import nbchat.stream


def test_all_is_sorted_and_importable() -> None:
    assert nbchat.__all__ == sorted(nbchat.__all__, key=str.casefold) or nbchat.__all__ == sorted(
        nbchat.__all__
    )
    for name in nbchat.__all__:
        assert hasattr(nbchat, name), name


def test_public_names_live_in_nbchat() -> None:
    public = {name for name in dir(nbchat) if not name.startswith("_")}
    # Submodules show up as attributes once imported: they are not exports.
    modules = {info.name for info in pkgutil.iter_modules(nbchat.__path__)}
    assert public - modules - {"annotations"} == set(nbchat.__all__) - {"__version__"}


def test_public_submodules_export_what_they_name() -> None:
    for module in (nbchat.dialects, nbchat.events, nbchat.stream, nbchat.errors):
        exported = getattr(module, "__all__", None)
        if exported is None:
            continue
        for name in exported:
            assert hasattr(module, name), f"{module.__name__}.{name}"
