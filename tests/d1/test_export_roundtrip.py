"""``cfemu d1 export`` output imports back into a fresh database, for every table shape:
the same schema (every ``sqlite_master`` entry, ``sqlite_sequence`` included) and the same
rows (generated columns recomputed, triggers not fired twice)."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cfemu.clock import VirtualClock
from cfemu.d1 import D1Database, open_database
from cfemu.d1._sql import split_statements
from cfemu.d1.export import export_sql
from cfemu.errors import CfemuError

Rows = list[tuple[object, ...]]


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _run(db: D1Database, sql: str) -> None:
    """Run ``sql`` as ``cfemu d1 execute --file`` does: its statements as one batch."""
    asyncio.run(db.batch([db.prepare(s) for s in split_statements(sql)]))


def _schema(db: D1Database) -> Rows:
    rows = db._engine.trusted("SELECT type, name, tbl_name, sql FROM main.sqlite_master")
    return sorted(rows, key=repr)


def _sort_key(value: object) -> str:
    # -0.0 and 0.0 compare equal but are told apart here, as SQLite stores them.
    if isinstance(value, float) and value == 0:
        return repr(math.copysign(1.0, value))
    return repr(value)


def _contents(db: D1Database) -> dict[str, Rows]:
    """Every table's rows (generated columns included) as a sorted multiset."""
    engine = db._engine
    tables = [
        str(row[1])
        for row in engine.trusted("PRAGMA main.table_list")
        if row[0] == "main" and row[2] in ("table", "virtual")
    ]
    contents: dict[str, Rows] = {}
    for name in tables:
        info = engine.trusted(f"PRAGMA main.table_xinfo({_ident(name)})")
        # hidden: 0 stored, 1 a virtual table's hidden column, 2/3 generated
        listed = [_ident(str(r[1])) for r in info if r[6] != 1]
        typed = ", ".join(f"typeof({c}), {c}" for c in listed)
        previous, engine.conn.text_factory = engine.conn.text_factory, bytes  # exact TEXT bytes
        try:
            rows = engine.trusted(f"SELECT {typed} FROM main.{_ident(name)}")
        finally:
            engine.conn.text_factory = previous
        contents[name] = sorted(rows, key=lambda row: [_sort_key(v) for v in row])
    contents.pop("sqlite_schema", None)
    return contents


def _round_trip(setup: str) -> tuple[D1Database, D1Database]:
    source = open_database(None, clock=VirtualClock())
    _run(source, setup)
    copy = open_database(None, clock=VirtualClock())
    _run(copy, "\n".join(export_sql(source)))
    return source, copy


def _assert_same(source: D1Database, copy: D1Database) -> None:
    try:
        assert _schema(copy) == _schema(source)
        assert _contents(copy) == _contents(source)
        assert copy._engine.trusted("PRAGMA main.foreign_key_check") == []
    finally:
        source.close()
        copy.close()


