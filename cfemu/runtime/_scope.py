"""Where a Worker's code runs: the current dispatch, and the ``workers`` import scope.

Two pieces of state make ``from workers import ...`` behave inside cfemu as on Cloudflare:

* :data:`current` is a context variable holding the Worker being dispatched to (its env,
  ctx, clock). It is set while cfemu imports a Worker module and while it runs an event, and
  asyncio copies it into every task started meanwhile (``waitUntil`` work included). The
  lazily resolved names ``workers.env``/``workers.waitUntil`` read it.
* :data:`import_scope` puts cfemu's stand-in module in ``sys.modules["workers"]`` while at
  least one Worker is being imported or is handling an event, and puts back whatever was
  there before (nothing, or Cloudflare's own SDK) once none is. A Worker module that did
  ``from workers import Response`` at import time keeps those references for its lifetime;
  a handler that runs ``import workers`` lazily runs inside the scope too. Importing
  ``cfemu`` itself never touches ``sys.modules["workers"]``. With
  :attr:`ImportScope.allow_resident` (``cfemu dev``), a sole Worker stays installed between
  its invocations until another Worker enters or the host claims one of the names.
* :class:`ModuleSpace` keeps each Worker's own modules (``utils.py`` beside ``entry.py``)
  apart from other Workers' modules of the same name. On Cloudflare every Worker has its
  own interpreter; in one CPython process, ``sys.modules["utils"]`` would be shared. So a
  Worker's sibling modules live in ``sys.modules`` only while its code runs: during its
  import and during each step of its handlers and ``waitUntil`` work (:func:`run_in`).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import operator
import os
import sys
import threading
import types
from collections import deque
from collections.abc import Callable, Coroutine, Generator, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from cfemu.clock import Clock, RealClock
from cfemu.compat import Compat, resolve
from cfemu.errors import WorkerError

if TYPE_CHECKING:
    import httpx

    from cfemu.runtime.context import ExecutionContext
    from cfemu.runtime.env import Env

__all__ = [
    "DispatchState",
    "ImportScope",
    "ModuleSpace",
    "current",
    "current_clock",
    "current_compat",
    "ensure_finder",
    "import_scope",
    "require_state",
    "run_in",
]


#: The compatibility of a Worker loaded without a config: the newest date.
_NEWEST = resolve(None)


# Not frozen: a frozen dataclass sets each field through object.__setattr__, which made
# building one per request several times dearer; nothing assigns to one (copy it with
# with_env), and unsafe_hash keeps the frozen class's hash.
@dataclass(slots=True, unsafe_hash=True)
class DispatchState:
    """The Worker whose code is running in this context (treat as immutable)."""

    worker_name: str
    env: Env
    clock: Clock
    ctx: ExecutionContext | None = None
    outbound: httpx.AsyncBaseTransport | None = None
    compat: Compat = _NEWEST

    def with_env(self, env: Env) -> DispatchState:
        """A copy with another ``env`` (for ``workers.patch_env``)."""
        return replace(self, env=env)


#: The Worker being imported or dispatched to in this context, if any.
current: ContextVar[DispatchState | None] = ContextVar("cfemu_worker", default=None)

#: Called before a message leaves the running code (an outbound ``fetch``): a Durable
#: Object sets its output gate here, so its writes are durable before anything is sent.
before_send: ContextVar[Callable[[], None] | None] = ContextVar("cfemu_before_send", default=None)

_REAL_CLOCK = RealClock()


def current_clock() -> Clock:
    """The running Worker's clock, or the real clock outside any Worker."""
    state = current.get()
    return state.clock if state is not None else _REAL_CLOCK


def current_compat() -> Compat:
    """The running Worker's compatibility date and flags (the newest outside any Worker).

    For the Pyodide-side stand-ins: ``current_compat().js_null_is_none`` tells whether JS
    ``null`` reaches this Worker as ``None`` (Pyodide 0.26) or as ``jsnull``.
    """
    state = current.get()
    return state.compat if state is not None else _NEWEST


