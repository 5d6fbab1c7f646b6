"""D1 over the Cloudflare API, driven by the official ``cloudflare`` SDK."""

from __future__ import annotations

from pathlib import Path

import cloudflare
import pytest
from cloudflare import AsyncCloudflare

from cfemu import Emulator, VirtualClock

from .conftest import ACCOUNT, project, sdk

pytestmark = pytest.mark.anyio


async def test_a_row_written_over_the_api_is_read_by_the_worker(
    emulator: Emulator, cf: AsyncCloudflare
) -> None:
    page = await cf.d1.database.query(
        "notes-id",
        account_id=ACCOUNT,
        sql="INSERT INTO notes (body) VALUES (?) RETURNING id",
        params=["hello"],
    )
    [result] = page.result
    assert result.success and result.results == [{"id": 1}]
    assert result.meta is not None and result.meta.rows_written == 1
    assert result.meta.changed_db is True
    async with emulator.client() as client:
        assert (await client.get("/")).json() == {"notes": 1}


async def test_query_results_carry_d1_meta_as_the_binding_gives_it(
    emulator: Emulator, cf: AsyncCloudflare
) -> None:
    await emulator.env.DB.prepare("INSERT INTO notes (body) VALUES ('a'), ('b')").run()
    page = await cf.d1.database.query("notes-id", account_id=ACCOUNT, sql="SELECT * FROM notes")
    [result] = page.result
    binding = await emulator.env.DB.prepare("SELECT * FROM notes").all()
    assert result.results == [dict(r) for r in binding.results]
    assert result.meta is not None
    # Every field of the REST schema is filled, and with the binding's values.
    rest = result.meta.model_dump(exclude_none=True)
    assert set(type(result.meta).model_fields) <= set(rest)
    assert set(binding.meta) == set(rest)
    for key in ("served_by", "served_by_region", "served_by_colo", "served_by_primary"):
        assert rest[key] == binding.meta[key]
    assert rest["total_attempts"] == binding.meta["total_attempts"] == 1
    assert result.meta.timings is not None
    assert result.meta.timings.sql_duration_ms == result.meta.duration
    assert result.meta.rows_read == binding.meta.rows_read == 2


async def test_several_statements_in_one_sql_give_one_result_each(
    emulator: Emulator, cf: AsyncCloudflare
) -> None:
    page = await cf.d1.database.query(
        "notes-db",  # wrangler looks databases up by name too
        account_id=ACCOUNT,
        sql="INSERT INTO notes (body) VALUES ('x'); SELECT body FROM notes;",
    )
    assert [r.results for r in page.result] == [[], [{"body": "x"}]]


async def test_a_batch_runs_in_one_transaction(emulator: Emulator, cf: AsyncCloudflare) -> None:
    with pytest.raises(cloudflare.BadRequestError) as caught:
        await cf.d1.database.query(
            "notes-id",
            account_id=ACCOUNT,
            batch=[
                {"sql": "INSERT INTO notes (body) VALUES (?)", "params": ["kept?"]},
                {"sql": "INSERT INTO nowhere VALUES (1)"},
            ],
        )
    assert caught.value.status_code == 400
    [error] = caught.value.errors
    assert (error.code, error.message) == (7500, "no such table: nowhere: SQLITE_ERROR")
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert (await emulator.env.DB.prepare("SELECT count(*) AS n FROM notes").first())["n"] == 0


async def test_raw_gives_columns_even_without_rows_and_keeps_duplicates(
    cf: AsyncCloudflare,
) -> None:
    page = await cf.d1.database.raw(
        "notes-id", account_id=ACCOUNT, sql="SELECT id, body, id FROM notes"
    )
    [result] = page.result
    assert result.results is not None
    assert (result.results.columns, result.results.rows) == (["id", "body", "id"], [])
    # D1 counts the cursor positioned on the empty table: one row read.
    assert result.meta is not None and result.meta.rows_read == 1


async def test_create_list_get_and_delete_databases(cf: AsyncCloudflare) -> None:
    created = await cf.d1.database.create(account_id=ACCOUNT, name="scratch")
    assert created.name == "scratch" and created.uuid and created.created_at is not None
    with pytest.raises(cloudflare.BadRequestError) as caught:
        await cf.d1.database.create(account_id=ACCOUNT, name="scratch")
    assert caught.value.errors[0].code == 7502
    names = [db.name async for db in cf.d1.database.list(account_id=ACCOUNT)]
    assert names == ["notes-db", "scratch"]
    fetched = await cf.d1.database.get(created.uuid, account_id=ACCOUNT)
    assert (fetched.name, fetched.num_tables) == ("scratch", 0)
    await cf.d1.database.query(created.uuid, account_id=ACCOUNT, sql="CREATE TABLE t (a)")
    assert (await cf.d1.database.get(created.uuid, account_id=ACCOUNT)).num_tables == 1
    await cf.d1.database.delete(created.uuid, account_id=ACCOUNT)
    with pytest.raises(cloudflare.NotFoundError) as missing:
        await cf.d1.database.get(created.uuid, account_id=ACCOUNT)
    assert missing.value.errors[0].code == 7404