SHAPES = {
    "virtual and stored generated columns": (
        "CREATE TABLE g (a INTEGER, b INTEGER GENERATED ALWAYS AS (a * 2) VIRTUAL,"
        " c TEXT AS (a || 'x') STORED, d REAL);"
        "INSERT INTO g (a, d) VALUES (1, 0.5), (2, NULL);"
    ),
    "generated column in a WITHOUT ROWID table": (
        "CREATE TABLE w (k TEXT PRIMARY KEY, v INTEGER, twice AS (v * 2)) WITHOUT ROWID;"
        "INSERT INTO w (k, v) VALUES ('a', 1), ('b', 2);"
    ),
    "WITHOUT ROWID with a composite key": (
        "CREATE TABLE w (a INTEGER, b TEXT, v BLOB, PRIMARY KEY (b, a)) WITHOUT ROWID;"
        "INSERT INTO w VALUES (1, 'x', X'00'), (2, 'x', NULL);"
    ),
    "views, including a view on a view": (
        "CREATE TABLE t (v INTEGER);"
        "CREATE VIEW big AS SELECT v FROM t WHERE v > 1;"
        "CREATE VIEW bigger AS SELECT v FROM big WHERE v > 2;"
        "INSERT INTO t VALUES (1), (2), (3);"
    ),
    "a trigger does not fire again on import": (
        "CREATE TABLE t (v); CREATE TABLE log (v);"
        "CREATE TRIGGER copy AFTER INSERT ON t BEGIN INSERT INTO log VALUES (new.v); END;"
        "INSERT INTO t VALUES (5), (6);"
    ),
    "an INSTEAD OF trigger on a view": (
        "CREATE TABLE t (v); CREATE VIEW vt AS SELECT v FROM t;"
        "CREATE TRIGGER into_t INSTEAD OF INSERT ON vt BEGIN INSERT INTO t VALUES (new.v); END;"
        "INSERT INTO vt VALUES (3);"
    ),
    "indexes: partial, unique, on an expression": (
        "CREATE TABLE t (a INTEGER, b TEXT);"
        "CREATE UNIQUE INDEX t_a ON t (a);"
        "CREATE INDEX t_b ON t (b) WHERE b IS NOT NULL;"
        "CREATE INDEX t_lower ON t (lower(b));"
        "INSERT INTO t VALUES (1, 'X'), (2, NULL);"
    ),
    "foreign keys to a table created later": (
        "CREATE TABLE child (id INTEGER PRIMARY KEY,"
        " parent_id INTEGER NOT NULL REFERENCES parent(id) ON DELETE CASCADE);"
        "CREATE TABLE parent (id INTEGER PRIMARY KEY);"
        "INSERT INTO parent VALUES (1), (2); INSERT INTO child VALUES (1, 2), (2, 1);"
    ),
    "AUTOINCREMENT keeps its sequence past deleted rows": (
        "CREATE TABLE a (id INTEGER PRIMARY KEY AUTOINCREMENT, v);"
        "INSERT INTO a (v) VALUES (1), (2), (3); DELETE FROM a WHERE id > 1;"
    ),
    "quoted and odd identifiers": (
        'CREATE TABLE "we""ird tab" ("col ""x""", [b c], `d`, "é", "select");'
        'INSERT INTO "we""ird tab" VALUES (1, 2, 3, 4, 5);'
        'CREATE INDEX "i ""x""" ON "we""ird tab" ("col ""x""");'
        'CREATE VIEW "v;iew" AS SELECT "select" FROM "we""ird tab";'
    ),
    "STRICT table": (
        "CREATE TABLE s (id INTEGER PRIMARY KEY, x REAL, y ANY, z BLOB) STRICT;"
        "INSERT INTO s VALUES (1, 2.5, 'q', X'01'), (2, NULL, 3, NULL);"
    ),
    "a table with only generated columns besides its key": (
        "CREATE TABLE k (id INTEGER PRIMARY KEY, label AS ('row ' || id));"
        "INSERT INTO k (id) VALUES (7), (9);"
    ),
    "constraints, defaults, collations, a trigger with WHEN, a view with column names": (
        "CREATE TABLE c (id INTEGER PRIMARY KEY, n INTEGER CHECK (n >= 0) DEFAULT 7,"
        " name TEXT COLLATE NOCASE UNIQUE, at TEXT DEFAULT (datetime('now', '+1 day')));"
        "CREATE TABLE audit (what);"
        "CREATE TRIGGER big AFTER UPDATE OF n ON c WHEN new.n > 10"
        " BEGIN INSERT INTO audit VALUES ('big ' || new.id); END;"
        "CREATE VIEW named (ident, label) AS SELECT id, upper(name) FROM c;"
        "INSERT INTO c (id, name, at) VALUES (1, 'Ada', 'x'), (2, 'bob', 'y');"
        "UPDATE c SET n = 11 WHERE id = 2;"
    ),
    "awkward values": (
        "CREATE TABLE v (a, b INTEGER, c REAL, d TEXT);"
        "INSERT INTO v VALUES (-9223372036854775808, 9223372036854775807, 1e308, 'it''s');"
        "INSERT INTO v VALUES (9e999, -9e999, -0.0, char(0) || 'nul');"
        "INSERT INTO v VALUES (CAST(X'FF61' AS TEXT), '12', '1.5', 12);"
    ),
}


@pytest.mark.parametrize("setup", list(SHAPES.values()), ids=list(SHAPES))
def test_export_re_imports_with_the_same_schema_and_rows(setup: str) -> None:
    source, copy = _round_trip(setup)
    _assert_same(source, copy)


@pytest.mark.parametrize(
    "virtual",
    [
        "CREATE VIRTUAL TABLE f USING fts5(body)",
        "CREATE TABLE docs (id INTEGER PRIMARY KEY, body TEXT);"
        "CREATE VIRTUAL TABLE docs_fts USING fts5(body, content='docs', content_rowid='id')",
    ],
)
def test_a_database_with_a_virtual_table_is_refused_as_cloudflare_refuses_it(virtual: str) -> None:
    source = open_database(None, clock=VirtualClock())
    _run(source, f"CREATE TABLE kept (v); INSERT INTO kept VALUES (1); {virtual};")
    try:
        with pytest.raises(CfemuError) as refused:
            export_sql(source, tables=["kept"])  # refused before any statement is produced
        assert str(refused.value) == (
            "D1 Export error: cannot export databases with Virtual Tables (fts5)"
        )
    finally:
        source.close()


# --- generated schemas -------------------------------------------------------------------

_NAME_CHARS = st.sampled_from(list("abcXYZ09_ -\"'`[]();.é€"))
_names = st.text(_NAME_CHARS, min_size=1, max_size=6).filter(
    lambda n: not n.lower().startswith(("sqlite_", "_cf_")) and n.strip() != ""
)
_AFFINITIES = ("", "INTEGER", "TEXT", "REAL", "BLOB", "NUMERIC")
_values = st.one_of(
    st.none(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=8),
    st.binary(max_size=6),
)


