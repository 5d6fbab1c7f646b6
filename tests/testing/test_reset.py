"""reset(emulator): queues, D1, faults and Workers back to a fresh start; the clock kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from cfemu import CfemuError, Emulator, QueueSendError
from cfemu.clock import VirtualClock
from cfemu.testing import reset

pytestmark = [pytest.mark.anyio, pytest.mark.cfemu_config("project/wrangler.toml")]
CONFIG = Path(__file__).parent / "project" / "wrangler.toml"


async def test_reset_empties_queues_databases_faults_and_keeps_the_clock(
    emulator: Emulator,
) -> None:
    env = emulator.env
    await env.JOBS.send({"job": "a"})
    await emulator.drain()
    await env.JOBS.send({"job": "b"}, delaySeconds=600)  # still delayed at reset time
    emulator.faults.d1_statement("DB", times=5)
    emulator.faults.queue_send("jobs", times=1)
    with pytest.raises(QueueSendError):
        await env.JOBS.send({"job": "c"})
    module = emulator.worker.module
    now = emulator.clock.now()

    await reset(emulator)

    assert emulator.clock.now() == now
    stats = emulator.queues["jobs"].stats()
    assert (stats.sent, stats.acked, stats.backlog, stats.faults) == (0, 0, 0, 0)
    assert not emulator.faults.rules and emulator.faults.total() == 0
    assert emulator.worker.module is not module  # the Worker module was imported afresh
    db = emulator.env.DB
    assert await db.prepare("SELECT count(*) AS n FROM done").first("n") == 0  # migrated, empty
    await emulator.env.JOBS.send({"job": "d"})
    await emulator.drain()
    assert await db.prepare("SELECT job FROM done").raw() == [["d"]]


async def test_reset_without_migrations_leaves_the_database_empty(emulator: Emulator) -> None:
    await reset(emulator, apply_migrations=False)
    tables = await emulator.env.DB.prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'done'"
    ).raw()
    assert tables == []


async def test_reset_refuses_an_emulator_that_is_not_started_or_persists(tmp_path: Path) -> None:
    with pytest.raises(CfemuError, match="not started"):
        await reset(Emulator.from_config(CONFIG, clock=VirtualClock()))
    persisted = Emulator.from_config(CONFIG, clock=VirtualClock(), persist_to=tmp_path)
    with pytest.raises(CfemuError, match="persists"):
        await reset(persisted)