async def test_list_pages_until_an_empty_page(cf: AsyncCloudflare) -> None:
    for n in range(11):
        await cf.d1.database.create(account_id=ACCOUNT, name=f"db-{n:02}")
    first = await cf.d1.database.list(account_id=ACCOUNT, per_page=10)
    assert len(first.result) == 10
    everything = [db.name async for db in cf.d1.database.list(account_id=ACCOUNT, per_page=10)]
    assert len(everything) == 12 and everything[-1] == "db-10"
    matching = [db.name async for db in cf.d1.database.list(account_id=ACCOUNT, name="DB-0")]
    assert len(matching) == 10


async def test_a_database_a_worker_binds_cannot_be_deleted(cf: AsyncCloudflare) -> None:
    with pytest.raises(cloudflare.BadRequestError, match="bound by a Worker"):
        await cf.d1.database.delete("notes-id", account_id=ACCOUNT)


async def test_databases_created_over_the_api_survive_a_restart(tmp_path: Path) -> None:
    config = project(tmp_path)
    state = tmp_path / "state"
    async with Emulator.from_config(config, clock=VirtualClock(), persist_to=state) as emu:
        cf = sdk(emu)
        created = await cf.d1.database.create(account_id=ACCOUNT, name="kept")
        await cf.d1.database.query(
            created.uuid, account_id=ACCOUNT, sql="CREATE TABLE t (a); INSERT INTO t VALUES (7)"
        )
    async with Emulator.from_config(config, clock=VirtualClock(), persist_to=state) as emu:
        cf = sdk(emu)
        page = await cf.d1.database.query(created.uuid, account_id=ACCOUNT, sql="SELECT a FROM t")
        assert page.result[0].results == [{"a": 7}]
        assert (await cf.d1.database.get("kept", account_id=ACCOUNT)).uuid == created.uuid


async def test_a_persisted_database_deleted_over_the_api_is_not_taken_for_damage(
    tmp_path: Path,
) -> None:
    config = project(tmp_path)
    state = tmp_path / "state"
    async with Emulator.from_config(config, persist_to=state, clock=VirtualClock()) as emu:
        cf = sdk(emu)
        created = await cf.d1.database.create(account_id=ACCOUNT, name="scratch")
        await cf.d1.database.query(created.uuid, account_id=ACCOUNT, sql="CREATE TABLE t (a)")
    async with Emulator.from_config(config, persist_to=state, clock=VirtualClock()) as emu:
        await sdk(emu).d1.database.delete(created.uuid, account_id=ACCOUNT)
    # The next start does not refuse the folder for the file deleted on purpose.
    async with Emulator.from_config(config, persist_to=state, clock=VirtualClock()) as emu:
        names = [db.name async for db in sdk(emu).d1.database.list(account_id=ACCOUNT)]
        assert names == ["notes-db"]


async def test_export_then_import_through_the_signed_urls(
    emulator: Emulator, cf: AsyncCloudflare
) -> None:
    import hashlib

    import httpx

    from cfemu.api import api_app

    await emulator.env.DB.prepare("INSERT INTO notes (body) VALUES ('kept'), ('also')").run()
    exported = await cf.d1.database.export("notes-id", account_id=ACCOUNT, output_format="polling")
    assert exported.status == "complete" and exported.result is not None
    assert exported.result.signed_url is not None
    target = await cf.d1.database.create(account_id=ACCOUNT, name="copy")
    transport = httpx.ASGITransport(app=api_app(emulator))
    async with httpx.AsyncClient(transport=transport) as http:  # signed URLs need no token
        sql = (await http.get(exported.result.signed_url)).content
        assert b"CREATE TABLE" in sql and b"'also'" in sql
        etag = hashlib.md5(sql).hexdigest()
        init = await cf.d1.database.import_(
            target.uuid or "", account_id=ACCOUNT, action="init", etag=etag
        )
        assert init.upload_url is not None and init.filename is not None
        put = await http.put(init.upload_url, content=sql)
        assert put.headers["etag"] == etag
    ingested = await cf.d1.database.import_(
        target.uuid or "", account_id=ACCOUNT, action="ingest", etag=etag, filename=init.filename
    )
    assert ingested.status == "complete" and ingested.result is not None
    from cfemu.d1._sql import split_statements

    assert ingested.result.num_queries == len(split_statements(sql.decode())) >= 3
    page = await cf.d1.database.query(
        "copy", account_id=ACCOUNT, sql="SELECT body FROM notes ORDER BY id"
    )
    assert page.result[0].results == [{"body": "kept"}, {"body": "also"}]


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM notes",
        "SELECT * FROM notes WHERE id = 2",
        "SELECT count(*) AS n FROM notes",
        "UPDATE notes SET body = body WHERE id = 1",
        "UPDATE notes SET body = body",
    ],
)
async def test_rest_and_binding_count_rows_alike(
    emulator: Emulator, cf: AsyncCloudflare, sql: str
) -> None:
    await emulator.env.DB.prepare("INSERT INTO notes (body) VALUES ('a'), ('b'), ('c')").run()
    binding = (await emulator.env.DB.prepare(sql).all()).meta
    page = await cf.d1.database.query("notes-id", account_id=ACCOUNT, sql=sql)
    [result] = page.result
    assert result.meta is not None
    rest = (result.meta.rows_read, result.meta.rows_written, result.meta.changes)
    assert rest == (binding.rows_read, binding.rows_written, binding.changes)
    assert binding.rows_read >= 1
