"""``cfemu dev``'s one file watcher (cfemu.cli.reload): it keeps collecting saves while
nobody reads it, as during a restart, so a save made then is reported next; after a restart
it reports the new configuration's files, and is made again only when they lie elsewhere."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import anyio
import pytest

from cfemu.cli.reload import WatchSet, changed_files

pytestmark = pytest.mark.anyio


def _emulator(config: Path, main: Path) -> Any:
    """What the watcher reads of an emulator: its configs' paths and Worker entry points."""
    return SimpleNamespace(configs=[SimpleNamespace(path=config, secrets_files=(), main_path=main)])


def _project(root: Path) -> tuple[Path, Path]:
    root.mkdir(parents=True, exist_ok=True)
    config, main = root / "wrangler.toml", root / "worker.py"
    config.write_text('name = "w"\nmain = "worker.py"\n')
    main.write_text("VERSION = 1\n")
    return config, main


async def test_a_save_made_while_nobody_reads_the_watcher_is_reported_next(
    tmp_path: Path,
) -> None:
    config, main = _project(tmp_path)
    stop = asyncio.Event()
    saves = changed_files(WatchSet(_emulator(config, main)), stop, debounce_ms=20)
    try:
        # The watcher starts on the first read: save until it reports (bounded).
        first = asyncio.ensure_future(saves.__anext__())
        with anyio.fail_after(20):
            version = 2
            while not first.done():
                main.write_text(f"VERSION = {version}\n")
                version += 1
                await asyncio.wait({first}, timeout=0.1)
        assert first.result() == (set(), {main})
        # Nobody reads it now (cfemu dev restarting): the config is saved meanwhile.
        config.write_text('name = "w"\nmain = "worker.py"\n# changed\n')
        with anyio.fail_after(20):
            configs, _modules = await saves.__anext__()
        while not configs:  # late events of the module saves above come first
            with anyio.fail_after(20):
                configs, _modules = await saves.__anext__()
        assert configs == {config}
    finally:
        stop.set()
        await saves.aclose()


def test_after_a_restart_the_watcher_follows_the_new_configuration(tmp_path: Path) -> None:
    config, main = _project(tmp_path / "app")
    watching = WatchSet(_emulator(config, main))
    assert watching.roots == {tmp_path / "app"}
    # The same folder, another entry point in a subfolder: still watched, and reported.
    nested = tmp_path / "app" / "src" / "entry.py"
    assert watching.follow(_emulator(config, nested)) is False
    assert watching.folders == {nested.parent} and watching.roots == {tmp_path / "app"}
    # A Worker elsewhere: the watcher must be made again.
    other_config, other_main = _project(tmp_path / "elsewhere")
    assert watching.follow(_emulator(other_config, other_main)) is True
