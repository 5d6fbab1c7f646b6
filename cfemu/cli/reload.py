"""Reload on save for ``cfemu dev``: watch the Workers' modules and the config files.

A change to a Worker's Python files reloads just the Workers, in place: each keeps its
``env`` (so queues, D1, KV and every other binding keep their state, in memory too), new
requests and batches go to the new code, and work already running finishes on the old
one. A change to a config file (or ``.dev.vars``) may change bindings, so the emulator is
restarted cleanly instead (persisted state survives; ``--in-memory`` state starts afresh).
A change that does not load keeps the previous version serving and says why.

The watcher is ``watchfiles`` (Rust ``notify``: inotify/FSEvents/kqueue, no polling).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cfemu.cli._dev_app import DevApp

__all__ = ["changed_files", "reload_workers", "watched_roots"]

_SKIP_DIRS = frozenset({".cfemu", "__pycache__", ".venv", "venv", ".git", "node_modules"})


def watched_roots(emulator: Any) -> tuple[set[Path], set[Path]]:
    """(config files and ``.dev.vars``-style files, folders of the Workers' modules)."""
    configs: set[Path] = set()
    folders: set[Path] = set()
    for config in emulator.configs:
        configs.add(config.path)
        configs.update(config.secrets_files)
        for name in (".dev.vars", ".env"):
            configs.add(config.path.parent / name)
        if config.main_path is not None:
            folders.add(config.main_path.parent)
    return configs, folders


def _interesting(path: Path, configs: set[Path], folders: Iterable[Path]) -> bool:
    if path in configs or path.name.startswith(".dev.vars"):
        return True
    if path.suffix != ".py" or _SKIP_DIRS.intersection(path.parts):
        return False
    return any(path.is_relative_to(folder) for folder in folders)


class WatchSet:
    """What the watcher reports: the config files and Worker folders of the emulator being
    served, followed across restarts (:meth:`follow`)."""

    def __init__(self, emulator: Any) -> None:
        self.configs, self.folders = watched_roots(emulator)
        #: The folders the watcher watches: those of the emulator it was made for.
        self.roots = self._roots()

    def _roots(self) -> set[Path]:
        return {p.parent for p in self.configs} | self.folders

    def follow(self, emulator: Any) -> bool:
        """Report the files of ``emulator`` (restarted with a new config) from now on; True
        when they lie outside :attr:`roots`, so that the watcher must be made again."""
        self.configs, self.folders = watched_roots(emulator)
        return not all(
            any(path == root or path.is_relative_to(root) for root in self.roots)
            for path in self._roots()
        )


async def changed_files(
    watching: WatchSet, stop: asyncio.Event, *, debounce_ms: int = 150
) -> AsyncGenerator[tuple[set[Path], set[Path]], None]:
    """Each save, as (config files changed, Worker modules changed), until ``stop`` is set.

    One watcher for the whole run, restarts included: a save made while the previous one is
    being handled, or while the emulator restarts, is reported next, not missed (the
    watcher keeps collecting changes between two reads).
    """
    import watchfiles

    async for changes in watchfiles.awatch(
        *sorted(watching.roots),
        stop_event=stop,
        debounce=debounce_ms,
        step=20,
        recursive=True,
        watch_filter=lambda _change, raw: _interesting(
            Path(raw), watching.configs, watching.folders
        ),
    ):
        configs = watching.configs
        paths = {Path(raw) for _change, raw in changes}
        changed_configs = {p for p in paths if p in configs or p.name.startswith(".dev.vars")}
        modules = paths - changed_configs
        if changed_configs or modules:
            yield changed_configs, modules


class FileWatcher:
    """``cfemu dev``'s one watcher for the whole run (:func:`changed_files`), restarts
    included, and the task that reads it (:func:`watch_and_reload`) for the emulator served."""

    def __init__(self, stop: asyncio.Event) -> None:
        self._stop = stop
        self._watching: WatchSet | None = None
        self._saves: AsyncGenerator[tuple[set[Path], set[Path]], None] | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(
        self,
        emulator: Any,
        swap: DevApp,
        build_app: Callable[[], Any],
        say: Callable[[str], None],
        try_restart: Callable[[], Awaitable[bool]],
    ) -> asyncio.Task[None]:
        """Reload ``emulator``'s Workers on each save: a task, done when a config change
        calls for a restart (the watcher stays open: the saves made meanwhile come next)."""
        saves = self._saves
        if self._watching is None or saves is None or self._watching.follow(emulator):
            if saves is not None:
                await saves.aclose()  # the new config's files lie elsewhere
            self._watching = WatchSet(emulator)
            saves = self._saves = changed_files(self._watching, self._stop)
        self._task = asyncio.create_task(
            watch_and_reload(emulator, swap, build_app, self._stop, say, try_restart, saves)
        )
        return self._task

    async def close(self) -> None:
        """Stop reading (shutting down while it waits for a save) and close the watcher."""
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._saves is not None:
            await self._saves.aclose()


def reload_workers(emulator: Any) -> list[str]:
    """Load every Worker's module afresh, keeping its ``env``; swap them in together
    (idle Durable Objects are evicted, so their next event runs the new class).

    Returns the names reloaded. If one fails to load, none is swapped and the
    :class:`~cfemu.errors.WorkerError` propagates: the previous versions keep serving.
    """
    from cfemu.compat import compat_for
    from cfemu.runtime.worker import Worker

    fresh: dict[str, Worker] = {}
    for config in emulator.configs:
        if config.main_path is None:
            continue
        old = emulator.workers[config.name]
        fresh[config.name] = Worker.load(
            config.main_path,
            name=config.name,
            env=old.env,
            clock=emulator.clock,
            tracker=emulator.tracker,
            dev_mode=emulator.dev_mode,
            max_request_body_bytes=emulator.max_request_body_bytes,
            compat=compat_for(config),
        )
    emulator.workers.update(fresh)
    _evict_durable_objects(emulator)
    return list(fresh)


def _evict_durable_objects(emulator: Any) -> None:
    """Drop idle Durable Object instances (their storage stays), so the next event constructs
    the reloaded class, as a restarted workerd would; a busy one is left to finish."""
    service = emulator.services.get("durable_objects")
    hub = getattr(service, "hub", None)
    for runtime in getattr(hub, "runtimes", {}).values():
        for actor in list(runtime.actors.values()):
            actor.evict()


async def watch_and_reload(
    emulator: Any,
    swap: DevApp,
    build_app: Callable[[], Any],
    stop: asyncio.Event,
    say: Callable[[str], None],
    try_restart: Callable[[], Awaitable[bool]],
    saves: AsyncGenerator[tuple[set[Path], set[Path]], None],
) -> None:
    """Reload Workers on each save from ``saves`` (:func:`changed_files`) until a config
    change calls for a restart (or ``stop``).

    ``try_restart`` checks the new config; when it loads, this returns so that the caller
    restarts the emulator, leaving ``saves`` open: the saves made meanwhile come next.
    Otherwise the error is shown and watching goes on.
    """
    async for configs, modules in saves:
        if not await _handle(configs, modules, emulator, swap, build_app, say, try_restart):
            return


async def _handle(
    configs: set[Path],
    modules: set[Path],
    emulator: Any,
    swap: DevApp,
    build_app: Callable[[], Any],
    say: Callable[[str], None],
    try_restart: Callable[[], Awaitable[bool]],
) -> bool:
    """Act on one save; False when the emulator must restart (a config change that loads)."""
    from cfemu.errors import CfemuError

    if configs:
        names = ", ".join(sorted(p.name for p in configs))
        if await try_restart():
            say(f"⎔ {names} changed: restarting with the new configuration")
            return False
        return True
    try:
        reloaded = reload_workers(emulator)
    except CfemuError as exc:
        say(f"✘ [ERROR] {exc}\n  (still serving the previous version; save again to retry)")
        return True
    swap.set(build_app())
    files = ", ".join(sorted(p.name for p in modules))
    workers = ", ".join(repr(name) for name in reloaded)
    say(f"⎔ Reloaded {files}: Worker {workers} (queues, D1 and other state kept)")
    return True
