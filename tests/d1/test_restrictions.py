"""D1's SQL restrictions and limits (spec: d1.md §6, §7)."""

from __future__ import annotations

import pytest

from cfemu.d1 import D1Database
from cfemu.d1.guard import TRANSACTION_MESSAGE
from cfemu.errors import D1Error
from cfemu.limits import D1_MAX_SQL_BYTES, D1_MAX_VALUE_BYTES

pytestmark = pytest.mark.anyio

NOT_AUTHORIZED = "D1_ERROR: not authorized: SQLITE_AUTH"


async def _denied(db: D1Database, sql: str) -> D1Error:
    with pytest.raises(D1Error) as info:
        await db.prepare(sql).run()
    return info.value


def _notes(err: BaseException) -> str:
    return "\n".join(getattr(err, "__notes__", []))


@pytest.mark.parametrize(
    "sql",
    [
        "BEGIN",
        "BEGIN TRANSACTION",
        "BEGIN IMMEDIATE",
        "COMMIT",
        "END",
        "ROLLBACK",
        "SAVEPOINT sp",
        "RELEASE sp",
        "ROLLBACK TO sp",
    ],
)
async def test_transaction_statements_are_refused_with_the_reason(db: D1Database, sql: str) -> None:
    err = await _denied(db, sql)
    assert str(err) == f"D1_ERROR: {TRANSACTION_MESSAGE}"
    assert "batch(" in _notes(err)


async def test_a_transaction_in_a_batch_is_refused_and_rolls_back(db: D1Database) -> None:
    await db.exec("CREATE TABLE t (v)")
    with pytest.raises(D1Error, match="To execute a transaction"):
        await db.batch([db.prepare("INSERT INTO t VALUES (1)"), db.prepare("COMMIT")])
    assert await db.prepare("SELECT count(*) AS n FROM t").first("n") == 0


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("ATTACH DATABASE ':memory:' AS other", "ATTACH"),
        ("DETACH DATABASE other", "ATTACH or DETACH"),
        ("CREATE TEMP TABLE t (v)", "TEMP"),
        ("CREATE TEMPORARY VIEW v AS SELECT 1", "TEMP"),
        ("CREATE TABLE temp.t (v)", "TEMP"),
        ("PRAGMA journal_mode", "journal_mode"),
        ("PRAGMA journal_mode = DELETE", "journal_mode"),
        ("PRAGMA user_version", "user_version"),
        ("PRAGMA user_version = 3", "user_version"),
        ("PRAGMA writable_schema = ON", "writable_schema"),
        ("PRAGMA page_size = 8192", "not setting it"),
        ("PRAGMA foreign_keys = maybe", "boolean"),
        ("PRAGMA table_info", "needs a table"),
        ("CREATE TABLE _cf_kv (k)", "_cf_"),
        ("CREATE TABLE _CF_Upper (k)", "_cf_"),
        ("CREATE VIRTUAL TABLE s USING dbstat", "virtual tables"),
    ],
)
async def test_statements_d1_refuses_are_not_authorized(
    db: D1Database, sql: str, reason: str
) -> None:
    err = await _denied(db, sql)
    assert str(err) == NOT_AUTHORIZED
    assert reason in _notes(err)


@pytest.mark.parametrize("function", ["sqlite_version()", "sqlite_source_id()"])
async def test_functions_outside_the_allowlist_are_refused(db: D1Database, function: str) -> None:
    err = await _denied(db, f"SELECT {function}")
    name = function.removesuffix("()")
    assert str(err) == f"D1_ERROR: not authorized to use function: {name}: SQLITE_ERROR"
    assert name in _notes(err)


async def test_sqlite_compileoption_used_is_refused(db: D1Database) -> None:
    err = await _denied(db, "SELECT sqlite_compileoption_used('ENABLE_FTS5')")
    assert "not authorized to use function: sqlite_compileoption_used" in str(err)


async def test_reserved_names_cannot_be_read_written_altered_or_indexed(db: D1Database) -> None:
    await db.exec("CREATE TABLE t (v)")
    err = await _denied(db, "CREATE INDEX _cf_idx ON t (v)")
    assert str(err) == NOT_AUTHORIZED and "_cf_idx" in _notes(err)
    db._engine.trusted("CREATE TABLE _cf_KV (key, value)")  # as Cloudflare's own table
    err = await _denied(db, "SELECT * FROM _cf_KV")
    assert str(err) == "D1_ERROR: access to _cf_KV.key is prohibited: SQLITE_AUTH"
    assert "reserved" in _notes(err)
    for sql in (
        "INSERT INTO _cf_KV VALUES (1, 2)",
        "DELETE FROM _cf_kv",
        "ALTER TABLE _cf_KV ADD COLUMN y",
        "DROP TABLE _cf_KV",
        "CREATE INDEX i ON _cf_KV (key)",
    ):
        assert "_cf_" in _notes(await _denied(db, sql)), sql


