"""The public surface of ``cfemu`` is curated: a sorted ``__all__`` of documented names."""

from __future__ import annotations

import inspect

import cfemu


def test_all_is_sorted_and_unique() -> None:
    names = [n for n in cfemu.__all__ if n != "__version__"]
    assert names == sorted(names)
    assert len(set(cfemu.__all__)) == len(cfemu.__all__)


def test_every_exported_name_exists_and_is_documented() -> None:
    for name in cfemu.__all__:
        obj = getattr(cfemu, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert inspect.getdoc(obj), f"cfemu.{name} has no docstring"


def test_no_private_module_is_exported() -> None:
    for name in cfemu.__all__:
        assert not name.startswith("_") or name == "__version__"
