"""The explorer's Durable Objects routes: namespaces, objects with storage, an object's
tables, key-value pairs and alarm, and read-only SQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from cfemu import Emulator, VirtualClock
from cfemu.explorer import explorer_app

from .test_api import API, error, result

pytestmark = pytest.mark.anyio

NS = f"{API}/workers/durable_objects/namespaces"
WORKER = """\
from workers import DurableObject, WorkerEntrypoint

class Counter(DurableObject):
    def __init__(self, ctx, env):
        super().__init__(ctx, env)
        ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS hits (n INTEGER)")

    async def hit(self, n):
        self.ctx.storage.sql.exec("INSERT INTO hits VALUES (?)", n)
        await self.ctx.storage.put("last", {"n": n})
        return n

    async def remind(self, at_ms):
        await self.ctx.storage.setAlarm(at_ms)

    async def alarm(self, info=None):
        pass

class Legacy(DurableObject):
    async def put(self, key, value):
        await self.ctx.storage.put(key, value)

class Default(WorkerEntrypoint):
    pass
"""
CONFIG = """\
name = "app"
main = "worker.py"
compatibility_date = "2026-11-01"

[[durable_objects.bindings]]
name = "COUNTER"
class_name = "Counter"

[[durable_objects.bindings]]
name = "LEGACY"
class_name = "Legacy"