async def test_vacuum_cannot_run_inside_d1s_transaction(db: D1Database) -> None:
    err = await _denied(db, "VACUUM")
    assert str(err) == "D1_ERROR: cannot VACUUM from within a transaction: SQLITE_ERROR"


@pytest.mark.parametrize(
    ("sql", "column", "value"),
    [
        ("PRAGMA table_list", None, None),
        ("PRAGMA table_info(t)", "name", "v"),
        ("PRAGMA table_xinfo(t)", "name", "v"),
        ("PRAGMA index_list(t)", "name", "t_v"),
        ("PRAGMA index_info(t_v)", "name", "v"),
        ("PRAGMA index_xinfo(t_v)", "name", "v"),
        ("PRAGMA foreign_key_list(t)", None, None),
        ("PRAGMA foreign_key_check", None, None),
        ("PRAGMA foreign_key_check(t)", None, None),
        ("PRAGMA quick_check", "quick_check", "ok"),
        ("PRAGMA quick_check(5)", "quick_check", "ok"),
        ("PRAGMA optimize", None, None),
        ("PRAGMA data_version", None, None),
        ("PRAGMA page_size", "page_size", 4096),
        ("PRAGMA case_sensitive_like = true", None, None),
        ("PRAGMA recursive_triggers = 'off'", None, None),
        ("PRAGMA defer_foreign_keys", "defer_foreign_keys", 0),
    ],
)
async def test_pragmas_on_d1s_allowlist_work(
    db: D1Database, sql: str, column: str | None, value: object
) -> None:
    await db.exec("CREATE TABLE t (v)\nCREATE INDEX t_v ON t (v)")
    result = await db.prepare(sql).all()
    assert result.success is True
    if column is not None:
        assert result.results[0][column] == value


async def test_a_pragma_setting_lasts_only_for_its_query(db: D1Database) -> None:
    await db.prepare("PRAGMA foreign_keys = OFF").run()
    assert await db.prepare("PRAGMA foreign_keys").first("foreign_keys") == 1
    await db.prepare("PRAGMA case_sensitive_like = ON").run()
    assert await db.prepare("SELECT 'a' LIKE 'A' AS m").first("m") == 1


async def test_defer_foreign_keys_defers_checks_to_the_end_of_a_batch(db: D1Database) -> None:
    await db.exec(
        "CREATE TABLE parent (id INTEGER PRIMARY KEY)\n"
        "CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent(id))"
    )
    await db.batch(
        [
            db.prepare("PRAGMA defer_foreign_keys = ON"),
            db.prepare("INSERT INTO child VALUES (1, 7)"),
            db.prepare("INSERT INTO parent VALUES (7)"),
        ]
    )
    with pytest.raises(D1Error, match="FOREIGN KEY constraint failed"):
        await db.batch(
            [
                db.prepare("PRAGMA defer_foreign_keys = ON"),
                db.prepare("INSERT INTO child VALUES (2, 8)"),
            ]
        )
    assert await db.prepare("SELECT id FROM child").raw() == [[1]]


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT json_extract('{\"a\": 1}', '$.a') AS v",
        "SELECT '{\"a\": 1}' ->> '$.a' AS v",
        "SELECT abs(-1) AS v",
        "SELECT count(*) AS v FROM (SELECT 1)",
        "SELECT CAST(floor(1.5) AS INTEGER) AS v",
        "SELECT row_number() OVER () AS v",
        "SELECT iif(1, 1, 0) AS v",
        "SELECT length(strftime('%Y', 'now')) - 3 AS v",
        "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 1) "
        "SELECT n AS v FROM c",
    ],
)
async def test_allowed_functions_and_features_work(db: D1Database, sql: str) -> None:
    assert await db.prepare(sql).first("v") == 1


async def test_fts5_virtual_tables_are_allowed(db: D1Database) -> None:
    await db.exec("CREATE VIRTUAL TABLE docs USING fts5(body)")
    await db.prepare("INSERT INTO docs (body) VALUES (?)").bind("hello d1 world").run()
    hit = await db.prepare("SELECT body FROM docs WHERE docs MATCH ?").bind("d1").first("body")
    assert hit == "hello d1 world"


