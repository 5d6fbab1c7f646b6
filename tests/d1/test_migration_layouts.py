"""``migrations_pattern`` layouts, trailing comments, and --file/migration splitting agreement."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cfemu.config import load_config
from cfemu.d1 import (
    D1Database,
    apply_migrations,
    create_migration,
    list_migrations,
    pending_migrations,
)
from cfemu.d1._sql import split_statements
from cfemu.d1.layout import expand_braces, matches, relative_pattern
from cfemu.errors import MigrationError

pytestmark = pytest.mark.anyio


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_the_drizzle_layout_lists_each_folders_migration_file(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "10_later/migration.sql": "",
            "2_second/migration.sql": "",
            "0001_first/migration.sql": "",
            "0001_first/snapshot.json": "{}",
            "0003_top.sql": "",  # not matched by the nested pattern
            ".hidden/migration.sql": "",  # wildcards skip dot names (minimatch, dot: false)
        },
    )
    assert list_migrations(tmp_path, "*/migration.sql") == [
        "0001_first/migration.sql",
        "2_second/migration.sql",
        "10_later/migration.sql",
    ]
    assert list_migrations(tmp_path) == ["0003_top.sql"]


def test_a_globstar_pattern_finds_files_at_any_depth(tmp_path: Path) -> None:
    _write(
        tmp_path, {"0002_b.sql": "", "0001_a/x/0001.sql": "", "0001_a/0002.sql": "", "n.txt": ""}
    )
    assert list_migrations(tmp_path, "**/*.sql") == [
        "0001_a/0002.sql",
        "0001_a/x/0001.sql",
        "0002_b.sql",
    ]


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        ("*.sql", "0001_a.sql", True),
        ("*.sql", "a/0001.sql", False),
        ("*/migration.sql", "0001_a/migration.sql", True),
        ("**/*.sql", "a/b/c.sql", True),
        ("**/*.sql", "c.sql", True),
        ("*.sql", ".c.sql", False),
        ("0*_*.sql", "0001_a.sql", True),
        ("*/{migration,up}.sql", "0001_a/up.sql", True),
        ("*/{migration,up}.sql", "0001_a/down.sql", False),
        ("{a,b/{c,d}}/*.sql", "b/d/x.sql", True),
        ("{a,b/{c,d}}/*.sql", "b/x.sql", False),
        ("000{1..3}_*.sql", "0002_x.sql", True),
        ("000{1..3}_*.sql", "0004_x.sql", False),
        ("{a}.sql", "{a}.sql", True),  # no comma, no range: literal, as minimatch
    ],
)
def test_glob_matching(pattern: str, name: str, expected: bool) -> None:
    assert matches(pattern, name) is expected


@pytest.mark.parametrize(
    ("pattern", "expanded"),
    [
        ("*.sql", ["*.sql"]),
        ("{a,b}/*.sql", ["a/*.sql", "b/*.sql"]),
        ("x{1..3}", ["x1", "x2", "x3"]),
        ("x{03..01}", ["x03", "x02", "x01"]),
        ("{a,{b,c}}d", ["ad", "bd", "cd"]),
        ("{a,a}", ["a"]),
        ("a{b", ["a{b"]),
    ],
)
def test_braces_expand_as_minimatch_does(pattern: str, expanded: list[str]) -> None:
    assert expand_braces(pattern) == expanded


def test_a_brace_pattern_lists_files_of_each_alternative_in_order(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "0002_b/up.sql": "",
            "0001_a/migration.sql": "",
            "0003_c/down.sql": "",
            "0004_d.sql": "",
        },
    )
    found = list_migrations(tmp_path, "{*/migration.sql,*/up.sql,*.sql}")
    assert found == ["0001_a/migration.sql", "0002_b/up.sql", "0004_d.sql"]


def test_read_d1_migrations_honours_migrations_pattern(tmp_path: Path) -> None:
    from cfemu.testing import read_d1_migrations

    _write(
        tmp_path / "migrations",
        {
            "0002_b/migration.sql": "CREATE TABLE b (x); -- done",
            "0001_a/migration.sql": "CREATE TABLE a (x);\nCREATE TABLE a2 (x);",
            "0003_top.sql": "CREATE TABLE top (x);",
        },
    )
    folder = tmp_path / "migrations"
    nested = read_d1_migrations(folder, migrations_pattern=f"{folder}/*/migration.sql")
    assert [(m.name, len(m.queries)) for m in nested] == [
        ("0001_a/migration.sql", 2),
        ("0002_b/migration.sql", 1),
    ]
    assert [m.name for m in read_d1_migrations(folder)] == ["0003_top.sql"]
    with pytest.raises(MigrationError, match="must start with"):
        read_d1_migrations(folder, migrations_pattern="elsewhere/*.sql")


def test_the_pattern_is_relative_to_the_migrations_dir() -> None:
    assert relative_pattern(None, None) == "*.sql"
    assert relative_pattern("db/migrations/", "./db/migrations/*/migration.sql") == (
        "*/migration.sql"
    )
    assert relative_pattern(".", "*.sql") == "*.sql"
    with pytest.raises(MigrationError, match="must start with `migrations/`"):
        relative_pattern("migrations", "schema/*.sql")
    with pytest.raises(MigrationError, match="have not set `migrations_dir`"):
        relative_pattern(None, "migrations/*.sql")


def test_the_config_carries_the_pattern(tmp_path: Path) -> None:
    config = tmp_path / "wrangler.toml"
    config.write_text(
        'name = "w"\nmain = "w.py"\n[[d1_databases]]\nbinding = "DB"\ndatabase_name = "d"\n'
        'migrations_dir = "drizzle"\nmigrations_pattern = "drizzle/*/migration.sql"\n',
        encoding="utf-8",
    )
    [db] = load_config(config).d1_databases
    assert db.migrations_glob() == "*/migration.sql"
    config.write_text(
        'name = "w"\nmain = "w.py"\n[[d1_databases]]\nbinding = "DB"\n'
        'migrations_pattern = "migrations/*.sql"\n',
        encoding="utf-8",
    )
    [db] = load_config(config).d1_databases
    with pytest.raises(MigrationError, match="migrations_dir"):
        db.migrations_glob()


async def test_nested_migrations_apply_in_order_and_are_recorded_by_path(
    db: D1Database, tmp_path: Path
) -> None:
    _write(
        tmp_path,
        {
            "0002_b/migration.sql": "INSERT INTO t VALUES ('second');",
            "0001_a/migration.sql": "CREATE TABLE t (v TEXT);",
        },
    )
    pattern = "*/migration.sql"
    assert await pending_migrations(db, tmp_path, pattern=pattern) == [
        "0001_a/migration.sql",
        "0002_b/migration.sql",
    ]
    assert await apply_migrations(db, tmp_path, pattern=pattern) == [
        "0001_a/migration.sql",
        "0002_b/migration.sql",
    ]
    names = await db.prepare("SELECT name FROM d1_migrations ORDER BY id").raw()
    assert names == [["0001_a/migration.sql"], ["0002_b/migration.sql"]]
    assert await pending_migrations(db, tmp_path, pattern=pattern) == []


async def test_a_trailing_comment_and_blank_lines_anywhere_are_harmless(
    db: D1Database, tmp_path: Path
) -> None:
    _write(
        tmp_path,
        {
            "0001_init.sql": "\n\n-- leading\n\nCREATE TABLE t (v);\n\n/* block */\n"
            "INSERT INTO t VALUES (1); -- same line\n\n-- trailing comment, no newline",
            "0002_only_comments.sql": "-- nothing to do yet\n\n",
        },
    )
    assert await apply_migrations(db, tmp_path) == ["0001_init.sql", "0002_only_comments.sql"]
    assert await db.prepare("SELECT count(*) AS n FROM t").first("n") == 1


def test_create_numbers_from_the_matched_files_and_refuses_nested_layouts(
    tmp_path: Path,
) -> None:
    _write(tmp_path, {"0007_x/migration.sql": "", "0009_stray.sql": ""})
    with pytest.raises(MigrationError, match="does not match the configured migrations_pattern"):
        create_migration(tmp_path, "next", pattern="*/migration.sql")
    created = create_migration(tmp_path, "add users", pattern="**/*.sql")
    assert created.name == "0010_add_users.sql"
    assert create_migration(tmp_path, "again").name == "0011_again.sql"


_pieces = st.sampled_from(
    [
        "CREATE TABLE IF NOT EXISTS t (v TEXT);",
        "INSERT INTO t VALUES ('a;b');",
        "INSERT INTO t VALUES (1) /* ; */;",
        "-- a comment; with a semicolon",
        "/* block\ncomment */",
        "",
        "   ",
        ";",
        "CREATE TRIGGER IF NOT EXISTS tr AFTER INSERT ON t BEGIN SELECT 1; END;",
        "SELECT '--not a comment';",
    ]
)


async def _state(db: D1Database) -> list[list[object]]:
    schema = await db.prepare(
        "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' "
        "AND name != 'd1_migrations' ORDER BY name"
    ).raw()
    has_t = any(row[1] == "t" for row in schema)
    rows = await db.prepare("SELECT v FROM t ORDER BY rowid").raw() if has_t else []
    return [*schema, *rows]


@settings(max_examples=40, deadline=None)
@given(st.lists(_pieces, max_size=8), st.sampled_from(["\n", "\n\n", " ", "\r\n"]))
async def test_migrations_and_file_execution_run_any_file_the_same_way(
    pieces: list[str], joiner: str
) -> None:
    """``apply`` runs a file exactly as ``execute --file`` does (plus its record): same
    statements, same outcome, and a file of only comments/blank lines is no error."""
    import tempfile

    from cfemu.d1 import open_database

    text = joiner.join(pieces)
    statements = split_statements(text)
    by_file, by_migration = open_database(None), open_database(None)
    try:
        file_error = migration_error = None
        if statements:  # `execute --file` of nothing runs nothing
            try:
                await by_file.batch([by_file.prepare(s) for s in statements])
            except Exception as exc:
                file_error = exc
        with tempfile.TemporaryDirectory() as folder:
            _write(Path(folder), {"0001_x.sql": text})
            try:
                await apply_migrations(by_migration, folder)
            except MigrationError as exc:
                migration_error = exc
        assert (file_error is None) == (migration_error is None), (file_error, migration_error)
        assert await _state(by_file) == await _state(by_migration)
    finally:
        by_file.close()
        by_migration.close()
