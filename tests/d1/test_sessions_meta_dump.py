"""Sessions and bookmarks, result metadata, dump() (spec: d1.md §2.3, §2.4, §3)."""

from __future__ import annotations

import sqlite3

import pytest

from cfemu.clock import RealClock, VirtualClock
from cfemu.d1 import D1Database, open_database
from cfemu.errors import D1DumpError, D1SessionError
from cfemu.limits import D1_SERVED_BY

pytestmark = pytest.mark.anyio


# --- sessions ------------------------------------------------------------------------------
@pytest.mark.parametrize("arg", [None, "", "   ", "first-unconstrained", "first-primary"])
async def test_a_new_session_has_no_bookmark_until_a_query_runs(
    db: D1Database, arg: str | None
) -> None:
    session = db.withSession(arg)
    assert session.getBookmark() is None
    result = await session.prepare("SELECT 1 AS one").all()
    assert result.results == [{"one": 1}]
    bookmark = session.getBookmark()
    assert isinstance(bookmark, str) and bookmark


async def test_bookmarks_grow_with_writes_and_compare_as_strings(db: D1Database) -> None:
    session = db.withSession()
    await session.prepare("CREATE TABLE t (v)").run()
    first = session.getBookmark()
    assert first is not None
    await session.batch([session.prepare("INSERT INTO t VALUES (1)")])
    second = session.getBookmark()
    assert second is not None and second > first
    await session.prepare("SELECT * FROM t").all()
    assert session.getBookmark() == second  # a read does not move the database on


async def test_a_session_started_from_a_bookmark_reports_it_and_sees_the_data(
    db: D1Database,
) -> None:
    writer = db.withSession("first-primary")
    await writer.prepare("CREATE TABLE t (v)").run()
    await writer.prepare("INSERT INTO t VALUES (1)").run()
    bookmark = writer.getBookmark()
    assert bookmark is not None
    reader = db.withSession(f"  {bookmark}  ")
    assert reader.getBookmark() == bookmark
    assert await reader.prepare("SELECT v FROM t").first("v") == 1
    assert reader.getBookmark() == bookmark


async def test_plain_database_calls_never_touch_session_bookmarks(db: D1Database) -> None:
    session = db.withSession()
    await db.prepare("SELECT 1").all()
    assert session.getBookmark() is None


def test_a_session_needs_a_string(db: D1Database) -> None:
    with pytest.raises(TypeError):
        db.withSession(42)  # type: ignore[arg-type]


def test_the_sessions_own_check_rejects_an_empty_constraint(db: D1Database) -> None:
    from cfemu.d1 import D1DatabaseSession

    with pytest.raises(D1SessionError) as info:
        D1DatabaseSession(db._engine, "")
    assert str(info.value) == "D1_SESSION_ERROR: invalid bookmark or constraint"


# --- meta ------------------------------------------------------------------------------------
D1_META_FIELDS = {
    "served_by",
    "served_by_region",
    "served_by_colo",
    "served_by_primary",
    "timings",
    "duration",
    "changes",
    "last_row_id",
    "changed_db",
    "size_after",
    "rows_read",
    "rows_written",
    "total_attempts",
}


async def test_meta_has_every_field_d1_reports(db: D1Database) -> None:
    await db.exec("CREATE TABLE t (v)")
    single = (await db.prepare("SELECT 1").all()).meta
    [batched, write] = await db.batch(
        [db.prepare("SELECT 1"), db.prepare("INSERT INTO t VALUES (1)")]
    )
    for meta in (single, batched.meta, write.meta):
        assert set(meta) == D1_META_FIELDS
        assert meta.served_by == D1_SERVED_BY
        assert (meta.served_by_region, meta.served_by_colo) == ("local", "local")
        assert meta.served_by_primary is True and meta.total_attempts == 1
        assert set(meta.timings) == {"sql_duration_ms"}
        assert meta.timings.sql_duration_ms == meta.duration