async def test_triggers_with_bodies_work(db: D1Database) -> None:
    await db.prepare(
        "CREATE TABLE t (v); CREATE TABLE log (v); "
        "CREATE TRIGGER t_log AFTER INSERT ON t BEGIN INSERT INTO log VALUES (new.v); END;"
    ).run()
    result = await db.prepare("INSERT INTO t VALUES (1)").run()
    assert result.meta.rows_written == 2  # the row and the trigger's row
    assert await db.prepare("SELECT v FROM log").first("v") == 1


# --- limits --------------------------------------------------------------------------------
async def test_at_most_100_bound_parameters(db: D1Database) -> None:
    ok = "SELECT " + ", ".join("?" for _ in range(100))
    assert len(await db.prepare(ok).bind(*range(100)).raw()) == 1
    too_many = "SELECT " + ", ".join("?" for _ in range(101))
    err = await _denied(db, too_many)
    assert str(err) == "D1_ERROR: too many SQL variables: SQLITE_ERROR"


async def test_sql_of_at_most_100000_bytes(db: D1Database) -> None:
    base = "SELECT 1 AS v"
    ok = base + " " * (D1_MAX_SQL_BYTES - len(base))
    assert await db.prepare(ok).first("v") == 1
    err = await _denied(db, ok + " ")
    assert str(err) == "D1_ERROR: statement too long: SQLITE_TOOBIG"
    # The limit counts UTF-8 bytes, not characters.
    accented = "SELECT 'é' AS v" + " " * (D1_MAX_SQL_BYTES - len("SELECT 'é' AS v"))
    assert len(accented) == D1_MAX_SQL_BYTES
    assert str(await _denied(db, accented)) == "D1_ERROR: statement too long: SQLITE_TOOBIG"


@pytest.mark.parametrize("kind", ["text", "blob"])
async def test_values_and_rows_of_at_most_2000000_bytes(db: D1Database, kind: str) -> None:
    await db.exec("CREATE TABLE t (v)")
    insert = db.prepare("INSERT INTO t VALUES (?)")

    def value(n: int) -> object:
        return "x" * n if kind == "text" else b"x" * n

    await insert.bind(value(D1_MAX_VALUE_BYTES - 100)).run()
    with pytest.raises(D1Error) as info:
        await insert.bind(value(D1_MAX_VALUE_BYTES + 1)).run()
    assert str(info.value) == "D1_ERROR: string or blob too big: SQLITE_TOOBIG"
    with pytest.raises(D1Error, match="string or blob too big: SQLITE_TOOBIG"):
        await db.prepare("SELECT zeroblob(?)").bind(D1_MAX_VALUE_BYTES + 1).all()
    assert await db.prepare("SELECT count(*) AS n FROM t").first("n") == 1


async def test_a_row_of_several_values_is_limited_too(db: D1Database) -> None:
    await db.exec("CREATE TABLE t (a, b)")
    half = "x" * (D1_MAX_VALUE_BYTES // 2 + 10)
    with pytest.raises(D1Error, match="string or blob too big: SQLITE_TOOBIG"):
        await db.prepare("INSERT INTO t VALUES (?, ?)").bind(half, half).run()


async def test_at_most_100_columns(db: D1Database) -> None:
    columns = ", ".join(f"c{i}" for i in range(100))
    await db.exec(f"CREATE TABLE ok ({columns})")
    err = await _denied(db, f"CREATE TABLE wide ({columns}, c100)")
    assert str(err) == "D1_ERROR: too many columns on wide: SQLITE_ERROR"


async def test_function_arguments_like_patterns_and_compound_selects_are_limited(
    db: D1Database,
) -> None:
    args = ", ".join("1" for _ in range(33))
    assert "too many arguments on function max" in str(await _denied(db, f"SELECT max({args})"))
    pattern = "%" * 51
    assert "LIKE or GLOB pattern too complex" in str(
        await _denied(db, f"SELECT 'a' LIKE '{pattern}'")
    )
    compound = " UNION ".join(f"SELECT {i}" for i in range(6))
    assert "too many terms in compound SELECT" in str(await _denied(db, compound))
    # A multi-row VALUES is not a compound SELECT.
    await db.exec("CREATE TABLE t (v)")
    values = ", ".join(f"({i})" for i in range(20))
    assert (await db.prepare(f"INSERT INTO t VALUES {values}").run()).meta.changes == 20
