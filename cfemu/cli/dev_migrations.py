"""``cfemu dev`` at start: D1 migrations not applied yet are named, with the command that
applies them; ``--apply-migrations`` applies them first (in memory too)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["surface_migrations"]


async def surface_migrations(
    emulator: Any, *, apply: bool, say: Callable[[str], None] = print
) -> dict[str, list[str]]:
    """Per D1 database (once per storage key): apply its pending migrations, or warn about
    them. Returns ``{database: [migration names applied or pending]}``, non-empty only."""
    found: dict[str, list[str]] = {}
    seen: set[str] = set()
    for config in emulator.configs:
        for db in config.d1_databases:
            if db.storage_key in seen:
                continue
            seen.add(db.storage_key)
            name = db.database_name or db.binding
            if apply:
                names = await emulator.apply_migrations(db.binding, worker=config.name)
                if names:
                    say(f"⎔ Applied {len(names)} migration(s) to D1 database {name}: "
                        f"{', '.join(names)}")  # fmt: skip
            else:
                names = await emulator.pending_migrations(db.binding, worker=config.name)
                if names:
                    say(
                        f"▲ [WARNING] D1 database {name} (env.{db.binding}) has "
                        f"{len(names)} migration(s) not applied: {', '.join(names)}\n"
                        f"  apply them: {_apply_command(emulator, config.path, name)}"
                    )
            if names:
                found[name] = names
    return found


def _apply_command(emulator: Any, config_path: Path, name: str) -> str:
    from cfemu.state import default_state_folder

    if emulator.persist_to is None:
        return "restart with --apply-migrations (the state is in memory)"
    command = f"cfemu d1 migrations apply {name}"
    if config_path.parent != Path.cwd():
        command += f" -c {os.path.relpath(config_path)}"
    if emulator.persist_to != default_state_folder(config_path).resolve():
        command += f" --persist-to {os.path.relpath(emulator.persist_to)}"
    return command + " (or restart with --apply-migrations)"
