"""``meta.rows_read`` counts the rows full table scans step through (SQLite's counter);
see test_row_counters.py for every statement shape."""

from __future__ import annotations

import pytest

from cfemu.clock import VirtualClock
from cfemu.d1 import D1Database, _rowcount, open_database
from cfemu.errors import D1Error

pytestmark = pytest.mark.anyio


async def _thousand_rows(db: D1Database) -> None:
    await db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER)")
    insert = db.prepare("INSERT INTO t (v) VALUES (?)")
    await db.batch([insert.bind(i) for i in range(1000)])


async def test_a_full_scan_counts_every_row_it_steps_through(db: D1Database) -> None:
    await _thousand_rows(db)
    scan = db.prepare("SELECT * FROM t WHERE v = ?")
    for _ in range(3):  # the counter is read as a delta: repeated runs report the same
        result = await scan.bind(5).all()
        assert result.results == [{"id": 6, "v": 5}]
        assert result.meta.rows_read == 1000 and result.meta.rows_written == 0


async def test_a_primary_key_point_select_reads_one_row(db: D1Database) -> None:
    await _thousand_rows(db)
    result = await db.prepare("SELECT * FROM t WHERE id = ?").bind(5).all()
    assert result.meta.rows_read == 1


async def test_an_index_lookup_reads_its_match_and_the_entry_after(db: D1Database) -> None:
    await _thousand_rows(db)
    scan = db.prepare("SELECT * FROM t WHERE v = ?")
    assert (await scan.bind(5).all()).meta.rows_read == 1000
    await db.exec("CREATE INDEX t_v ON t (v)")  # the plan changes: decided again
    assert (await scan.bind(5).all()).meta.rows_read == 2  # seek to 5, step to 6
    await db.exec("DROP INDEX t_v")
    assert (await scan.bind(5).all()).meta.rows_read == 1000


async def test_statement_text_with_trailing_semicolon_and_comment_is_counted(
    db: D1Database,
) -> None:
    await _thousand_rows(db)
    result = await db.prepare("SELECT * FROM t WHERE v = 5;  -- one").all()
    assert result.meta.rows_read == 1000


async def test_writes_keep_their_counts_unless_they_scan(db: D1Database) -> None:
    await _thousand_rows(db)
    insert = await db.prepare("INSERT INTO t (v) VALUES (1), (2)").run()
    assert (insert.meta.rows_read, insert.meta.rows_written) == (0, 2)
    # The IN list is a temporary table read through (2), then each id is looked up (2).
    update = await db.prepare("UPDATE t SET v = 0 WHERE id IN (1, 2)").run()
    assert (update.meta.rows_read, update.meta.rows_written) == (4, 2)
    delete = await db.prepare("DELETE FROM t WHERE id = 3").run()
    assert (delete.meta.rows_read, delete.meta.rows_written) == (1, 1)
    # An UPDATE that must scan the table to find its row reads the whole table.
    scan_update = await db.prepare("UPDATE t SET v = -1 WHERE v = 7").run()
    assert (scan_update.meta.rows_read, scan_update.meta.rows_written) == (1001, 1)


async def test_batch_reports_scans_per_statement(db: D1Database) -> None:
    await _thousand_rows(db)
    scan = db.prepare("SELECT * FROM t WHERE v = ?")
    results = await db.batch(
        [
            scan.bind(5),
            db.prepare("SELECT * FROM t WHERE id = 1"),
            db.prepare("INSERT INTO t (v) VALUES (5)"),
            scan.bind(5),
        ]
    )
    assert [r.meta.rows_read for r in results] == [1000, 1, 0, 1001]
    assert [len(r.results) for r in results] == [1, 1, 0, 2]


async def test_a_failed_batch_does_not_skew_the_next_count(db: D1Database) -> None:
    await _thousand_rows(db)
    scan = db.prepare("SELECT * FROM t WHERE v = ?")
    assert (await scan.bind(5).all()).meta.rows_read == 1000
    with pytest.raises(D1Error, match="no such table"):
        await db.batch([scan.bind(5), db.prepare("SELECT * FROM missing")])
    await db.exec("SELECT * FROM t WHERE v = 5")  # exec() runs it without reporting
    assert (await scan.bind(5).all()).meta.rows_read == 1000


async def test_without_sqlite_stmt_a_full_scan_reads_its_whole_table(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Simulates SQLite built without SQLITE_ENABLE_STMTVTAB: the counter table is missing.
    monkeypatch.setattr(_rowcount, "SCAN_COUNTER_TABLE", "no_such_counter_table")
    db = open_database(None, clock=VirtualClock())
    try:
        assert db._engine.counter.counts_scans is False
        await _thousand_rows(db)
        scan = db.prepare("SELECT * FROM t WHERE v = ?")
        assert (await scan.bind(5).all()).meta.rows_read == 1000
        point = db.prepare("SELECT * FROM t WHERE id = 1")
        results = await db.batch([scan.bind(5), point])
        assert [r.meta.rows_read for r in results] == [1000, 1]
    finally:
        db.close()


async def test_user_sql_cannot_read_sqlite_internal_virtual_tables() -> None:
    db = open_database(None)
    try:
        for table in ("sqlite_stmt", "dbstat"):
            with pytest.raises(D1Error, match=r"prohibited: SQLITE_AUTH"):
                await db.prepare(f"SELECT * FROM {table}").all()
    finally:
        db.close()
