"""D1's query duration limit: a runaway query is interrupted and rolled back, with D1's error.

The limit is wall time measured on the real clock inside SQLite's progress handler; the
tests set it to a few milliseconds instead of waiting 30 seconds.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cfemu.clock import VirtualClock
from cfemu.d1 import D1Database, open_database
from cfemu.errors import D1Error, D1ExecError
from cfemu.limits import D1_MAX_QUERY_SECONDS

pytestmark = pytest.mark.anyio

TIMEOUT = "D1_ERROR: D1 DB storage operation exceeded timeout which caused object to be reset."
#: Never finishes on its own: counts an endless recursive sequence.
ENDLESS = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n"
ENDLESS_INSERT = (
    "INSERT INTO t (v) WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) "
    "SELECT x FROM n"
)


async def count(db: D1Database) -> int:
    row = await db.prepare("SELECT count(*) AS c FROM t").first()
    return int(row["c"])


@pytest.fixture
async def limited(tmp_path: Path, anyio_backend: str) -> D1Database:
    db = open_database(tmp_path / "db.sqlite", clock=VirtualClock())
    await db.exec("CREATE TABLE t (v INTEGER)")
    await db.prepare("INSERT INTO t (v) VALUES (1), (2)").run()
    db.max_query_seconds = 0.02
    return db


async def test_the_default_limit_is_d1s_30_seconds(db: D1Database) -> None:
    assert db.max_query_seconds == D1_MAX_QUERY_SECONDS == 30.0
    with pytest.raises(ValueError, match="must be > 0"):
        db.max_query_seconds = 0


async def test_a_runaway_read_is_interrupted_with_d1s_error(limited: D1Database) -> None:
    with pytest.raises(D1Error) as info:
        await limited.prepare(ENDLESS).first()
    assert str(info.value) == TIMEOUT
    assert await count(limited) == 2  # the database still answers
    limited.close()


async def test_a_runaway_write_leaves_nothing_behind(limited: D1Database) -> None:
    with pytest.raises(D1Error, match="exceeded timeout"):
        await limited.prepare(ENDLESS_INSERT).run()
    assert await count(limited) == 2
    check = await limited.prepare("PRAGMA quick_check").first()
    assert check is not None and list(check.values()) == ["ok"]
    limited.close()


async def test_the_limit_covers_a_whole_batch_which_is_rolled_back(limited: D1Database) -> None:
    insert = limited.prepare("INSERT INTO t (v) VALUES (?)")
    with pytest.raises(D1Error, match="exceeded timeout"):
        await limited.batch([insert.bind(3), insert.bind(4), limited.prepare(ENDLESS)])
    assert await count(limited) == 2  # the batch's inserts were rolled back with it
    limited.close()


async def test_exec_is_interrupted_and_rolled_back(limited: D1Database) -> None:
    with pytest.raises(D1ExecError, match="exceeded timeout"):
        await limited.exec(f"INSERT INTO t (v) VALUES (5)\n{ENDLESS_INSERT}")
    assert await count(limited) == 2
    limited.close()


async def test_the_limit_survives_a_restart_of_the_file(tmp_path: Path, anyio_backend: str) -> None:
    first = open_database(tmp_path / "db.sqlite")
    await first.exec("CREATE TABLE t (v INTEGER)")
    first.max_query_seconds = 0.02
    with pytest.raises(D1Error, match="exceeded timeout"):
        await first.prepare(ENDLESS_INSERT).run()
    first.close()
    again = open_database(tmp_path / "db.sqlite")
    assert await count(again) == 0  # nothing half-written reached the file
    again.close()


async def test_queries_within_the_limit_and_cfemus_own_statements_are_untouched(
    limited: D1Database,
) -> None:
    limited.max_query_seconds = 5.0
    rows = await limited.prepare(
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 50000) "
        "SELECT count(*) AS c FROM n"
    ).first("c")
    assert rows == 50000
    limited.max_query_seconds = None
    assert await count(limited) == 2
    limited.close()
