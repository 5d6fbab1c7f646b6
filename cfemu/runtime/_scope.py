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
* :class:`~cfemu.runtime._modules.ModuleSpace` keeps each Worker's own modules apart from
  other Workers' modules of the same name (:mod:`cfemu.runtime._modules`).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import operator
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from types import ModuleType
from typing import TYPE_CHECKING

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
    "current",
    "current_clock",
    "current_compat",
    "import_scope",
    "require_state",
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
