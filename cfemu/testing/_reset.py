"""``reset(emulator)``: back to a freshly started emulator, without building a new one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cfemu.errors import CfemuError

if TYPE_CHECKING:
    from cfemu.emulator import Emulator

__all__ = ["apply_all_migrations", "reset"]


async def apply_all_migrations(emulator: Emulator) -> list[str]:
    """Apply the pending D1 migrations of every Worker's databases whose migrations folder
    exists (a database shared by two Workers is migrated once); the names applied."""
    applied: list[str] = []
    seen: set[str] = set()
    for config in emulator.configs:
        for db in config.d1_databases:
            if db.storage_key in seen or not db.migrations_path(config.path.parent).is_dir():
                continue
            seen.add(db.storage_key)
            applied += await emulator.apply_migrations(db.binding, worker=config.name)
    return applied


async def reset(emulator: Emulator, *, apply_migrations: bool = True) -> None:
    """Return a started, in-memory ``emulator`` to the state of a fresh start.

    What is reset: every queue (messages ready, delayed and in flight, and their stats), every
    D1 database (emptied; its migrations applied again unless ``apply_migrations=False``),
    the fault switchboard (armed faults and counts), background work (cancelled), and the
    Workers (their modules are imported again, so module-level state starts over). What is
    kept: the configuration, the clock (time never goes back) and the AI binding (registered
    models, settings, stats).

    Objects taken from the emulator before the reset (``emulator.env``, a Worker, an
    ``emulator.client()``, queue views, databases) belong to the old state: take them again.
    An emulator persisting to disk (``persist_to``) is refused: reset would lose its data.
    """
    if emulator.persist_to is not None:
        raise CfemuError(
            f"reset() only resets in-memory emulators; this one persists to "
            f"{emulator.persist_to} (delete that folder to start over)"
        )
    emulator._require_started()
    await emulator.aclose()
    emulator.faults.clear()
    emulator.faults.counts.clear()
    emulator.workers.clear()
    await emulator.start()
    if apply_migrations:
        await apply_all_migrations(emulator)
