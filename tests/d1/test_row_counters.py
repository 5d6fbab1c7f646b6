"""``meta.rows_read`` / ``meta.rows_written`` as D1 counts them (workerd's SQLite counters).

The expected numbers are D1's: the issue's table comes from Cloudflare's own D1 tests; the
statement shapes were measured on SQLite built with the counters D1 adds (docs/d1.md,
"How rows_read and rows_written are counted").
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cfemu.clock import VirtualClock
from cfemu.d1 import D1Database, open_database

pytestmark = pytest.mark.anyio

SETUP = (
    "CREATE TABLE t (id INTEGER PRIMARY KEY, email TEXT UNIQUE, name TEXT, age INT)",
    "CREATE INDEX t_age ON t (age)",
    "INSERT INTO t (name, email, age) VALUES ('a','a@x',10),('b','b@x',20),('c','c@x',20),"
    "('d','d@x',30),('e','e@x',40)",
    "CREATE TABLE plain (x INT)",
    "INSERT INTO plain VALUES (1),(2),(3)",
    "CREATE TABLE posts (id INTEGER PRIMARY KEY AUTOINCREMENT, "
    "author_id INTEGER REFERENCES t(id), title TEXT)",
    "CREATE INDEX posts_author ON posts (author_id)",
    "INSERT INTO posts (author_id, title) VALUES (1,'p'),(2,'q'),(1,'r')",
    "CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT) WITHOUT ROWID",
    "INSERT INTO kv VALUES ('a','1'),('b','2')",
)


async def _set_up(db: D1Database) -> None:
    for sql in SETUP:
        await db.prepare(sql).run()


# --- the table: Cloudflare's D1 tests -------------------------------------------
async def test_an_insert_with_an_explicit_primary_key_reads_the_key_it_checks(
    db: D1Database,
) -> None:
    await db.prepare("CREATE TABLE users (user_id INTEGER PRIMARY KEY, name TEXT)").run()
    meta = (await db.prepare("INSERT INTO users VALUES (1, 'a')").run()).meta
    assert (meta.rows_read, meta.rows_written) == (1, 1)
    meta = (await db.prepare("INSERT INTO users VALUES (2, 'b') RETURNING *").all()).meta
    assert (meta.rows_read, meta.rows_written) == (2, 1)


async def test_a_multi_statement_run_counts_its_last_statement_but_all_changes(
    db: D1Database,
) -> None:
    await db.prepare("CREATE TABLE users (user_id INTEGER PRIMARY KEY, name TEXT)").run()
    meta = (
        await db.prepare(
            "INSERT INTO users VALUES (3, 'c'); INSERT INTO users VALUES (4, 'd');"
        ).run()
    ).meta
    assert (meta.rows_read, meta.rows_written, meta.changes) == (1, 1, 2)


async def test_create_table_in_a_batch_and_a_cross_join_count_as_d1_does(
    db: D1Database,
) -> None:
    results = await db.batch(
        [
            db.prepare("CREATE TABLE abc (a INT, b INT, c INT)"),
            db.prepare("CREATE TABLE cde (c TEXT, d TEXT, e TEXT)"),
            db.prepare("INSERT INTO abc VALUES (1,2,3),(4,5,6)"),
            db.prepare("INSERT INTO cde VALUES ('A','B','C'),('D','E','F'),('G','H','I')"),
        ]
    )
    counts = [(r.meta.rows_read, r.meta.rows_written, r.meta.changes) for r in results]
    assert counts == [(1, 2, 0), (1, 2, 0), (0, 2, 2), (0, 3, 3)]
    join = await db.prepare("SELECT * FROM abc, cde").all()
    assert len(join.results) == 6 and (join.meta.rows_read, join.meta.rows_written) == (8, 0)
    in_list = await db.prepare("SELECT * FROM cde WHERE c IN ('A','B','C','X','Y','Z')").all()
    assert in_list.meta.rows_read == 3


@pytest.mark.parametrize("session", [None, "first-unconstrained", "first-primary", "bookmark"])
async def test_sessions_count_the_same(db: D1Database, session: str | None) -> None:
    await db.prepare("CREATE TABLE users (user_id INTEGER PRIMARY KEY, name TEXT)").run()
    target: Any = db if session is None else db.withSession(session)
    if session == "bookmark":
        first = db.withSession("first-primary")
        await first.prepare("SELECT 1").all()
        target = db.withSession(first.getBookmark())
    meta = (await target.prepare("INSERT INTO users VALUES (1, 'a') RETURNING *").all()).meta
    assert (meta.rows_read, meta.rows_written) == (2, 1)


# --- statement shapes ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("sql", "read", "written"),
    [
        ("SELECT * FROM t WHERE id = 2", 1, 0),
        ("SELECT * FROM t WHERE id = 99", 1, 0),
        ("SELECT * FROM t WHERE email = 'b@x'", 1, 0),
        ("SELECT * FROM t WHERE email = 'nobody@x'", 0, 0),
        ("SELECT * FROM t WHERE age = 20", 3, 0),
        ("SELECT * FROM t WHERE age = 10", 2, 0),
        ("SELECT * FROM t WHERE age = 99", 0, 0),
        ("SELECT * FROM t WHERE age > 15", 4, 0),
        ("SELECT * FROM t WHERE age BETWEEN 15 AND 25", 3, 0),
        ("SELECT * FROM t", 5, 0),
        ("SELECT * FROM t LIMIT 2", 2, 0),
        ("SELECT * FROM t WHERE name = 'b'", 5, 0),
        ("SELECT count(*) FROM t", 5, 0),
        ("SELECT count(*) FROM t WHERE name = 'b'", 5, 0),
        ("SELECT * FROM t ORDER BY name", 10, 0),
        ("SELECT * FROM t WHERE id IN (1, 2, 3)", 6, 0),
        ("SELECT * FROM t WHERE id > 2", 3, 0),
        ("SELECT * FROM plain", 3, 0),
        ("SELECT * FROM plain, kv", 9, 0),
        ("SELECT t.name, posts.title FROM posts JOIN t ON t.id = posts.author_id", 6, 0),
        ("SELECT * FROM posts WHERE author_id = 1", 3, 0),
        ("SELECT * FROM kv WHERE k = 'a'", 1, 0),
        ("SELECT 1", 0, 0),
        ("UPDATE t SET name = 'z' WHERE id = 2", 1, 1),
        ("UPDATE t SET age = 21 WHERE id = 2", 1, 2),
        ("UPDATE t SET name = 'z'", 5, 5),
        ("UPDATE t SET name = 'z' WHERE name = 'nobody'", 5, 0),
        ("UPDATE t SET name = 'z' WHERE id = 2 RETURNING id", 2, 1),
        ("DELETE FROM t WHERE id = 5", 1, 1),
        ("DELETE FROM plain", 0, 3),
        ("DELETE FROM plain WHERE x > 1", 3, 2),
        ("INSERT INTO t (name, email, age) VALUES ('f', 'f@x', 50)", 0, 3),
        ("INSERT INTO t (id, name, email, age) VALUES (10, 'f', 'f@x', 50)", 1, 3),
        ("INSERT INTO t (id, name, email, age) VALUES (10, 'f', 'f@x', 50) RETURNING *", 2, 3),
        (
            "INSERT INTO t (id, name) VALUES (2, 'up') "
            "ON CONFLICT (id) DO UPDATE SET name = excluded.name",
            1,
            1,
        ),
        (
            "INSERT INTO t (id, name, email, age) VALUES (20, 'g', 'g@x', 5) "
            "ON CONFLICT (id) DO UPDATE SET name = excluded.name",
            1,
            3,
        ),
        ("INSERT OR REPLACE INTO t (id, name, email, age) VALUES (3, 'r', 'r@x', 60)", 2, 3),
        ("INSERT OR IGNORE INTO t (id, name, email, age) VALUES (3, 'i', 'i@x', 60)", 1, 0),
        ("INSERT INTO t (id, name) VALUES (3, 'n') ON CONFLICT DO NOTHING", 1, 0),
        ("INSERT INTO plain VALUES (7), (8)", 0, 2),
        ("INSERT INTO posts (author_id, title) VALUES (2, 's')", 2, 3),
        ("INSERT INTO kv VALUES ('c', '3'), ('d', '4')", 0, 2),
        ("INSERT INTO plain VALUES (9); INSERT INTO plain VALUES (10);", 0, 1),
        ("CREATE TABLE n (id INTEGER PRIMARY KEY, v TEXT)", 1, 2),
        ("CREATE TABLE u (id INTEGER PRIMARY KEY, v TEXT UNIQUE)", 1, 3),
        ("DELETE FROM plain WHERE x > 1 RETURNING x", 7, 2),
        ("SELECT * FROM t ORDER BY name LIMIT 2", 10, 0),
        ("SELECT * FROM t WHERE age IN (20, 30)", 7, 0),
        ("SELECT * FROM t WHERE EXISTS (SELECT 1 FROM posts WHERE posts.author_id = t.id)", 7, 0),
        ("SELECT * FROM t WHERE id NOT IN (SELECT author_id FROM posts)", 6, 0),
        ("SELECT value FROM json_each('[1,2,3]')", 3, 0),
        ("SELECT name, row_number() OVER (ORDER BY age) FROM t", 16, 0),
        ("UPDATE t SET age = age + 1 WHERE age > 15", 12, 8),
        ("DELETE FROM posts WHERE title = 'q'", 4, 1),
        ("DELETE FROM plain WHERE x > 1 RETURNING x", 7, 2),
        ("UPDATE plain SET x = 0 RETURNING x", 12, 3),
        ("SELECT * FROM t WHERE id IN (SELECT author_id FROM posts)", 7, 0),
    ],
)
async def test_statement_shapes_count_as_on_d1(
    db: D1Database, sql: str, read: int, written: int
) -> None:
    await _set_up(db)
    single = (await db.prepare(sql).run()).meta
    assert (single.rows_read, single.rows_written) == (read, written)
    again = open_database(None, clock=VirtualClock())  # the same statement in a batch
    try:
        await _set_up(again)
        [batched] = await again.batch([again.prepare(sql)])
        assert (batched.meta.rows_read, batched.meta.rows_written) == (read, written)
    finally:
        again.close()


async def test_a_batch_counts_each_statement_as_a_single_query_would(db: D1Database) -> None:
    await _set_up(db)
    sqls = [
        "SELECT * FROM t WHERE age = 20",
        "UPDATE t SET age = 21 WHERE id = 2",
        "SELECT count(*) FROM t",
        "DELETE FROM plain WHERE x > 1",
        "SELECT * FROM plain, kv",
    ]
    results = await db.batch([db.prepare(s) for s in sqls])
    assert [(r.meta.rows_read, r.meta.rows_written) for r in results] == [
        (3, 0),
        (1, 2),
        (5, 0),
        (3, 2),
        (3, 0),  # plain has 1 row left: 1 + kv's 2
    ]


async def test_counts_follow_the_schema_when_an_index_appears(db: D1Database) -> None:
    await _set_up(db)
    by_name = db.prepare("SELECT * FROM t WHERE name = ?")
    assert (await by_name.bind("b").all()).meta.rows_read == 5  # a full scan
    await db.exec("CREATE INDEX t_name ON t (name)")
    assert (await by_name.bind("b").all()).meta.rows_read == 2  # seek + step past 'b'
    await db.exec("DROP INDEX t_name")
    assert (await by_name.bind("b").all()).meta.rows_read == 5


# --- properties ---------------------------------------------------------------------------
_dml = st.one_of(
    st.builds(
        lambda vs: "INSERT INTO n (v) VALUES " + ", ".join(f"({v})" for v in vs),
        st.lists(st.integers(-5, 5), min_size=1, max_size=4),
    ),
    st.builds(
        lambda v, w: f"UPDATE n SET v = {v} WHERE v > {w}", st.integers(-5, 5), st.integers(-6, 6)
    ),
    st.builds(lambda i: f"UPDATE n SET v = v + 1 WHERE id = {i}", st.integers(0, 8)),
    st.builds(lambda w: f"DELETE FROM n WHERE v < {w}", st.integers(-6, 6)),
    st.builds(lambda i: f"DELETE FROM n WHERE id = {i}", st.integers(0, 8)),
)


@settings(max_examples=40, deadline=None)
@given(st.lists(_dml, min_size=1, max_size=8))
async def test_plain_dml_on_a_table_without_indexes_writes_one_row_per_change(
    statements: list[str],
) -> None:
    db = open_database(None, clock=VirtualClock())
    try:
        await db.prepare("CREATE TABLE n (id INTEGER PRIMARY KEY, v INT)").run()
        for sql in statements:
            size = (await db.prepare("SELECT count(*) AS c FROM n").first("c")) or 0
            meta = (await db.prepare(sql).run()).meta
            assert meta.rows_written == meta.changes, sql
            if " WHERE v " in sql:  # a full scan reads the table once (at least its cursor)
                assert meta.rows_read == max(size, 1), sql
            elif " WHERE id " in sql:  # a rowid lookup reads one row, found or not
                assert meta.rows_read == 1, sql
            else:
                assert meta.rows_read == 0, sql
            select = (await db.prepare("SELECT * FROM n").all()).meta
            assert select.rows_written == 0
            assert select.rows_read == max(len(await db.prepare("SELECT id FROM n").raw()), 1)
    finally:
        db.close()