#: ``sys.modules`` name -> the cfemu module installed under it while the scope is active.
_ALIASES = {
    "workers": "cfemu.runtime.workers_module",
    "workers.asgi": "cfemu.runtime.workers_module.asgi",
    "workers.wsgi": "cfemu.runtime.workers_module.wsgi",
    "workers.rpc": "cfemu.runtime.workers_module.rpc",
    "workers.workflows": "cfemu.runtime.workers_module.workflows",
    "workers.gateway": "cfemu.runtime.workers_module.gateway",
    # Cloudflare's runtime also ships a top-level ``asgi`` (the same module as workers.asgi).
    "asgi": "cfemu.runtime.workers_module.asgi",
    # Pyodide's modules (spec: python-runtime.md §3-4).
    "js": "cfemu.runtime.js_module",
    "pyodide": "cfemu.runtime.pyodide_module",
    "pyodide.ffi": "cfemu.runtime.pyodide_module.ffi",
    "pyodide.http": "cfemu.runtime.pyodide_module.http",
    "pyodide.code": "cfemu.runtime.pyodide_module.code",
    # workerd's module of the Worker's compatibility flags (spec: python-runtime.md §7).
    "_cloudflare_compat_flags": "cfemu.runtime.compat_flags_module",
}


#: Runs an iterator to its end in C (a deque that keeps nothing).
_consume: Callable[[Iterable[object]], None] = deque[object](maxlen=0).extend


def _on_sys_path(paths: tuple[str, ...]) -> bool:
    """Whether every one of ``paths`` is on ``sys.path`` (a Worker's one folder is usually
    still first, where :class:`ImportScope` put it: checked without a scan)."""
    path = sys.path
    if len(paths) == 1 and path and path[0] is paths[0]:
        return True
    return all(map(path.__contains__, paths))