@dataclass
class _Table:
    name: str
    columns: list[tuple[str, str]]
    key: str  # "none", "integer", "autoincrement", "composite"
    without_rowid: bool
    generated: list[tuple[str, str, str]]  # (name, expression over a column, VIRTUAL/STORED)
    rows: list[list[object]]
    index_on: str | None
    view: bool
    trigger: bool
    deleted: int = field(default=0)

    def create(self) -> str:
        parts = []
        for i, (col, affinity) in enumerate(self.columns):
            text = f"{_ident(col)} {affinity}".rstrip()
            if i == 0 and self.key == "integer":
                text = f"{_ident(col)} INTEGER PRIMARY KEY"
            elif i == 0 and self.key == "autoincrement":
                text = f"{_ident(col)} INTEGER PRIMARY KEY AUTOINCREMENT"
            parts.append(text)
        for col, expression, kind in self.generated:
            parts.append(f"{_ident(col)} AS ({expression}) {kind}")
        if self.key == "composite":
            keys = ", ".join(_ident(c) for c, _ in self.columns[:2])
            parts.append(f"PRIMARY KEY ({keys})")
        suffix = " WITHOUT ROWID" if self.without_rowid else ""
        return f"CREATE TABLE {_ident(self.name)} ({', '.join(parts)}){suffix};"


@st.composite
def _schemas(draw: st.DrawFn) -> str:
    used: set[str] = {"log"}

    def fresh(taken: set[str] = used) -> str:
        """A name not yet in ``taken`` (SQLite compares names without case)."""
        name = draw(_names.filter(lambda n: n.lower() not in taken))
        taken.add(name.lower())
        return name

    tables: list[_Table] = []
    for _ in range(draw(st.integers(1, 3))):
        table = fresh()
        local: set[str] = set()
        key = draw(st.sampled_from(["none", "integer", "autoincrement", "composite"]))
        count = draw(st.integers(2 if key == "composite" else 1, 4))
        columns = [(fresh(local), draw(st.sampled_from(_AFFINITIES))) for _ in range(count)]
        if key == "composite":
            columns[0] = (columns[0][0], "INTEGER")
            columns[1] = (columns[1][0], "INTEGER")
        generated = []
        for _ in range(draw(st.integers(0, 2))):
            source = _ident(draw(st.sampled_from(columns))[0])
            expression = draw(st.sampled_from([f"{source} || 'x'", f"typeof({source})"]))
            kind = draw(st.sampled_from(["VIRTUAL", "STORED"]))
            generated.append((fresh(local), expression, kind))
        rows: list[list[object]] = []
        for number in range(draw(st.integers(0, 4))):
            row = [draw(_values) for _ in columns]
            if key in ("integer", "autoincrement", "composite"):
                row[0] = number + 1
            if key == "composite":
                row[1] = draw(st.integers(-5, 5))
            rows.append(row)
        tables.append(
            _Table(
                name=table,
                columns=columns,
                key=key,
                without_rowid=key == "composite" and draw(st.booleans()),
                generated=generated,
                rows=rows,
                index_on=draw(st.none() | st.sampled_from([c for c, _ in columns])),
                view=draw(st.booleans()),
                trigger=draw(st.booleans()),
                deleted=draw(st.integers(0, 2)) if key == "autoincrement" else 0,
            )
        )
    statements = ["CREATE TABLE log (what);"]
    for table in tables:
        statements.append(table.create())
        if table.trigger:
            statements.append(
                f"CREATE TRIGGER {_ident(fresh())} AFTER INSERT ON {_ident(table.name)} "
                f"BEGIN INSERT INTO log VALUES ({_sql_text(table.name)}); END;"
            )
        if table.index_on is not None:
            index, on = _ident(fresh()), _ident(table.index_on)
            statements.append(f"CREATE INDEX {index} ON {_ident(table.name)} ({on});")
        if table.view:
            statements.append(
                f"CREATE VIEW {_ident(fresh())} AS SELECT * FROM {_ident(table.name)};"
            )
        names = ", ".join(_ident(c) for c, _ in table.columns)
        for row in table.rows:
            values = ", ".join(_sql_value(v) for v in row)
            statements.append(f"INSERT INTO {_ident(table.name)} ({names}) VALUES ({values});")
        if table.deleted and table.rows:
            first, kept = _ident(table.columns[0][0]), len(table.rows) - table.deleted
            statements.append(f"DELETE FROM {_ident(table.name)} WHERE {first} > {kept};")
    return "\n".join(statements)


def _sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _sql_value(value: object) -> str:
    # The test's own literal writer, kept independent of cfemu's export.
    if value is None:
        return "NULL"
    if isinstance(value, bytes):
        return "X'" + value.hex() + "'"
    if isinstance(value, str):
        if "\x00" in value:
            return "CAST(X'" + value.encode().hex() + "' AS TEXT)"
        return _sql_text(value)
    if isinstance(value, float):
        if math.isinf(value):
            return "1e999" if value > 0 else "-1e999"
        return repr(value)
    return str(value)


@settings(max_examples=60)
@given(_schemas())
def test_export_of_generated_schemas_re_imports_identically(setup: str) -> None:
    source, copy = _round_trip(setup)
    _assert_same(source, copy)