async def test_meta_counts_reads_and_writes(db: D1Database) -> None:
    await db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v)")
    insert = await db.prepare("INSERT INTO t (v) VALUES (1), (2), (3)").run()
    assert insert.meta.changes == 3 and insert.meta.rows_written == 3
    assert insert.meta.rows_read == 0
    assert insert.meta.last_row_id == 3 and insert.meta.changed_db is True
    select = await db.prepare("SELECT * FROM t").all()
    assert (select.meta.rows_read, select.meta.rows_written, select.meta.changes) == (3, 0, 0)
    assert select.meta.changed_db is False and select.meta.last_row_id == 3
    update = await db.prepare("UPDATE t SET v = v + 1 WHERE id >= 2").run()
    assert (update.meta.rows_read, update.meta.rows_written, update.meta.changes) == (2, 2, 2)
    delete = await db.prepare("DELETE FROM t WHERE id = 1").run()
    assert (delete.meta.rows_read, delete.meta.rows_written) == (1, 1)
    noop = await db.prepare("UPDATE t SET v = 0 WHERE id = 99").run()
    assert noop.meta.changed_db is False and noop.meta.changes == 0


async def test_size_after_grows_with_the_data(db: D1Database) -> None:
    empty = (await db.prepare("SELECT 1").all()).meta.size_after
    await db.exec("CREATE TABLE t (v)")
    result = await db.prepare("INSERT INTO t VALUES (?)").bind("x" * 100_000).run()
    assert result.meta.size_after > empty + 100_000
    assert result.meta.size_after % 4096 == 0
    again = await db.prepare("SELECT count(*) FROM t").all()
    assert again.meta.size_after == result.meta.size_after


async def test_a_schema_change_changes_the_db(db: D1Database) -> None:
    created = await db.prepare("CREATE TABLE t (v)").run()
    assert created.meta.changed_db is True
    again = await db.prepare("CREATE TABLE IF NOT EXISTS t (v)").run()
    assert again.meta.changed_db is False


async def test_durations_follow_the_virtual_clock(db: D1Database, clock: VirtualClock) -> None:
    result = await db.prepare("SELECT 1").all()
    assert result.meta.duration == 0.0
    assert clock.now() == VirtualClock().now()


async def test_durations_are_measured_on_the_real_clock() -> None:
    db = open_database(None, clock=RealClock())
    try:
        await db.exec("CREATE TABLE t (v)")
        result = await db.prepare(
            "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 20000) "
            "SELECT count(*) FROM c"
        ).all()
        assert isinstance(result.meta.duration, float) and result.meta.duration > 0.0
        assert result.meta.timings.sql_duration_ms == result.meta.duration
        assert (await db.exec("SELECT 1")).duration > 0.0
    finally:
        db.close()


# --- dump --------------------------------------------------------------------------------------
async def _dumped_rows(data: bytes) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(":memory:")
    conn.deserialize(data)
    try:
        return conn.execute("SELECT v FROM t ORDER BY v").fetchall()
    finally:
        conn.close()


@pytest.mark.parametrize("threaded", [False, True])
async def test_dump_returns_the_database_as_sqlite_file_bytes(
    db: D1Database, threaded: bool
) -> None:
    if threaded:
        db._engine.dump_thread_threshold = 0
    await db.exec("CREATE TABLE t (v)\nINSERT INTO t VALUES ('a'), ('b')")
    data = await db.dump()
    assert isinstance(data, bytes) and data.startswith(b"SQLite format 3\x00")
    assert await _dumped_rows(data) == [("a",), ("b",)]
    # The database stays guarded and usable.
    with pytest.raises(Exception, match="To execute a transaction"):
        await db.prepare("BEGIN").run()
    assert await db.prepare("SELECT count(*) AS n FROM t").first("n") == 2


async def test_dump_of_a_closed_database_is_a_dump_error() -> None:
    db = open_database(None)
    db.close()
    db.close()  # idempotent
    with pytest.raises(D1DumpError) as info:
        await db.dump()
    assert str(info.value).startswith("D1_DUMP_ERROR: ")
