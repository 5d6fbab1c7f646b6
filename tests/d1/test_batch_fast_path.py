"""A batch reports for each statement what running it alone reports.

``batch()`` takes a fast path for a statement text repeated right after itself, working out
``rows_read``/``rows_written`` again only when what they depend on moves. Random batches
of runs of different texts (inserts that check a foreign key or not, inserts that a
UNIQUE constraint ignores, updates by key) are run once as a batch and once statement by
statement on an identical database; every statement's meta must match.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cfemu.clock import VirtualClock
from cfemu.d1 import D1Database, open_database

pytestmark = pytest.mark.anyio

SETUP = (
    "CREATE TABLE owners (id INTEGER PRIMARY KEY, name TEXT)",
    "INSERT INTO owners (id, name) VALUES (1, 'a'), (2, 'b')",
    "CREATE TABLE items (id INTEGER PRIMARY KEY, owner INTEGER REFERENCES owners(id), v TEXT)",
    "CREATE TABLE plain (x INT)",
    "CREATE TABLE tags (id INTEGER PRIMARY KEY, tag TEXT UNIQUE)",
)
STATEMENTS = (
    "INSERT INTO items (owner, v) VALUES (1, ?)",  # reads its foreign key
    "INSERT INTO plain (x) VALUES (length(?))",  # reads nothing
    "INSERT OR IGNORE INTO tags (tag) VALUES (?)",  # changes 0 or 1 rows
    "UPDATE owners SET name = ? WHERE id = 2",  # by key
    "INSERT INTO plain (x) SELECT length(?) FROM owners",  # two rows per run
)
#: What each statement's meta must agree on (timings and durations aside).
FIELDS = ("changes", "last_row_id", "changed_db", "rows_read", "rows_written", "size_after")

runs = st.lists(
    st.tuples(
        st.integers(0, len(STATEMENTS) - 1),
        st.lists(st.sampled_from(["x", "y", "z", "xy"]), min_size=1, max_size=4),
    ),
    min_size=1,
    max_size=6,
)


async def _database() -> D1Database:
    db = open_database(None, clock=VirtualClock())
    for sql in SETUP:
        await db.prepare(sql).run()
    return db


def _metas(results: list[Any]) -> list[tuple[Any, ...]]:
    return [tuple(r.meta[field] for field in FIELDS) for r in results]


@given(plan=runs)
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
async def test_each_statement_of_a_batch_reports_what_it_reports_alone(
    plan: list[tuple[int, list[str]]],
) -> None:
    batched, alone = await _database(), await _database()
    try:
        statements = [(STATEMENTS[which], value) for which, values in plan for value in values]
        results = await batched.batch([batched.prepare(s).bind(v) for s, v in statements])
        one_by_one = [await alone.prepare(s).bind(v).run() for s, v in statements]
        expected = _metas(one_by_one)
        # size_after: the batch reports the size after the whole batch on every result.
        size = alone.size_bytes()
        expected = [(*meta[:-1], size) for meta in expected]
        assert _metas(results) == expected
    finally:
        batched.close()
        alone.close()
