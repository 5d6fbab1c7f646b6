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
  ``cfemu`` itself never touches ``sys.modules["workers"]``.
"""

from __future__ import annotations

import importlib
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from types import ModuleType
from typing import TYPE_CHECKING

from cfemu.clock import Clock, RealClock
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
    "import_scope",
    "require_state",
]


@dataclass(frozen=True, slots=True)
class DispatchState:
    """The Worker whose code is running in this context."""

    worker_name: str
    env: Env
    clock: Clock
    ctx: ExecutionContext | None = None
    outbound: httpx.AsyncBaseTransport | None = None

    def with_env(self, env: Env) -> DispatchState:
        """A copy with another ``env`` (for ``workers.patch_env``)."""
        return replace(self, env=env)


#: The Worker being imported or dispatched to in this context, if any.
current: ContextVar[DispatchState | None] = ContextVar("cfemu_worker", default=None)

_REAL_CLOCK = RealClock()


def current_clock() -> Clock:
    """The running Worker's clock, or the real clock outside any Worker."""
    state = current.get()
    return state.clock if state is not None else _REAL_CLOCK


#: ``sys.modules`` name -> the cfemu module installed under it while the scope is active.
_ALIASES = {
    "workers": "cfemu.runtime.workers_module",
    "workers.asgi": "cfemu.runtime.workers_module.asgi",
}


class ImportScope:
    """Reference-counted installation of the ``workers`` stand-in (and Worker folders).

    :meth:`active` may be entered by many tasks at once (concurrent requests, ``waitUntil``
    work): the first entry installs, the last exit restores ``sys.modules`` exactly as it
    was. Folders passed to :meth:`active` are put at the front of ``sys.path`` the same way,
    so a Worker's sibling modules import as they do on Cloudflare.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._saved: dict[str, ModuleType | None] = {}
        self._paths: Counter[str] = Counter()
        self._inserted: set[str] = set()
        self._modules: dict[str, ModuleType] | None = None

    @property
    def depth(self) -> int:
        """How many entries into :meth:`active` are open right now."""
        return self._depth

    def _stand_ins(self) -> dict[str, ModuleType]:
        if self._modules is None:
            self._modules = {
                alias: importlib.import_module(target) for alias, target in _ALIASES.items()
            }
        return self._modules

    def _enter(self, paths: tuple[str, ...]) -> None:
        modules = self._stand_ins()
        with self._lock:
            if self._depth == 0:
                for name, module in modules.items():
                    self._saved[name] = sys.modules.get(name)
                    sys.modules[name] = module
            self._depth += 1
            for path in paths:
                if self._paths[path] == 0 and path not in sys.path:
                    sys.path.insert(0, path)
                    self._inserted.add(path)
                self._paths[path] += 1

    def _exit(self, paths: tuple[str, ...]) -> None:
        with self._lock:
            for path in paths:
                self._paths[path] -= 1
                if self._paths[path] <= 0:
                    del self._paths[path]
                    if path in self._inserted:
                        self._inserted.discard(path)
                        if path in sys.path:
                            sys.path.remove(path)
            self._depth -= 1
            if self._depth == 0:
                for name, previous in self._saved.items():
                    if previous is None:
                        sys.modules.pop(name, None)
                    else:
                        sys.modules[name] = previous
                self._saved.clear()

    @contextmanager
    def active(self, paths: tuple[str, ...] = ()) -> Iterator[None]:
        """Within this block, ``import workers`` is cfemu's stand-in."""
        self._enter(paths)
        try:
            yield
        finally:
            self._exit(paths)


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
