"""Damaged or foreign state is refused, never replaced: missing, empty, corrupt and read-only
files each give a StateError (or D1 error) naming the file and the way out; every command
refuses a folder of a newer format."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from cfemu import Emulator, VirtualClock
from cfemu.cli import main
from cfemu.errors import D1Error, StateError

pytestmark = pytest.mark.anyio

CONFIG = """\
name = "damaged"
main = "worker.py"
compatibility_date = "2026-01-01"

[[d1_databases]]
binding = "DB"
database_name = "notes"
database_id = "notes-id"

[[queues.producers]]
binding = "JOBS"
queue = "jobs"

[[kv_namespaces]]
binding = "CACHE"
id = "cache-id"
"""
WORKER = """\
from workers import WorkerEntrypoint

class Default(WorkerEntrypoint):
    pass
"""
WAY_OUT = "cfemu dev --reset"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    (tmp_path / "wrangler.toml").write_text(CONFIG)
    (tmp_path / "worker.py").write_text(WORKER)
    return tmp_path / "wrangler.toml"


async def first_run(config: Path, state: Path, *, messages: int = 1000, rows: int = 50) -> None:
    """Queue ``messages`` messages (nobody consumes ``jobs``) and write ``rows`` D1 rows."""
    async with Emulator.from_config(config, persist_to=state, clock=VirtualClock()) as emu:
        for start in range(0, messages, 100):
            await emu.env.JOBS.sendBatch(
                [{"body": {"n": n, "pad": "x" * 200}} for n in range(start, start + 100)]
            )
        await emu.env.DB.exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
        insert = emu.env.DB.prepare("INSERT INTO notes (text) VALUES (?)")
        await emu.env.DB.batch([insert.bind("y" * 500) for _ in range(rows)])
        await emu.env.CACHE.put("k", "v")


def start(config: Path, state: Path) -> Emulator:
    return Emulator.from_config(config, persist_to=state, clock=VirtualClock())


def corrupt_pages(path: Path) -> None:
    """Overwrite every page but the first (the schema) with garbage."""
    data = bytearray(path.read_bytes())
    assert len(data) > 3 * 4096, len(data)
    data[4096 * 2 : -4096] = b"\xa5" * (len(data) - 4096 * 3)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["deleted", "emptied"])
@pytest.mark.parametrize("name", ["queues.sqlite", "d1/notes-id.sqlite"])
async def test_a_data_file_deleted_or_emptied_is_refused_not_replaced(
    config: Path, tmp_path: Path, name: str, damage: str
) -> None:
    state = tmp_path / "state"
    await first_run(config, state, messages=100, rows=5)
    target = state / name
    for sidecar in (Path(f"{target}-wal"), Path(f"{target}-shm")):
        sidecar.unlink(missing_ok=True)
    if damage == "deleted":
        target.unlink()
    else:
        target.write_bytes(b"")
    with pytest.raises(StateError) as info:
        await start(config, state).start()
    message = str(info.value)
    assert str(target) in message and WAY_OUT in message
    assert ("is missing" if damage == "deleted" else "is empty") in message
    # Nothing was recreated in its place, and the refusal repeats (the lock was released).
    assert not target.exists() or target.stat().st_size == 0
    with pytest.raises(StateError, match="is missing" if damage == "deleted" else "is empty"):
        await start(config, state).start()


async def test_a_thousand_queued_messages_survive_only_if_their_file_does(
    config: Path, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    await first_run(config, state)
    async with start(config, state) as emu:
        assert len(emu.queues["jobs"]) == 1000
    (state / "queues.sqlite").unlink()
    with pytest.raises(StateError, match=r"queues\.sqlite is missing"):
        await start(config, state).start()


async def test_a_corrupt_page_in_queue_state_is_a_state_error_naming_the_file(
    config: Path, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    await first_run(config, state)
    corrupt_pages(state / "queues.sqlite")
    with pytest.raises(StateError) as info:
        await start(config, state).start()
    message = str(info.value)
    assert f"{state / 'queues.sqlite'} is damaged" in message and WAY_OUT in message
    assert isinstance(info.value.__cause__, sqlite3.DatabaseError)


async def test_a_corrupt_page_in_a_d1_file_names_the_file_in_the_d1_error(
    config: Path, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    await first_run(config, state, messages=0, rows=200)
    db_file = state / "d1" / "notes-id.sqlite"
    corrupt_pages(db_file)
    async with start(config, state) as emu:
        with pytest.raises(D1Error) as info:
            await emu.env.DB.prepare("SELECT count(*), sum(length(text)) FROM notes").first()
    message = str(info.value)
    assert message.startswith("D1_ERROR: database disk image is malformed: SQLITE_CORRUPT")
    assert str(db_file) in message and WAY_OUT in message


def test_the_d1_cli_names_a_corrupt_file(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    asyncio.run(first_run(config, state, messages=0, rows=200))
    db_file = state / "d1" / "notes-id.sqlite"
    corrupt_pages(db_file)
    code = main(
        ["d1", "execute", "DB", "-c", str(config), "--persist-to", str(state), "--command",
         "SELECT sum(length(text)) FROM notes"]
    )  # fmt: skip
    assert code == 1
    err = capsys.readouterr().err
    assert "SQLITE_CORRUPT" in err and str(db_file) in err


async def test_a_file_that_is_not_a_database_is_refused_naming_it(
    config: Path, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    await first_run(config, state, messages=1, rows=1)
    db_file = state / "d1" / "notes-id.sqlite"
    for sidecar in (Path(f"{db_file}-wal"), Path(f"{db_file}-shm")):
        sidecar.unlink(missing_ok=True)
    db_file.write_bytes(b"this is not an SQLite file " * 400)
    with pytest.raises(StateError, match=rf"{db_file} is damaged: cannot read its D1 database"):
        await start(config, state).start()


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[Path]:
    """A folder that becomes read-only when ``make_read_only`` (stored on it) is called:
    a remounted tmpfs as root (who ignores permissions), else ``chmod``."""
    folder = tmp_path / "ro"
    folder.mkdir()
    mounted = False
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        if shutil.which("mount") is None:
            pytest.skip("mount(8) is not installed")
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(folder)],
            capture_output=True,
            timeout=10,
            check=False,
        )
        if done.returncode != 0:
            pytest.skip("root cannot be denied writes here (mounting a tmpfs failed)")
        mounted = True
    try:
        yield folder
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True, check=False)
        else:
            folder.chmod(0o755)


def make_read_only(folder: Path) -> None:
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True, timeout=10)
    else:
        for path in [folder, *folder.rglob("*")]:
            path.chmod(0o555 if path.is_dir() else 0o444)


async def test_a_read_only_state_folder_gets_a_clear_error(config: Path, read_only: Path) -> None:
    state = read_only / "state"
    await first_run(config, state, messages=10, rows=1)
    make_read_only(read_only)
    with pytest.raises(StateError, match=r"is not writable .*Make the folder writable"):
        await start(config, state).start()
    with pytest.raises(StateError, match="is not writable"):
        await start(config, read_only / "new-state").start()


NEWER = '{"format": 2}'
COMMANDS = {
    "dev": ["dev", "--port", "0"],
    "d1 execute": ["d1", "execute", "DB", "--command", "SELECT 1"],
    "d1 migrations list": ["d1", "migrations", "list", "DB"],
    "d1 migrations apply": ["d1", "migrations", "apply", "DB"],
    "d1 export": ["d1", "export", "DB", "--output", "out.sql"],
    "queues list": ["queues", "list"],
    "queues inspect": ["queues", "inspect", "jobs"],
    "queues purge": ["queues", "purge", "jobs", "-y"],
    "queues info": ["queues", "info", "jobs"],
    "queues peek": ["queues", "peek", "jobs"],
    "queues pause-delivery": ["queues", "pause-delivery", "jobs"],
    "queues redrive": ["queues", "redrive", "jobs-dlq", "--to", "jobs"],
    "queues consumer http add": ["queues", "consumer", "http", "add", "jobs"],
    "kv key get": ["kv", "key", "get", "k", "--binding", "CACHE"],
    "kv key put": ["kv", "key", "put", "k", "v", "--binding", "CACHE"],
}


@pytest.mark.parametrize(
    ("marker", "expected"),
    [
        (NEWER, "holds state written by a newer cfemu (format 2; this cfemu reads format 1)"),
        ('{"format": "1"}', "unreadable state marker (format must be an integer, got '1')"),
    ],
    ids=["newer", "string"],
)
@pytest.mark.parametrize("command", COMMANDS.values(), ids=COMMANDS.keys())
def test_every_command_refuses_a_folder_it_cannot_read(
    config: Path,
    tmp_path: Path,
    command: list[str],
    marker: str,
    expected: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state = tmp_path / "state"
    asyncio.run(first_run(config, state, messages=1, rows=1))
    before = {p: p.read_bytes() for p in state.rglob("*.sqlite")}
    (state / "cfemu-state.json").write_text(marker)

    def refuse_to_serve(*args: object, **kwargs: object) -> None:
        raise AssertionError("cfemu dev started serving a folder it cannot read")

    monkeypatch.setattr("cfemu.cli.dev.make_server", refuse_to_serve)
    monkeypatch.chdir(tmp_path)
    code = main([*command, "-c", str(config), "--persist-to", str(state)])
    err = capsys.readouterr().err
    assert code == 1, err
    assert expected in err
    assert json.loads((state / "cfemu-state.json").read_text()) == json.loads(marker)
    assert {p: p.read_bytes() for p in state.rglob("*.sqlite")} == before  # nothing written


def test_cfemu_dev_reset_is_the_way_out(
    config: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state = tmp_path / "state"
    asyncio.run(first_run(config, state, messages=10, rows=1))
    (state / "queues.sqlite").unlink()
    served: list[Path | None] = []

    async def serve(paths: list[Path], **kwargs: object) -> None:
        persist_to = kwargs["persist_to"]
        assert isinstance(persist_to, Path)
        served.append(persist_to)
        async with Emulator.from_configs(paths, persist_to=persist_to) as emu:
            assert len(emu.queues["jobs"]) == 0  # started empty, as asked
            assert await emu.env.CACHE.get("k") is None

    monkeypatch.setattr("cfemu.cli.dev.serve", serve)
    args = ["dev", "-c", str(config), "--persist-to", str(state)]
    assert main(args) == 1  # refused without --reset
    assert "queues.sqlite is missing" in capsys.readouterr().err
    assert main([*args, "--reset"]) == 0
    out = capsys.readouterr().out
    assert f"Reset {state}: deleted" in out and "d1/notes-id.sqlite" in out
    assert served == [state, state]  # the first run refused when it opened the folder
