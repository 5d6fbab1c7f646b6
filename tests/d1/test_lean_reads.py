"""``first()`` and ``raw()`` of a read-only statement take the lean path (``Engine.rows``:
no duration, counts or ``Outcome``); everything else goes through ``Engine.run``. Either
way the results, errors and what later queries report must be the same. ``batch()``
counts a repeated statement's rows once per distinct outcome: the same counts again."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cfemu.d1 import D1Database, open_database
from cfemu.d1.plan import make_plan
from cfemu.errors import D1Error

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("sql", "lean"),
    [
        ("SELECT 1", True),
        ("VALUES (1), (2)", True),
        ("WITH x AS (SELECT 1) SELECT * FROM x", True),
        ("SELECT * FROM t; ", True),
        ("PRAGMA table_info(t)", False),  # PRAGMA: may change a setting, goes the full way
        ("PRAGMA foreign_keys = OFF", False),
        ("INSERT INTO t VALUES (1) RETURNING *", False),
        ("WITH x AS (SELECT 1) DELETE FROM t", False),
        ("SELECT 1; SELECT 2", False),
        ("CREATE TABLE u (a)", False),
        ("", False),
        ("VACUUM", False),
    ],
)
def test_only_a_single_read_only_statement_is_lean(sql: str, lean: bool) -> None:
    assert make_plan(sql).lean is lean


async def _thousand_rows(db: D1Database) -> None:
    await db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER)")
    insert = db.prepare("INSERT INTO t (v) VALUES (?)")
    await db.batch([insert.bind(i) for i in range(1000)])


async def test_lean_reads_of_a_full_scan_do_not_leak_into_the_next_rows_read(
    db: D1Database,
) -> None:
    await _thousand_rows(db)
    scan = db.prepare("SELECT * FROM t WHERE v = ?").bind(5)
    assert (await scan.all()).meta.rows_read == 1000
    # The same text runs lean in between: SQLite's full-scan counter moves unread.
    assert await scan.first() == {"id": 6, "v": 5}
    assert await scan.raw() == [[6, 5]]
    assert (await scan.all()).meta.rows_read == 1000
    assert (await db.batch([scan]))[0].meta.rows_read == 1000


async def test_first_of_a_write_changes_the_database_and_moves_the_bookmark(
    db: D1Database,
) -> None:
    await db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    session = db.withSession()
    before = db._engine.bookmark()
    row = await session.prepare("INSERT INTO t (v) VALUES ('a') RETURNING id, v").first()
    assert row == {"id": 1, "v": "a"}
    assert session.getBookmark() is not None and session.getBookmark() > before
    assert await db.prepare("SELECT count(*) AS n FROM t").first("n") == 1
    # A lean read between two writes leaves last_row_id and changed_db as D1 reports them.
    assert await db.prepare("SELECT v FROM t").raw() == [["a"]]
    meta = (await db.prepare("INSERT INTO t (v) VALUES ('b')").run()).meta
    assert meta.last_row_id == 2 and meta.changed_db is True


async def test_lean_reads_scrub_lone_surrogates_and_translate_errors(db: D1Database) -> None:
    assert await db.prepare("SELECT 'a\ud800' AS x").first("x") == "a\ufffd"
    assert await db.prepare("SELECT ? AS x").bind("b\udfff").raw() == [["b\ufffd"]]
    with pytest.raises(D1Error, match=r"^D1_ERROR: no such table: nope: SQLITE_ERROR"):
        await db.prepare("SELECT * FROM nope").first()
    with pytest.raises(D1Error, match=r"^D1_ERROR: no such table: nope: SQLITE_ERROR"):
        await db.prepare("SELECT * FROM nope").raw()


async def test_a_pragma_read_through_first_still_resets_settings(db: D1Database) -> None:
    await db.prepare("PRAGMA foreign_keys = OFF").first()
    assert await db.prepare("PRAGMA foreign_keys").first("foreign_keys") == 1


STATEMENTS = [
    ("INSERT OR IGNORE INTO u (k, v) VALUES (?, ?)", 2),
    # An upsert that updates writes no index entry, one that inserts writes u_v's.
    ("INSERT INTO u (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET w = excluded.v", 2),
    ("UPDATE u SET v = v + 1 WHERE k = ?", 1),
    ("UPDATE u SET v = ? WHERE v < 3", 1),
    ("DELETE FROM u WHERE k = ?", 1),
    ("SELECT * FROM u WHERE v = ?", 1),
    ("SELECT count(*) FROM u WHERE k > ?", 1),
    ("INSERT INTO u (k, v) VALUES (?, ?) RETURNING k", 2),
    ("DELETE FROM u WHERE k = 99; UPDATE u SET v = 0 WHERE k < ?", 1),  # two statements
]


values = st.tuples(st.integers(0, 5), st.integers(0, 5))


@given(
    runs=st.lists(
        st.tuples(st.integers(0, len(STATEMENTS) - 1), st.lists(values, min_size=1, max_size=4)),
        min_size=1,
        max_size=8,
    )
)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
async def test_a_batch_counts_rows_as_the_same_statements_run_one_by_one(
    runs: list[tuple[int, list[tuple[int, int]]]],
) -> None:
    """batch() counts a repeated statement once per distinct outcome (changed rows,
    returned rows, ...): its counts must equal running each statement alone. Each run is
    one statement text repeated with different values."""
    alone, batched = open_database(None), open_database(None)
    try:
        for db in (alone, batched):
            await db.exec("CREATE TABLE u (k INTEGER PRIMARY KEY, v INTEGER, w INTEGER)")
            await db.exec("CREATE INDEX u_v ON u (v)")
            await db.exec("CREATE TABLE gone (k INTEGER)")
            # Rows changed by a trigger, some of the time: all changes != the statement's.
            await db.exec(
                "CREATE TRIGGER u_gone AFTER DELETE ON u WHEN old.v > 2 "
                "BEGIN INSERT INTO gone VALUES (old.k); END"
            )
            await db.exec("INSERT INTO u (k, v) VALUES (0, 0), (1, 1), (2, 2), (3, 3)")
        expected = []
        statements = []
        for index, pairs in runs:
            sql, arity = STATEMENTS[index]
            for pair in pairs:
                bound = pair[:arity]
                try:
                    result = await alone.prepare(sql).bind(*bound).run()
                except D1Error:
                    continue  # a failing statement would fail the whole batch
                meta = result.meta
                expected.append(
                    (
                        meta.changes,
                        meta.last_row_id,
                        meta.rows_read,
                        meta.rows_written,
                        result.results,
                    )
                )
                statements.append(batched.prepare(sql).bind(*bound))
        if not statements:
            return
        got = [
            (r.meta.changes, r.meta.last_row_id, r.meta.rows_read, r.meta.rows_written, r.results)
            for r in await batched.batch(statements)
        ]
        assert got == expected
    finally:
        alone.close()
        batched.close()