class ImportScope:
    """Reference-counted installation of the stand-in modules (``workers``, ``js``,
    ``pyodide``, ``asgi``...) and of Worker folders.

    :meth:`active` may be entered by many tasks at once (concurrent requests, ``waitUntil``
    work): the first entry installs, the last exit restores ``sys.modules`` exactly as it
    was. Folders passed to :meth:`active` are put at the front of ``sys.path`` the same way,
    so a Worker's sibling modules import as they do on Cloudflare.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        # What sys.modules held under each alias before the first entry (``None``: nothing),
        # in the order of ``_names``.
        self._saved: list[ModuleType | None] = []
        self._paths: dict[str, int] = {}
        self._inserted: set[str] = set()
        self._modules: dict[str, ModuleType] | None = None
        self._names: tuple[str, ...] = ()
        self._nones: tuple[None, ...] = ()  # a None per name: pop's default
        self._values: tuple[ModuleType, ...] = ()  # the stand-ins, in the order of _names
        self._lookup: Callable[[dict[str, ModuleType]], object] = operator.itemgetter("workers")
        #: Whether the last exit may leave the sole tenant installed (see :attr:`resident`).
        #: ``cfemu dev`` turns it on; a library user (a test process) keeps it off, so that
        #: ``sys.modules`` is exactly as before whenever no Worker code runs.
        self.allow_resident = False
        self._resident: tuple[str, ...] | None = None

    @property
    def depth(self) -> int:
        """How many entries into :meth:`active` are open right now."""
        return self._depth

    @property
    def resident(self) -> tuple[str, ...] | None:
        """The folders of the sole tenant left installed while no entry is open, or ``None``.

        With :attr:`allow_resident`, the last exit leaves the stand-ins and its ``paths`` in
        place when nothing of the host's was under the stand-ins' names and every open entry
        used the same ``paths`` (one Worker: the sole tenant). The next entry with the same
        ``paths`` then costs a check instead of an installation; an entry with other
        ``paths`` (a second Worker), or after the host changed one of the names, first puts
        ``sys.modules`` and ``sys.path`` back as they were (:meth:`release`).
        """
        return self._resident

    def release(self) -> None:
        """Put back what the resident tenant left installed (nothing if there is none)."""
        with self._lock:
            if self._depth == 0 and self._resident is not None:
                self._evict()

    def _evict(self) -> None:
        # Called with the lock held and no entry open: undo the lingering first entry.
        resident, self._resident = self._resident or (), None
        installed = sys.modules
        for name, module in zip(self._names, self._values, strict=True):
            if installed.get(name) is module:  # the host may have put its own there since
                del installed[name]
        self._drop_paths(resident)

    def _drop_paths(self, paths: tuple[str, ...]) -> None:
        counts = self._paths
        for path in paths:
            count = counts.get(path, 0) - 1
            if count > 0:
                counts[path] = count
                continue
            counts.pop(path, None)
            if path in self._inserted:
                self._inserted.discard(path)
                if path in sys.path:
                    sys.path.remove(path)

    def _stand_ins(self) -> dict[str, ModuleType]:
        if self._modules is None:
            self._modules = {
                alias: importlib.import_module(target) for alias, target in _ALIASES.items()
            }
            self._names = tuple(self._modules)
            self._nones = (None,) * len(self._names)
            self._values = tuple(self._modules.values())
            self._lookup = operator.itemgetter(*self._names)
        return self._modules

    def enter(self, paths: tuple[str, ...] = ()) -> None:
        """The first half of :meth:`active` (for hot paths: no generator per call); every
        :meth:`enter` must be followed by an :meth:`exit` with the same ``paths``."""
        modules = self._modules if self._modules is not None else self._stand_ins()
        lock = self._lock
        lock.acquire()  # not `with`: half the cost, on every invocation
        try:
            if self._depth == 0 and self._resident is not None:
                try:  # one C-level look-up of the 13 names (KeyError: one was removed)
                    intact = self._lookup(sys.modules) == self._values
                except KeyError:
                    intact = False
                if intact and self._resident == paths and _on_sys_path(paths):
                    self._depth = 1  # the sole tenant again: everything is still in place
                    self._resident = None
                    return
                self._evict()
            if self._depth == 0:
                installed = sys.modules
                # Usually none of the names is there: one C-level check, nothing to save.
                if installed.keys().isdisjoint(self._names):
                    self._saved = []
                else:
                    self._saved = list(map(installed.get, self._names))
                installed.update(modules)
            self._depth += 1
            counts = self._paths
            for path in paths:
                count = counts.get(path, 0)
                if count == 0 and path not in sys.path:
                    sys.path.insert(0, path)
                    self._inserted.add(path)
                counts[path] = count + 1
        finally:
            lock.release()

    def exit(self, paths: tuple[str, ...] = ()) -> None:
        """The second half of :meth:`active`: the last exit restores ``sys.modules``."""
        lock = self._lock
        lock.acquire()
        try:
            if (
                self._depth == 1
                and self.allow_resident
                and not self._saved  # the host had nothing under the stand-ins' names
                # At depth 1 only this entry's paths are counted, each once unless ``paths``
                # repeats one (then there are fewer keys than paths).
                and len(self._paths) == len(paths)
            ):
                self._depth = 0  # the sole tenant stays installed until another enters
                self._resident = paths
                return
            self._drop_paths(paths)
            self._depth -= 1
            if self._depth == 0:
                installed = sys.modules
                saved = self._saved
                if not saved:  # the usual case: nothing was there
                    _consume(map(installed.pop, self._names, self._nones))
                else:
                    for name, previous in zip(self._names, saved, strict=True):
                        if previous is None:
                            installed.pop(name, None)
                        else:
                            installed[name] = previous
                self._saved = []
        finally:
            lock.release()

    @contextmanager
    def active(self, paths: tuple[str, ...] = ()) -> Iterator[None]:
        """Within this block, ``import workers`` is cfemu's stand-in."""
        self.enter(paths)
        try:
            yield
        finally:
            self.exit(paths)


#: The process-wide scope every Worker uses.
import_scope = ImportScope()


def require_state(what: str) -> DispatchState:
    """The current dispatch, or a clear error naming ``what`` needs one."""
    state = current.get()
    if state is None:
        raise WorkerError(
            f"{what} is only available while cfemu runs a Worker (while it imports the "
            "Worker module or handles an event)"
        )
    return state


# --- per-Worker modules -------------------------------------------------------------------
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
