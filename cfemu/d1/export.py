"""Export a D1 database as SQL that D1 can import again (``cfemu d1 export``).

Like ``wrangler d1 export``: the output starts with ``PRAGMA defer_foreign_keys=TRUE;`` (so
rows may arrive in any order), then every table's ``CREATE`` statement, then their rows as
``INSERT``s, then indexes, triggers and views. It has no ``BEGIN``/``COMMIT`` (D1 refuses
them) and leaves out SQLite's internal tables, FTS5 shadow tables and Cloudflare's reserved
``_cf_`` tables.

A database holding a virtual table (FTS5, R*Tree, ...) is refused, as Cloudflare refuses it
(``D1 Export error: cannot export databases with Virtual Tables (fts5)``, wrangler's wording;
the check covers the whole database, whatever ``--table`` says). Cloudflare's workaround:
drop the virtual tables, export, and create them again after the import.

Rows name only the columns a row stores: generated columns (``VIRTUAL`` or ``STORED``) are
left out, since SQLite refuses values for them and computes them again on import. Triggers
come after the rows, so importing a row does not fire them a second time.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

from cfemu.d1.database import D1Database
from cfemu.d1.engine import Engine
from cfemu.d1.values import SqlValue
from cfemu.errors import CfemuError

__all__ = ["VIRTUAL_TABLES_REFUSED", "export_sql", "sql_literal"]

#: Why a database with a virtual table cannot be exported (wrangler's wording).
VIRTUAL_TABLES_REFUSED = "D1 Export error: cannot export databases with Virtual Tables (fts5)"


class _InvalidText(bytes):
    """A TEXT value whose bytes are not valid UTF-8 (exported byte for byte)."""


def _text(raw: bytes) -> str | _InvalidText:
    """The ``text_factory`` of the export: TEXT as ``str``, or its bytes when they are not
    valid UTF-8 (``CAST(X'..' AS TEXT)`` restores them exactly)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return _InvalidText(raw)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sql_literal(value: SqlValue) -> str:
    """``value`` as an SQLite literal."""
    if value is None:
        return "NULL"
    if isinstance(value, bool | int):
        return str(int(value))
    if isinstance(value, float):
        if math.isinf(value):
            return "9e999" if value > 0 else "-9e999"
        return repr(value)
    if isinstance(value, _InvalidText):
        return f"CAST(X'{value.hex().upper()}' AS TEXT)"
    if isinstance(value, bytes):
        return f"X'{value.hex().upper()}'"
    if "\x00" in value:
        return f"CAST(X'{value.encode('utf-8', 'surrogatepass').hex().upper()}' AS TEXT)"
    return "'" + value.replace("'", "''") + "'"


def export_sql(
    db: D1Database, *, schema: bool = True, data: bool = True, tables: Sequence[str] = ()
) -> Iterator[str]:
    """The database as SQL statements, one per item. ``tables`` limits the export to those
    tables (and their indexes and triggers). A :class:`~cfemu.errors.CfemuError` at once
    (before any statement) if the database has a virtual table."""
    engine = db._engine
    listed = engine.trusted("PRAGMA main.table_list")
    if any(row[2] == "virtual" for row in listed if row[0] == "main"):
        raise CfemuError(VIRTUAL_TABLES_REFUSED)
    kinds = {str(row[1]): str(row[2]) for row in listed}
    return _statements(engine, kinds, schema=schema, data=data, tables=tables)


def _statements(
    engine: Engine, kinds: dict[str, str], *, schema: bool, data: bool, tables: Sequence[str]
) -> Iterator[str]:
    objects = engine.trusted(
        "SELECT type, name, tbl_name, sql FROM main.sqlite_master ORDER BY rowid"
    )
    wanted = set(tables)

    def exported(name: str) -> bool:
        lowered = name.lower()
        return (
            not lowered.startswith(("sqlite_", "_cf_"))
            and kinds.get(name) != "shadow"
            and (not wanted or name in wanted)
        )

    yield "PRAGMA defer_foreign_keys=TRUE;"
    data_tables: list[str] = []
    later: list[str] = []
    for kind, name, table, sql in objects:
        if not isinstance(name, str) or not isinstance(table, str) or not exported(table):
            continue
        if kind != "table":
            if schema and isinstance(sql, str):
                later.append(f"{sql};")
            continue
        if schema and isinstance(sql, str):
            yield f"{sql};"
        data_tables.append(name)
    if data:
        # Rows after every table exists: a foreign key may name a table created later.
        for name in data_tables:
            yield from _rows(engine, name)
        if "sqlite_sequence" in kinds:
            for seq_name, seq in engine.trusted('SELECT name, seq FROM main."sqlite_sequence"'):
                if isinstance(seq_name, str) and exported(seq_name):
                    name_sql = sql_literal(seq_name)
                    yield f'DELETE FROM "sqlite_sequence" WHERE name = {name_sql};'
                    yield f'INSERT INTO "sqlite_sequence" VALUES({name_sql}, {sql_literal(seq)});'
    yield from later


def _stored_columns(engine: Engine, table: str) -> list[str]:
    """The columns an ``INSERT`` may name: ``table_xinfo``'s ``hidden`` is 0 for them (1 for a
    virtual table's hidden columns, 2 and 3 for generated columns)."""
    info = engine.trusted(f"PRAGMA main.table_xinfo({_ident(table)})")
    return [str(row[1]) for row in info if row[6] == 0]


def _rows(engine: Engine, table: str) -> Iterator[str]:
    names = _stored_columns(engine, table)
    if not names:
        return
    columns = ", ".join(_ident(name) for name in names)
    guard = engine.guard
    guard.trusted = True
    try:
        cursor = engine.conn.execute(f"SELECT {columns} FROM main.{_ident(table)}")
    finally:
        guard.trusted = False
    conn = engine.conn
    while True:
        # The connection's text_factory applies while rows are fetched; it is set only
        # around each fetch because this generator may be suspended between them.
        previous, conn.text_factory = conn.text_factory, _text
        try:
            chunk = cursor.fetchmany(256)
        finally:
            conn.text_factory = previous
        if not chunk:
            return
        for row in chunk:
            values = ", ".join(sql_literal(v) for v in row)
            yield f"INSERT INTO {_ident(table)} ({columns}) VALUES({values});"
