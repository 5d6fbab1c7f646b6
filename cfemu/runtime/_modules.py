"""Each Worker's own modules: ``utils.py`` beside ``entry.py`` kept apart from other
Workers' modules of the same name.

On Cloudflare every Worker has its own interpreter; in one CPython process,
``sys.modules["utils"]`` would be shared. So a Worker's sibling modules live in
``sys.modules`` only while its code runs: during its import and during each step of its
handlers and ``waitUntil`` work (:func:`run_in`). The stand-in modules (``workers``,
``js``...) are :mod:`cfemu.runtime._scope`'s business.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import os
import sys
import types
from collections.abc import Coroutine, Generator, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

__all__ = ["ModuleSpace", "ensure_finder", "run_in"]


def _own_module_names(folder: Path) -> frozenset[str]:
    """Top-level modules a Worker's folder defines: ``x.py`` files and ``x/__init__.py``
    packages. Standard-library names and ``workers`` are left to the process."""
    names: set[str] = set()
    try:
        entries = list(folder.iterdir())
    except OSError:
        return frozenset()
    for entry in entries:
        if entry.suffix == ".py" and entry.is_file():
            name = entry.stem
        elif entry.is_dir() and (entry / "__init__.py").is_file():
            name = entry.name
        else:
            continue
        if name.isidentifier() and name not in sys.stdlib_module_names and name != "workers":
            names.add(name)
    return frozenset(names)


class ModuleSpace:
    """One Worker's own top-level modules, kept out of ``sys.modules`` between its steps.

    Within :meth:`installed`, ``sys.modules`` holds this Worker's modules under their plain
    names (``utils``, ``utils.db``), a name it has not imported yet resolves to its folder
    first, and whatever another Worker or the process had under those names is put back
    afterwards. ``main`` (``entry`` for ``entry.py``) is the Worker's main module, so a
    sibling's ``import entry`` gets the loaded module, not a second copy.
    """

    __slots__ = ("_absent", "_keys", "_known", "folder", "modules", "names")

    def __init__(self, folder: Path | None) -> None:
        self.folder = str(folder) if folder is not None else None
        self.names = _own_module_names(folder) if folder is not None else frozenset()
        #: This Worker's modules by ``sys.modules`` name, collected as it imports them.
        self.modules: dict[str, ModuleType] = {}
        # Derived from ``names`` and ``modules`` (rebuilt when ``modules`` changes size):
        # every key installing touches, and the names it must clear (no module of ours yet).
        self._known = -1
        self._keys: tuple[str, ...] = ()
        self._absent: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.names)

    def _owns(self, key: str) -> bool:
        return key.partition(".")[0] in self.names

    def _from_folder(self, module: ModuleType) -> bool:
        origin = getattr(module, "__file__", None)
        if not isinstance(origin, str) or self.folder is None:
            return False
        folder = os.path.dirname(origin)
        return folder == self.folder or folder.startswith(self.folder + os.sep)

    def install(self) -> tuple[ModuleSpace | None, dict[str, ModuleType | None], int]:
        """The first half of :meth:`installed` (for hot paths: no generator per step): put
        this Worker's modules in ``sys.modules``; returns what :meth:`restore` needs."""
        global _active_space
        own = self.modules
        if self._known != len(own):
            self._keys = tuple(self.names | own.keys())
            self._absent = tuple(self.names - own.keys())
            self._known = len(own)
        modules = sys.modules
        get = modules.get
        saved = {key: get(key) for key in self._keys}
        pop = modules.pop
        for key in self._absent:
            pop(key, None)
        modules.update(own)
        outer, _active_space = _active_space, self
        return outer, saved, len(modules)

    def restore(self, token: tuple[ModuleSpace | None, dict[str, ModuleType | None], int]) -> None:
        """The second half of :meth:`installed`: keep what this Worker imported meanwhile,
        and put back whatever ``sys.modules`` held under its names before."""
        global _active_space
        outer, saved, size = token
        _active_space = outer
        modules = sys.modules
        if len(modules) != size:  # something was imported: collect what is ours
            for key in [k for k in modules if self._owns(k) and k not in saved]:
                if self._from_folder(modules[key]):
                    saved[key] = None
        own = self.modules
        for key, previous in saved.items():
            module = modules.get(key)
            if (
                module is not None
                and module is not previous
                and module is not own.get(key)  # already known to be ours
                and self._from_folder(module)
            ):
                own[key] = module
            if previous is None:
                modules.pop(key, None)
            else:
                modules[key] = previous

    @contextmanager
    def installed(self) -> Iterator[None]:
        """Within this block, this Worker's module names mean its own modules."""
        if not self.names:
            yield
            return
        token = self.install()
        try:
            yield
        finally:
            self.restore(token)


#: The Worker whose step is running right now (synchronously), if its folder has modules.
_active_space: ModuleSpace | None = None


class _OwnModuleFinder(importlib.abc.MetaPathFinder):
    """Finds the running Worker's own top-level modules in its folder before ``sys.path``
    (where another Worker's folder may come first)."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        space = _active_space
        if space is None or path is not None or fullname not in space.names:
            return None
        return importlib.machinery.PathFinder.find_spec(fullname, [space.folder or "."], target)


_FINDER = _OwnModuleFinder()


def ensure_finder() -> None:
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)


@types.coroutine
def _stepped(space: ModuleSpace, coro: Coroutine[Any, Any, Any]) -> Generator[Any, Any, Any]:
    send: Any = coro.send
    value: Any = None
    error: BaseException | None = None
    install, restore = space.install, space.restore
    while True:
        token = install()
        try:
            yielded = send(value) if error is None else coro.throw(error)
        except StopIteration as stop:
            return stop.value
        finally:
            restore(token)
        try:
            value, error = (yield yielded), None
        except GeneratorExit:
            with space.installed():
                coro.close()
            raise
        except BaseException as exc:
            value, error = None, exc


async def run_in(space: ModuleSpace | None, coro: Coroutine[Any, Any, Any]) -> Any:
    """Await ``coro`` with ``space`` installed during each of its steps.

    Two Workers' events interleave at every ``await``; installing the space per step means
    a lazy ``import utils`` inside a handler always gets the running Worker's ``utils``.
    """
    if not space:
        return await coro
    ensure_finder()
    return await _stepped(space, coro)
