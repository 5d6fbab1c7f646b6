"""The explorer's D1 views: tables with schema, paged rows, migrations, export, raw columns."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cfemu import Emulator, VirtualClock
from cfemu.explorer import explorer_app

from .conftest import SCHEMA, write_project
from .test_api import API, error, result

pytestmark = pytest.mark.anyio

DB = f"{API}/d1/database/tasks-id"


async def fill(emulator: Emulator, n: int) -> None:
    """Insert ``n`` rows into ``done`` (bodies ``b0``, ``b1``, ...)."""
    statements = [
        emulator.env.DB.prepare("INSERT INTO done (body) VALUES (?)").bind(f"b{i}")
        for i in range(n)
    ]
    if statements:
        await emulator.env.DB.batch(statements)


async def test_raw_columns_come_from_the_first_row_so_none_without_rows(
    client: httpx.AsyncClient,
) -> None:
    # spec rest-api.md §7: Cloudflare's local explorer builds columns from the first row.
    [empty] = result(await client.post(f"{DB}/raw", json={"sql": "SELECT body FROM done"}))
    assert empty["results"] == {"columns": [], "rows": []}
    await client.post(f"{DB}/raw", json={"sql": "INSERT INTO done (body) VALUES ('x')"})
    [one] = result(await client.post(f"{DB}/raw", json={"sql": "SELECT id, body FROM done"}))
    assert one["results"] == {"columns": ["id", "body"], "rows": [[1, "x"]]}


async def test_tables_list_schema_columns_and_row_counts(
    client: httpx.AsyncClient, emulator: Emulator
) -> None:
    await fill(emulator, 3)
    await emulator.env.DB.exec("CREATE VIEW recent AS SELECT body FROM done")
    listed = await client.get(f"{DB}/tables")
    tables = {t["name"]: t for t in result(listed)}
    assert list(tables) == ["done", "outage", "recent"]  # by name; sqlite_ and _cf_ hidden
    assert listed.json()["result_info"] == {"count": 3}
    done = tables["done"]
    assert (done["type"], done["row_count"]) == ("table", 3)
    assert done["sql"] == "CREATE TABLE done (id INTEGER PRIMARY KEY, body TEXT)"
    assert [(c["name"], c["type"], c["pk"]) for c in done["columns"]] == [
        ("id", "INTEGER", 1),
        ("body", "TEXT", 0),
    ]
    assert (tables["outage"]["row_count"], tables["recent"]["row_count"]) == (0, None)
    assert tables["recent"]["type"] == "view"


async def test_rows_come_in_pages_with_the_total_count(
    client: httpx.AsyncClient, emulator: Emulator
) -> None:
    await fill(emulator, 25)
    first = await client.get(f"{DB}/tables/done/rows?per_page=10")
    page = result(first)
    assert page["columns"] == ["id", "body"]
    assert [r[1] for r in page["rows"]] == [f"b{i}" for i in range(10)]
    assert first.json()["result_info"] == {
        "page": 1,
        "per_page": 10,
        "count": 10,
        "total_count": 25,
        "total_pages": 3,
    }
    last = await client.get(f"{DB}/tables/done/rows?per_page=10&page=3")
    assert [r[1] for r in result(last)["rows"]] == [f"b{i}" for i in range(20, 25)]
    beyond = await client.get(f"{DB}/tables/done/rows?per_page=10&page=9")
    assert result(beyond) == {"columns": ["id", "body"], "rows": []}  # columns even when empty


async def test_rows_of_a_without_rowid_table_follow_its_primary_key(
    client: httpx.AsyncClient, emulator: Emulator
) -> None:
    await emulator.env.DB.exec(
        "CREATE TABLE tags (b TEXT, a INTEGER, PRIMARY KEY (a, b)) WITHOUT ROWID"
    )
    await emulator.env.DB.exec("INSERT INTO tags VALUES ('z', 2), ('y', 1), ('x', 2)")
    rows = result(await client.get(f"{DB}/tables/tags/rows"))["rows"]
    assert rows == [["y", 1], ["x", 2], ["z", 2]]


async def test_rows_refuse_unknown_tables_and_bad_paging(client: httpx.AsyncClient) -> None:
    assert error(await client.get(f"{DB}/tables/nope/rows"), 404, 10001) == "no such table: nope"
    # A name that would be SQL is a table name like any other, not SQL.
    sneaky = await client.get(f"{DB}/tables/done%22%3B%20DROP%20TABLE%20done%3B--/rows")
    assert error(sneaky, 404, 10001).startswith("no such table")
    assert "per_page" in error(await client.get(f"{DB}/tables/done/rows?per_page=0"), 400, 10001)
    assert "page" in error(await client.get(f"{DB}/tables/done/rows?page=x"), 400, 10001)
    missing = await client.get(f"{API}/d1/database/other/tables")
    assert error(missing, 404, 7404) == "The database other could not be found"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(total=st.integers(0, 40), per_page=st.integers(1, 12))
def test_paging_visits_every_row_once(
    tmp_path_factory: pytest.TempPathFactory, total: int, per_page: int
) -> None:
    import anyio

    async def check() -> None:
        folder = tmp_path_factory.mktemp("paging")
        async with Emulator.from_config(write_project(folder), clock=VirtualClock()) as emu:
            await emu.env.DB.exec(SCHEMA.replace("; ", ";\n"))
            await fill(emu, total)
            transport = httpx.ASGITransport(app=explorer_app(emu))
            async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
                seen: list[str] = []
                first = (await c.get(f"{DB}/tables/done/rows?per_page={per_page}")).json()
                pages = first["result_info"]["total_pages"]
                assert first["result_info"]["total_count"] == total
                for page in range(1, pages + 1):
                    got = await c.get(f"{DB}/tables/done/rows?per_page={per_page}&page={page}")
                    seen += [row[1] for row in result(got)["rows"]]
                assert seen == [f"b{i}" for i in range(total)]

    anyio.run(check)


async def test_migrations_list_applied_and_pending_without_changing_the_database(
    tmp_path: Path,
) -> None:
    config = write_project(tmp_path)
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001_init.sql").write_text("CREATE TABLE a (x);")
    (folder / "0002_more.sql").write_text("CREATE TABLE b (y);")
    async with Emulator.from_config(config, clock=VirtualClock()) as emu:
        transport = httpx.ASGITransport(app=explorer_app(emu))
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
            before = result(await c.get(f"{DB}/migrations"))
            assert before["applied"] == []
            assert before["pending"] == ["0001_init.sql", "0002_more.sql"]
            assert (before["migrations_table"], before["migrations_dir"]) == (
                "d1_migrations",
                str(folder),
            )
            # Looking did not create the tracking table (wrangler's apply does).
            assert [t["name"] for t in result(await c.get(f"{DB}/tables"))] == []
            (folder / "0003_late.sql").write_text("CREATE TABLE c (z);")
            await emu.apply_migrations("DB")
            (folder / "0004_new.sql").write_text("CREATE TABLE d (w);")
            after = result(await c.get(f"{DB}/migrations"))
            assert [m["name"] for m in after["applied"]] == [
                "0001_init.sql",
                "0002_more.sql",
                "0003_late.sql",
            ]
            assert [m["id"] for m in after["applied"]] == [1, 2, 3]
            assert all(m["applied_at"] for m in after["applied"])
            assert after["pending"] == ["0004_new.sql"]


async def test_export_downloads_an_sql_dump_that_imports_again(
    client: httpx.AsyncClient, emulator: Emulator, tmp_path: Path
) -> None:
    await fill(emulator, 2)
    dumped = await client.get(f"{DB}/export")
    assert dumped.status_code == 200
    assert dumped.headers["content-type"] == "application/sql; charset=utf-8"
    assert dumped.headers["content-disposition"] == 'attachment; filename="tasks-db.sql"'
    text = dumped.text
    assert "CREATE TABLE done" in text and 'INSERT INTO "done"' in text
    # The dump rebuilds the database elsewhere.
    other = tmp_path / "other"
    other.mkdir()
    async with Emulator.from_config(write_project(other), clock=VirtualClock()) as fresh:
        await fresh.env.DB.exec(text)
        rows = await fresh.env.DB.prepare("SELECT body FROM done ORDER BY id").raw()
        assert rows == [["b0"], ["b1"]]
    schema_only = (await client.get(f"{DB}/export?no_data=1")).text
    assert "CREATE TABLE done" in schema_only and "INSERT" not in schema_only
    one_table = (await client.get(f"{DB}/export?table=outage")).text
    assert "outage" in one_table and "done" not in one_table


async def test_export_refuses_a_database_with_a_virtual_table(
    client: httpx.AsyncClient, emulator: Emulator
) -> None:
    await emulator.env.DB.exec("CREATE VIRTUAL TABLE search USING fts5(body)")
    refused = await client.get(f"{DB}/export")
    assert error(refused, 400, 10001) == (
        "D1 Export error: cannot export databases with Virtual Tables (fts5)"
    )
