"""Objects under a state folder survive restarts (spec: durable-objects.md §1.3, §7)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cfemu.durable_objects.tools import list_durable_object_ids, run_in_durable_object
from tests.durable_objects.conftest import Host
from tests.durable_objects.test_alarms import WORKER

pytestmark = pytest.mark.anyio


async def test_storage_and_sql_survive_a_restart(tmp_path: Path) -> None:
    first = Host(tmp_path, persist_to=tmp_path / "state").start(WORKER)
    stub = first.ns().getByName("a")

    def write(obj: Any, ctx: Any) -> None:
        ctx.storage.kv.put("k", {"v": 1})
        ctx.storage.sql.exec("CREATE TABLE t (v); INSERT INTO t VALUES (42)")

    await run_in_durable_object(stub, write)
    await first.close()
    label = "w-Counter"
    files = sorted(p.name for p in (tmp_path / "state" / "durable_objects" / label).iterdir())
    assert f"{stub.id.toString()}.sqlite" in files

    second = Host(tmp_path, persist_to=tmp_path / "state").start(WORKER)
    try:
        again = second.ns().getByName("a")

        def read(obj: Any, ctx: Any) -> Any:
            return ctx.storage.kv.get("k"), ctx.storage.sql.exec("SELECT v FROM t").one().v

        assert await run_in_durable_object(again, read) == ({"v": 1}, 42)
        assert [i.toString() for i in list_durable_object_ids(second.ns())] == [stub.id.toString()]
    finally:
        await second.close()


async def test_a_pending_alarm_fires_after_a_restart_with_its_name(tmp_path: Path) -> None:
    first = Host(tmp_path, persist_to=tmp_path / "state").start(WORKER)
    at = first.clock.now_ms() + 60_000
    await first.ns().getByName("named").schedule(at)
    await first.close()

    second = Host(tmp_path, persist_to=tmp_path / "state").start(WORKER)
    try:
        assert second.clock.now_ms() < at
        await second.advance(61)
        runs = [r for r in second.worker.module.RUNS if r[0] == "alarm"]
        assert len(runs) == 1
        actor = next(iter(second.runtime().actors.values()))
        assert actor.id.name == "named"
    finally:
        await second.close()


async def test_a_damaged_object_file_is_a_state_error_naming_it(tmp_path: Path) -> None:
    from cfemu.errors import StateError

    first = Host(tmp_path, persist_to=tmp_path / "state").start(WORKER)
    stub = first.ns().getByName("a")

    def write(obj: Any, ctx: Any) -> None:
        ctx.storage.kv.put("k", {"v": 1})

    await run_in_durable_object(stub, write)
    await first.close()
    folder = tmp_path / "state" / "durable_objects" / "w-Counter"
    path = folder / f"{stub.id.toString()}.sqlite"
    for sidecar in (Path(f"{path}-wal"), Path(f"{path}-shm")):
        sidecar.unlink(missing_ok=True)
    path.write_bytes(b"not a database " * 500)

    # Found when the object is opened: at start (its alarm is restored) or at first use.
    second = Host(tmp_path, persist_to=tmp_path / "state")
    try:

        def read(obj: Any, ctx: Any) -> Any:
            return ctx.storage.kv.get("k")

        with pytest.raises(StateError) as info:
            second.start(WORKER)
            await run_in_durable_object(second.ns().getByName("a"), read)
        assert f"{path} is damaged: cannot read its Durable Object storage" in str(info.value)
    finally:
        await second.close()
