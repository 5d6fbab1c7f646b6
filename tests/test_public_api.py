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


def _public_modules() -> list[str]:
    import pkgutil

    names = []
    for info in pkgutil.walk_packages(cfemu.__path__, "cfemu."):
        parts = info.name.split(".")[1:]
        if any(p.startswith("_") for p in parts) or info.name.startswith(
            "cfemu.runtime.workers_module"  # mirrors Cloudflare's SDK, documented there
        ):
            continue
        names.append(info.name)
    return names


def test_every_public_name_of_every_public_module_is_documented() -> None:
    import importlib

    missing = []
    for name in _public_modules():
        module = importlib.import_module(name)
        if not module.__doc__:
            missing.append(name)
        for export in getattr(module, "__all__", ()):
            obj = getattr(module, export)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            if not inspect.getdoc(obj):
                missing.append(f"{name}.{export}")
            if inspect.isclass(obj):
                for attr, value in vars(obj).items():
                    if attr.startswith("_") or not (
                        inspect.isfunction(value) or isinstance(value, property | classmethod)
                    ):
                        continue
                    if not inspect.getdoc(getattr(obj, attr)):
                        missing.append(f"{name}.{export}.{attr}")
    assert not missing, f"public names without a docstring: {missing}"