[[migrations]]
tag = "v1"
new_sqlite_classes = ["Counter"]
new_classes = ["Legacy"]
"""


@pytest.fixture
async def do_emulator(tmp_path: Path) -> AsyncIterator[Emulator]:
    """An emulator with a SQLite-backed and a KV-backed Durable Object class."""
    (tmp_path / "worker.py").write_text(WORKER)
    (tmp_path / "wrangler.toml").write_text(CONFIG)
    async with Emulator.from_config(tmp_path / "wrangler.toml", clock=VirtualClock()) as emu:
        yield emu


@pytest.fixture
async def do_client(do_emulator: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    """The explorer of ``do_emulator``, in process."""
    transport = httpx.ASGITransport(app=explorer_app(do_emulator))
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        yield client


async def test_namespaces_are_the_bound_classes(do_client: httpx.AsyncClient) -> None:
    listed = await do_client.get(NS)
    assert result(listed) == [
        {
            "id": "app-Counter",
            "name": "app_Counter",
            "script": "app",
            "class": "Counter",
            "use_sqlite": True,
        },
        {
            "id": "app-Legacy",
            "name": "app_Legacy",
            "script": "app",
            "class": "Legacy",
            "use_sqlite": False,
        },
    ]
    assert listed.json()["result_info"] == {"count": 2}
    missing = await do_client.get(f"{NS}/app-Nope/objects")
    assert error(missing, 404, 10066) == "Durable Object namespace ID 'app-Nope' not found."


async def test_objects_with_storage_are_listed_with_names_and_cursor(
    do_client: httpx.AsyncClient, do_emulator: Emulator
) -> None:
    counter = do_emulator.env.COUNTER
    assert result(await do_client.get(f"{NS}/app-Counter/objects")) == []
    for i in range(12):
        await counter.getByName(f"c{i}").hit(i)
    counter.get(counter.idFromName("never-used"))  # a stub alone stores nothing
    first = await do_client.get(f"{NS}/app-Counter/objects?limit=10")
    objects = result(first)
    expected = sorted((counter.idFromName(f"c{i}").toString(), f"c{i}") for i in range(12))
    assert [(o["id"], o["name"]) for o in objects] == expected[:10]
    assert all(o["hasStoredData"] is True for o in objects)
    cursor = first.json()["result_info"]["cursor"]
    assert cursor == expected[9][0]
    rest = await do_client.get(f"{NS}/app-Counter/objects?limit=10&cursor={cursor}")
    assert [o["id"] for o in result(rest)] == [e[0] for e in expected[10:]]
    assert rest.json()["result_info"] == {"count": 2, "cursor": ""}
    too_few = await do_client.get(f"{NS}/app-Nope/objects?limit=5")  # before the lookup
    assert error(too_few, 400, 10001) == "limit: Too small: expected number to be >=10"


async def test_an_object_shows_its_tables_key_values_and_alarm(
    do_client: httpx.AsyncClient, do_emulator: Emulator
) -> None:
    stub = do_emulator.env.COUNTER.getByName("home")
    await stub.hit(1)
    await stub.hit(2)
    at = do_emulator.clock.now_ms() + 60_000
    await stub.remind(at)
    hex_id = stub.id.toString()
    seen = result(await do_client.get(f"{NS}/app-Counter/objects/{hex_id}"))
    assert (seen["id"], seen["name"], seen["alarm"], seen["kv_keys"]) == (hex_id, "home", at, 1)
    assert seen["tables"] == [
        {"name": "hits", "sql": "CREATE TABLE hits (n INTEGER)", "row_count": 2}
    ]
    assert seen["size_bytes"] > 0
    pairs = result(await do_client.get(f"{NS}/app-Counter/objects/{hex_id}/kv"))
    assert pairs == [{"key": "last", "value_preview": '{"n":2}'}]
    unknown = await do_client.get(f"{NS}/app-Counter/objects/{'0' * 64}")
    assert error(unknown, 404, 10001) == f"Durable Object {'0' * 64} has no stored data"


async def test_query_reads_an_objects_sql_by_id_or_name(
    do_client: httpx.AsyncClient, do_emulator: Emulator
) -> None:
    stub = do_emulator.env.COUNTER.getByName("home")
    for n in (3, 4):
        await stub.hit(n)
    by_name = await do_client.post(
        f"{NS}/app-Counter/query",
        json={
            "durable_object_name": "home",
            "queries": [
                {"sql": "SELECT n FROM hits WHERE n > ? ORDER BY n", "params": [0]},
                {"sql": "SELECT count(*) AS c FROM hits"},
            ],
        },
    )
    assert result(by_name) == [
        {"columns": ["n"], "rows": [[3], [4]], "meta": {"rows_read": 2, "rows_written": 0}},
        {"columns": ["c"], "rows": [[2]], "meta": {"rows_read": 1, "rows_written": 0}},
    ]
    by_id = await do_client.post(
        f"{NS}/app-Counter/query",
        json={"durable_object_id": stub.id.toString(), "queries": [{"sql": "SELECT 1 AS x"}]},
    )
    assert result(by_id)[0]["rows"] == [[1]]


async def test_query_is_read_only_and_creates_nothing(
    do_client: httpx.AsyncClient, do_emulator: Emulator
) -> None:
    stub = do_emulator.env.COUNTER.getByName("home")
    await stub.hit(1)
    url = f"{NS}/app-Counter/query"
    write = await do_client.post(
        url, json={"durable_object_name": "home", "queries": [{"sql": "DELETE FROM hits"}]}
    )
    assert error(write, 400, 10001) == "attempt to write a readonly database"
    assert await stub.hit(2) == 2  # the object still writes afterwards
    rows = await do_client.post(
        url, json={"durable_object_name": "home", "queries": [{"sql": "SELECT n FROM hits"}]}
    )
    assert result(rows)[0]["rows"] == [[1], [2]]
    internal = await do_client.post(
        url, json={"durable_object_name": "home", "queries": [{"sql": "SELECT * FROM _cf_KV"}]}
    )
    assert error(internal, 400, 10001) == "access to _cf_KV.key is prohibited"
    # An object without storage reads as an empty database and is not created.
    empty = await do_client.post(
        url,
        json={
            "durable_object_name": "nobody",
            "queries": [{"sql": "SELECT count(*) FROM sqlite_master"}],
        },
    )
    assert result(empty)[0]["rows"] == [[0]]
    listed = result(await do_client.get(f"{NS}/app-Counter/objects"))
    assert [o["name"] for o in listed] == ["home"]


async def test_query_errors_are_the_local_explorers(do_client: httpx.AsyncClient) -> None:
    url = f"{NS}/app-Counter/query"
    legacy = await do_client.post(
        f"{NS}/app-Legacy/query",
        json={"durable_object_name": "x", "queries": [{"sql": "SELECT 1"}]},
    )
    assert error(legacy, 400, 10001) == "Namespace does not use SQLite storage: app-Legacy"
    none = await do_client.post(url, json={"durable_object_name": "x", "queries": []})
    assert error(none, 400, 10001) == "No queries provided"
    bad_id = await do_client.post(
        url, json={"durable_object_id": "xyz", "queries": [{"sql": "SELECT 1"}]}
    )
    assert error(bad_id, 400, 10001) == "Invalid Durable Object ID: must be 64 hex digits"
    bad_sql = await do_client.post(
        url, json={"durable_object_name": "x", "queries": [{"sql": "SELECT * FROM nope"}]}
    )
    assert error(bad_sql, 400, 10001) == "no such table: nope"
    for body in (
        {"queries": [{"sql": "SELECT 1"}]},
        {"durable_object_name": "", "queries": [{"sql": "SELECT 1"}]},
        {"durable_object_name": "x", "queries": [{"sql": ""}]},
        {"durable_object_name": "x"},
    ):
        # Neither shape of Cloudflare's union: checked before the namespace is looked up.
        for target in (url, f"{NS}/app-Nope/query"):
            assert error(await do_client.post(target, json=body), 400, 10001) == "Invalid input"
    unknown = await do_client.post(
        f"{NS}/app-Nope/query", json={"durable_object_name": "x", "queries": []}
    )
    assert error(unknown, 404, 10066) == "Durable Object namespace ID 'app-Nope' not found."


async def test_kv_backed_objects_are_listed_with_names_too(
    do_client: httpx.AsyncClient, do_emulator: Emulator
) -> None:
    await do_emulator.env.LEGACY.getByName("old").put("k", [1, 2])
    legacy = do_emulator.env.LEGACY
    unnamed = legacy.get(legacy.newUniqueId())
    await unnamed.put("u", 1)
    listed = result(await do_client.get(f"{NS}/app-Legacy/objects"))
    old_id = legacy.idFromName("old").toString()
    # (Cloudflare's explorer names only SQLite-backed objects; cfemu knows both.)
    assert sorted(listed, key=lambda o: o.get("name", "")) == [
        {"id": unnamed.id.toString(), "hasStoredData": True},
        {"id": old_id, "name": "old", "hasStoredData": True},
    ]
    pairs = result(await do_client.get(f"{NS}/app-Legacy/objects/{old_id}/kv"))
    assert pairs == [{"key": "k", "value_preview": "[1,2]"}]


async def test_persisted_objects_are_listed_after_a_restart_with_their_names(
    tmp_path: Path,
) -> None:
    (tmp_path / "worker.py").write_text(WORKER)
    config = tmp_path / "wrangler.toml"
    config.write_text(CONFIG)
    state = tmp_path / "state"
    async with Emulator.from_config(config, clock=VirtualClock(), persist_to=state) as emu:
        await emu.env.COUNTER.getByName("kept").hit(7)
        await emu.env.COUNTER.getByName('ünïcode "name"').hit(1)
        await emu.env.LEGACY.getByName("old").put("k", 1)
        unique = emu.env.COUNTER.newUniqueId()
        await emu.env.COUNTER.get(unique).hit(2)
    async with Emulator.from_config(config, clock=VirtualClock(), persist_to=state) as emu:
        transport = httpx.ASGITransport(app=explorer_app(emu))
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
            # Nothing was addressed since the restart: the names come from the state folder.
            listed = result(await c.get(f"{NS}/app-Counter/objects"))
            assert {o["id"]: o.get("name") for o in listed} == {
                emu.env.COUNTER.idFromName("kept").toString(): "kept",
                emu.env.COUNTER.idFromName('ünïcode "name"').toString(): 'ünïcode "name"',
                unique.toString(): None,
            }
            [old] = result(await c.get(f"{NS}/app-Legacy/objects"))
            assert old["name"] == "old"
            kept = emu.env.COUNTER.idFromName("kept").toString()
            described = result(await c.get(f"{NS}/app-Counter/objects/{kept}"))
            assert described["name"] == "kept"
            rows = await c.post(
                f"{NS}/app-Counter/query",
                json={"durable_object_id": kept, "queries": [{"sql": "SELECT n FROM hits"}]},
            )
            assert result(rows)[0]["rows"] == [[7]]


async def test_the_name_index_survives_a_torn_line_and_goes_with_a_reset(tmp_path: Path) -> None:
    from cfemu.state import NAME_INDEX_FILE, reset_state_folder

    (tmp_path / "worker.py").write_text(WORKER)
    config = tmp_path / "wrangler.toml"
    config.write_text(CONFIG)
    state = tmp_path / "state"
    async with Emulator.from_config(config, clock=VirtualClock(), persist_to=state) as emu:
        await emu.env.COUNTER.getByName("a").hit(1)
        await emu.env.COUNTER.getByName("a").hit(2)  # known: written once
        await emu.env.COUNTER.getByName("b").hit(3)
    [index] = list(state.rglob(NAME_INDEX_FILE))
    assert len(index.read_text().splitlines()) == 2
    with index.open("a") as torn:  # a crash in the middle of a line
        torn.write('["abc')
    async with Emulator.from_config(config, clock=VirtualClock(), persist_to=state) as emu:
        transport = httpx.ASGITransport(app=explorer_app(emu))
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
            listed = result(await c.get(f"{NS}/app-Counter/objects"))
            assert sorted(o["name"] for o in listed) == ["a", "b"]
    assert any(NAME_INDEX_FILE in path for path in reset_state_folder(state))
    assert list(state.rglob(NAME_INDEX_FILE)) == []


async def test_a_name_kept_with_an_alarm_by_an_older_cfemu_is_still_found(
    tmp_path: Path,
) -> None:
    from cfemu.state import NAME_INDEX_FILE

    (tmp_path / "worker.py").write_text(WORKER)
    config = tmp_path / "wrangler.toml"
    config.write_text(CONFIG)
    state = tmp_path / "state"
    async with Emulator.from_config(config, clock=VirtualClock(), persist_to=state) as emu:
        await emu.env.COUNTER.getByName("waker").remind(10**13)
    [index] = list(state.rglob(NAME_INDEX_FILE))
    index.unlink()  # as an older cfemu left it: the name only beside the alarm
    async with Emulator.from_config(config, clock=VirtualClock(), persist_to=state) as emu:
        transport = httpx.ASGITransport(app=explorer_app(emu))
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
            [waker] = result(await c.get(f"{NS}/app-Counter/objects"))
            assert waker["name"] == "waker"
    assert "waker" in index.read_text()  # and now in the index too


async def test_an_objects_key_value_pairs_come_in_pages(
    do_client: httpx.AsyncClient, do_emulator: Emulator
) -> None:
    legacy = do_emulator.env.LEGACY.getByName("many")
    for i in range(5):
        await legacy.put(f"k{i}", i)
    hex_id = legacy.id.toString()
    url = f"{NS}/app-Legacy/objects/{hex_id}/kv?limit=2"
    seen: list[str] = []
    cursor = ""
    while True:
        page = await do_client.get(url + (f"&cursor={cursor}" if cursor else ""))
        seen += [p["key"] for p in result(page)]
        cursor = page.json()["result_info"]["cursor"]
        if not cursor:
            break
    assert seen == [f"k{i}" for i in range(5)]
