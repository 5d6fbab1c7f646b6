"""A long D1 query leaves the event loop (real clock): after its slice it runs again on the
database's thread, other work goes on, later calls on the same database wait for it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from cfemu.clock import RealClock, VirtualClock
from cfemu.d1 import D1Database, open_database
from cfemu.errors import D1Error

pytestmark = pytest.mark.anyio

COUNT = (
    "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < ?) "
    "SELECT count(*) AS c FROM n"
)
FILL = (
    "INSERT INTO t (v) WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n "
    "WHERE x < ?) SELECT x FROM n"
)
ENDLESS = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n"
ROWS = 400_000


def database(tmp_path: Path, clock: RealClock | VirtualClock) -> D1Database:
    db = open_database(tmp_path / "db.sqlite", clock=clock)
    db._engine.share.loop_slice = 0.002 if not clock.is_virtual else None  # a short slice
    return db


async def turns_during(coro: object) -> tuple[object, int]:
    """Run ``coro`` and count the turns another task got on the loop meanwhile."""
    turns = 0
    done = False

    async def ticker() -> None:
        nonlocal turns
        while not done:
            await asyncio.sleep(0)
            if not done:
                turns += 1

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    turns = 0
    result = await coro  # type: ignore[misc]
    done = True
    await task
    return result, turns


async def test_a_long_query_on_a_real_clock_leaves_the_loop(tmp_path: Path) -> None:
    db = database(tmp_path, RealClock())
    value, turns = await turns_during(db.prepare(COUNT).bind(ROWS).first("c"))
    assert value == ROWS
    assert turns > 0  # the loop kept running while the query did
    assert COUNT in db._engine.share.slow  # next time it goes to the thread at once
    value, turns = await turns_during(db.prepare(COUNT).bind(ROWS).first("c"))
    assert value == ROWS and turns > 0
    db.close()


async def test_on_a_virtual_clock_every_query_stays_on_the_loop(tmp_path: Path) -> None:
    db = database(tmp_path, VirtualClock())
    value, turns = await turns_during(db.prepare(COUNT).bind(ROWS).first("c"))
    assert (value, turns) == (ROWS, 0)
    assert not db._engine.share.slow
    db.close()


async def test_calls_on_the_same_database_wait_for_the_query_on_the_thread(
    tmp_path: Path,
) -> None:
    db = database(tmp_path, RealClock())
    await db.exec("CREATE TABLE t (v INTEGER)")
    fill = asyncio.create_task(db.prepare(FILL).bind(ROWS).run())
    await asyncio.sleep(0)  # the fill starts, is sliced, and moves to the thread
    assert db._engine.share._busy is not None
    count = await db.prepare("SELECT count(*) AS c FROM t").first("c")
    assert count == ROWS  # it waited for the fill, as D1 runs one query at a time
    result = await fill
    assert result["meta"]["changes"] == ROWS
    db.close()


async def test_the_duration_limit_still_holds_on_the_thread(tmp_path: Path) -> None:
    db = database(tmp_path, RealClock())
    db.max_query_seconds = 0.05
    for _ in range(2):  # sliced then moved; then straight to the thread
        with pytest.raises(D1Error, match="exceeded timeout"):
            await db.prepare(ENDLESS).first()
    assert ENDLESS in db._engine.share.slow
    assert await db.prepare("SELECT 1 AS one").first("one") == 1
    db.close()


async def test_cancelling_the_caller_stops_the_query_and_rolls_it_back(tmp_path: Path) -> None:
    db = database(tmp_path, RealClock())
    await db.exec("CREATE TABLE t (v INTEGER)")
    endless_fill = (
        "INSERT INTO t (v) WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) "
        "SELECT x FROM n"
    )
    task = asyncio.create_task(db.prepare(endless_fill).run())
    await asyncio.sleep(0)
    assert db._engine.share._busy is not None
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await db.prepare("SELECT count(*) AS c FROM t").first("c") == 0
    db.close()
