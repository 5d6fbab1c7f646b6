"""``cfemu d1 ...`` against a temporary wrangler config (spec: d1.md §8, §9)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from cfemu.cli import main
from cfemu.d1 import database_file

CONFIG = """\
name = "demo"
main = "worker.py"
compatibility_date = "2026-01-01"

[[d1_databases]]
binding = "DB"
database_name = "demo-db"
database_id = "db-0001"

[[d1_databases]]
binding = "OTHER"
database_name = "other-db"
migrations_dir = "db/other"
migrations_table = "history"
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "wrangler.toml").write_text(CONFIG, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _db_file(project: Path, key: str = "db-0001") -> Path:
    return database_file(project / ".cfemu" / "state", key)


def _query(path: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_the_d1_group_lists_its_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["d1"]) == 0
    out = capsys.readouterr().out
    for command in ("migrations", "execute", "export"):
        assert command in out
    assert main(["d1", "migrations"]) == 0
    out = capsys.readouterr().out
    for command in ("create", "list", "apply"):
        assert command in out


def test_migrations_create_list_apply(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["d1", "migrations", "create", "DB", "create users"]) == 0
    created = project / "migrations" / "0001_create_users.sql"
    assert created.read_text().startswith("-- Migration number: 0001 \t ")
    assert "0001_create_users.sql" in capsys.readouterr().out
    with created.open("a") as f:
        f.write("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);\n")

    assert main(["d1", "migrations", "list", "demo-db"]) == 0
    assert "0001_create_users.sql" in capsys.readouterr().out
    assert main(["d1", "migrations", "apply", "DB"]) == 0
    assert "0001_create_users.sql" in capsys.readouterr().out
    assert main(["d1", "migrations", "apply", "DB"]) == 0
    assert "No migrations to apply!" in capsys.readouterr().out
    assert main(["d1", "migrations", "list", "DB"]) == 0
    assert "No migrations to apply!" in capsys.readouterr().out
    assert _query(_db_file(project), "SELECT name FROM d1_migrations") == [
        ("0001_create_users.sql",)
    ]


def test_migration_settings_come_from_the_config(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = project / "db" / "other"
    folder.mkdir(parents=True)
    (folder / "0001_t.sql").write_text("CREATE TABLE t (v);")
    assert main(["d1", "migrations", "apply", "OTHER"]) == 0
    assert _query(_db_file(project, "other-db"), "SELECT name FROM history") == [("0001_t.sql",)]


def test_a_failing_migration_exits_with_an_error(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = project / "migrations"
    folder.mkdir()
    (folder / "0001_ok.sql").write_text("CREATE TABLE a (v);")
    (folder / "0002_bad.sql").write_text("INSERT INTO nope VALUES (1);")
    assert main(["d1", "migrations", "apply", "DB"]) == 1
    err = capsys.readouterr().err
    assert "Migration 0002_bad.sql failed with the following errors" in err
    assert "no such table: nope" in err
    assert _query(_db_file(project), "SELECT name FROM d1_migrations") == [("0001_ok.sql",)]


def test_execute_runs_a_command_as_one_batch_and_prints_a_table(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sql = "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t (v) VALUES ('x;y');"
    assert main(["d1", "execute", "DB", "--command", sql]) == 0
    assert "2 commands executed successfully" in capsys.readouterr().out
    assert main(["d1", "execute", "DB", "--command", "SELECT id, v FROM t"]) == 0
    out = capsys.readouterr().out
    assert "│ id │ v   │" in out and "│ 1  │ x;y │" in out


def test_execute_is_atomic(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["d1", "execute", "DB", "--command", "CREATE TABLE t (v UNIQUE)"]) == 0
    sql = "INSERT INTO t VALUES (1); INSERT INTO t VALUES (1);"
    assert main(["d1", "execute", "DB", "--command", sql]) == 1
    assert "UNIQUE constraint failed: t.v: SQLITE_CONSTRAINT" in capsys.readouterr().err
    assert _query(_db_file(project), "SELECT count(*) FROM t") == [(0,)]


def test_execute_a_file_with_json_output(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = project / "seed.sql"
    script.write_text(
        "CREATE TABLE t (v);\nINSERT INTO t VALUES (1), (2);\n"
        "CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; END;\nSELECT v FROM t;\n"
    )
    assert main(["d1", "execute", "DB", "--file", str(script), "--json", "--yes"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert len(results) == 4
    assert results[-1]["results"] == [{"v": 1}, {"v": 2}]
    assert results[1]["meta"]["changes"] == 2 and results[0]["success"] is True


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--command", "SELECT 1", "--file", "x.sql"], "can't provide both --command and --file"),
        ([], "must provide --command or --file"),
        (
            ["--command", "SELECT 1", "--remote"],
            "set CLOUDFLARE_ACCOUNT_ID and CLOUDFLARE_API_TOKEN",
        ),
        (["--file", "missing.sql"], "cannot read missing.sql"),
    ],
)
def test_execute_argument_errors(
    project: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CLOUDFLARE_ACCOUNT_ID", raising=False)
    monkeypatch.delenv("CLOUDFLARE_API_TOKEN", raising=False)
    assert main(["d1", "execute", "DB", *args]) == 1
    assert message in capsys.readouterr().err


def test_an_unknown_database_is_a_config_error(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["d1", "execute", "NOPE", "--command", "SELECT 1"]) == 1
    assert "Couldn't find a D1 DB with the name or binding 'NOPE'" in capsys.readouterr().err


def test_explicit_config_and_persist_to(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "app" / "wrangler.toml"
    config.parent.mkdir()
    config.write_text(CONFIG)
    state = tmp_path / "state"
    args = ["-c", str(config), "--persist-to", str(state)]
    assert main(["d1", "execute", "DB", *args, "--command", "CREATE TABLE t (v)"]) == 0
    assert database_file(state, "db-0001").is_file()


def test_export_writes_sql_that_imports_back(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sql = (
        # child comes first in the export, so importing it needs deferred foreign keys
        "CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent(id),"
        " data BLOB, score REAL);"
        "CREATE TABLE parent (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT);"
        "CREATE INDEX child_parent ON child (parent_id);"
        "INSERT INTO parent (name) VALUES ('it''s'), ('two');"
        "INSERT INTO child VALUES (1, 1, X'00FF', 1.5);"
        "DELETE FROM parent WHERE id = 2;"
        "CREATE VIEW names AS SELECT name FROM parent;"
    )
    assert main(["d1", "execute", "DB", "--command", sql]) == 0
    out_file = project / "dump" / "db.sql"
    assert main(["d1", "export", "DB", "--output", str(out_file)]) == 0
    text = out_file.read_text()
    assert text.startswith("PRAGMA defer_foreign_keys=TRUE;\n")
    assert "BEGIN" not in text and "COMMIT" not in text

    assert main(["d1", "execute", "OTHER", "--file", str(out_file)]) == 0
    copy = _db_file(project, "other-db")
    assert _query(copy, "SELECT * FROM parent") == [(1, "it's")]
    assert _query(copy, "SELECT * FROM child") == [(1, 1, b"\x00\xff", 1.5)]
    assert _query(copy, "SELECT name FROM names") == [("it's",)]
    assert _query(copy, "SELECT seq FROM sqlite_sequence WHERE name = 'parent'") == [(2,)]
    assert _query(copy, "SELECT name FROM sqlite_master WHERE type = 'index'") == [
        ("child_parent",)
    ]


def test_export_options(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sql = "CREATE TABLE a (v); CREATE TABLE b (v); INSERT INTO a VALUES (1);"
    sql += "INSERT INTO b VALUES (2)"
    assert main(["d1", "execute", "DB", "--command", sql]) == 0
    out = project / "a.sql"
    assert main(["d1", "export", "DB", "--output", str(out), "--table", "a", "--no-schema"]) == 0
    assert out.read_text().splitlines() == [
        "PRAGMA defer_foreign_keys=TRUE;",
        'INSERT INTO "a" ("v") VALUES(1);',
    ]
    assert main(["d1", "export", "DB", "--output", str(out), "--no-data"]) == 0
    assert "INSERT" not in out.read_text() and "CREATE TABLE b" in out.read_text()
    assert main(["d1", "export", "DB", "--output", str(out), "--no-data", "--no-schema"]) == 1


def test_export_without_a_database_is_an_error(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["d1", "export", "DB", "--output", "x.sql"]) == 1
    assert "no local database for DB yet" in capsys.readouterr().err


def test_a_failing_migration_prints_the_status_of_each_migration(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = project / "migrations"
    folder.mkdir()
    (folder / "0001_ok.sql").write_text("CREATE TABLE a (v);")
    (folder / "0002_bad.sql").write_text("INSERT INTO nope VALUES (1);")
    (folder / "0003_later.sql").write_text("CREATE TABLE c (v);")
    assert main(["d1", "migrations", "apply", "DB"]) == 1
    captured = capsys.readouterr()
    tables = _status_tables(captured.out)
    # As wrangler: the table after 0001 applied, then after 0002 failed (0003 never ran).
    assert tables == [
        [("0001_ok.sql", "✅"), ("0002_bad.sql", "🕒️"), ("0003_later.sql", "🕒️")],
        [("0001_ok.sql", "✅"), ("0002_bad.sql", "❌"), ("0003_later.sql", "🕒️")],
    ]
    assert "Migration 0002_bad.sql failed with the following errors:" in captured.err


def _status_tables(out: str) -> list[list[tuple[str, str]]]:
    """The ``name | status`` tables ``migrations apply`` printed, as (name, status) rows."""
    tables: list[list[tuple[str, str]]] = []
    rows: list[tuple[str, str]] | None = None
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip("│").split("│")]
        if line.startswith("│") and cells == ["name", "status"]:
            rows = []
            tables.append(rows)
        elif line.startswith("│") and rows is not None and len(cells) == 2:
            rows.append((cells[0], cells[1]))
        elif line.startswith("└"):
            rows = None
    return tables


def test_apply_prints_the_table_again_after_each_migration_as_wrangler(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = project / "migrations"
    folder.mkdir()
    (folder / "0001_a.sql").write_text("CREATE TABLE a (v);")
    (folder / "0002_b.sql").write_text("CREATE TABLE b (v);")
    assert main(["d1", "migrations", "apply", "DB", "--force"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Migrations to be applied:\n┌")
    assert "--force passed, applying 2 migration(s) without prompt" in out
    assert _status_tables(out) == [
        [("0001_a.sql", "✅"), ("0002_b.sql", "🕒️")],
        [("0001_a.sql", "✅"), ("0002_b.sql", "✅")],
    ]
    assert main(["d1", "migrations", "apply", "DB"]) == 0
    assert capsys.readouterr().out == "✅ No migrations to apply!\n"


def test_export_and_execute_of_invalid_utf8_text(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sql = (
        "CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT); INSERT INTO t VALUES (1, X'00FF' || 'x');"
    )
    assert main(["d1", "execute", "DB", "--command", sql]) == 0
    capsys.readouterr()
    assert main(["d1", "execute", "DB", "--command", "SELECT a FROM t", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["results"] == [{"a": "\x00\ufffdx"}]
    out_file = project / "db.sql"
    assert main(["d1", "export", "DB", "--output", str(out_file)]) == 0
    assert main(["d1", "execute", "OTHER", "--file", str(out_file)]) == 0
    copy = _db_file(project, "other-db")
    assert _query(copy, "SELECT hex(a), typeof(a) FROM t") == [("00FF78", "text")]


def test_export_of_generated_columns_imports_back_through_the_cli(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sql = (
        "CREATE TABLE g (a INTEGER, twice AS (a * 2) VIRTUAL, label TEXT AS ('#' || a) STORED);"
        "INSERT INTO g (a) VALUES (1), (2);"
    )
    assert main(["d1", "execute", "DB", "--command", sql]) == 0
    out_file = project / "g.sql"
    assert main(["d1", "export", "DB", "--output", str(out_file)]) == 0
    assert main(["d1", "execute", "OTHER", "--file", str(out_file)]) == 0
    copy = _db_file(project, "other-db")
    assert _query(copy, "SELECT a, twice, label FROM g ORDER BY a") == [(1, 2, "#1"), (2, 4, "#2")]


def test_export_refuses_a_database_with_a_virtual_table_and_writes_nothing(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sql = "CREATE TABLE t (v); CREATE VIRTUAL TABLE f USING fts5(body);"
    assert main(["d1", "execute", "DB", "--command", sql]) == 0
    out_file = project / "f.sql"
    assert main(["d1", "export", "DB", "--output", str(out_file), "--table", "t"]) == 1
    assert "cannot export databases with Virtual Tables (fts5)" in capsys.readouterr().err
    assert not out_file.exists()
