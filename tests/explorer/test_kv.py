"""The explorer's KV routes: namespaces, keys with prefix and cursor, values with metadata
and expiration, bulk get, and Cloudflare's local-explorer errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from cfemu import Emulator, VirtualClock
from cfemu.explorer import explorer_app

from .test_api import API, error, result

pytestmark = pytest.mark.anyio

KV = f"{API}/storage/kv/namespaces"
CONFIG = """\
name = "kv-site"
main = "worker.py"
compatibility_date = "2026-11-01"

[[kv_namespaces]]
binding = "SESSIONS"
id = "b-sessions"

[[kv_namespaces]]
binding = "ASSETS_CACHE"
id = "a-cache"
"""


@pytest.fixture
async def kv_emulator(tmp_path: Path) -> AsyncIterator[Emulator]:
    """An emulator with two KV namespaces."""
    (tmp_path / "worker.py").write_text(
        "from workers import WorkerEntrypoint\n\nclass Default(WorkerEntrypoint):\n    pass\n"
    )
    (tmp_path / "wrangler.toml").write_text(CONFIG)
    async with Emulator.from_config(tmp_path / "wrangler.toml", clock=VirtualClock()) as emu:
        yield emu


@pytest.fixture
async def kv_client(kv_emulator: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    """The explorer of ``kv_emulator``, in process."""
    transport = httpx.ASGITransport(app=explorer_app(kv_emulator))
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        yield client


async def test_namespaces_are_listed_and_sorted(kv_client: httpx.AsyncClient) -> None:
    listed = await kv_client.get(KV)
    assert result(listed) == [
        {"id": "a-cache", "title": "ASSETS_CACHE"},
        {"id": "b-sessions", "title": "SESSIONS"},
    ]
    assert listed.json()["result_info"] == {"count": 2}
    by_title = result(await kv_client.get(f"{KV}?order=title&direction=desc"))
    assert [ns["title"] for ns in by_title] == ["SESSIONS", "ASSETS_CACHE"]
    assert error(await kv_client.get(f"{KV}?order=size"), 400, 10001) == (
        'order: Invalid option: expected one of "id"|"title"'
    )


async def test_no_kv_bindings_list_no_namespaces(client: httpx.AsyncClient) -> None:
    # The shared explorer project binds one namespace; an unknown one is Cloudflare's 404.
    assert result(await client.get(KV)) == [{"id": "cache-id", "title": "CACHE"}]
    missing = await client.get(f"{KV}/nope/keys")
    assert error(missing, 404, 10013) == "list keys: 'namespace not found'"
    gone = await client.get(f"{KV}/nope/values/k")
    assert error(gone, 404, 10013) == "get: 'namespace not found'"
    put = await client.put(f"{KV}/nope/values/k", content=b"v")
    assert error(put, 404, 10013) == "put: 'namespace not found'"
    deleted = await client.delete(f"{KV}/nope/values/k")
    assert error(deleted, 404, 10013) == "remove key: 'namespace not found'"


async def test_keys_page_with_prefix_and_cursor_and_show_metadata(
    kv_client: httpx.AsyncClient, kv_emulator: Emulator
) -> None:
    sessions = kv_emulator.env.SESSIONS
    for i in range(25):
        await sessions.put(f"user:{i:02d}", "x", metadata={"n": i})
    await sessions.put("other", "y", expirationTtl=120)
    first = await kv_client.get(f"{KV}/b-sessions/keys?prefix=user:&limit=10")
    keys = result(first)
    assert [k["name"] for k in keys] == [f"user:{i:02d}" for i in range(10)]
    assert keys[0] == {"name": "user:00", "metadata": {"n": 0}}  # no expiration: left out
    cursor = first.json()["result_info"]["cursor"]
    assert first.json()["result_info"]["count"] == 10 and cursor
    names: list[str] = [k["name"] for k in keys]
    while cursor:
        page = await kv_client.get(f"{KV}/b-sessions/keys?prefix=user:&limit=10&cursor={cursor}")
        names += [k["name"] for k in result(page)]
        cursor = page.json()["result_info"]["cursor"]
    assert names == [f"user:{i:02d}" for i in range(25)]
    [other] = result(await kv_client.get(f"{KV}/b-sessions/keys?prefix=oth"))
    assert other == {"name": "other", "expiration": int(kv_emulator.clock.now()) + 120}
    too_small = await kv_client.get(f"{KV}/b-sessions/keys?limit=5")
    assert "limit" in error(too_small, 400, 10001)


async def test_values_are_read_raw_written_with_metadata_and_expiration_and_deleted(
    kv_client: httpx.AsyncClient, kv_emulator: Emulator
) -> None:
    value_url = f"{KV}/a-cache/values/page%2Fhome"  # the key "page/home"
    put = await kv_client.put(value_url, content=b"\x00binary\xff")
    assert result(put) == {}
    got = await kv_client.get(value_url)
    assert (got.status_code, got.content) == (200, b"\x00binary\xff")  # raw, no envelope
    assert await kv_emulator.env.ASSETS_CACHE.get("page/home", "arrayBuffer") is not None

    # multipart: value and metadata, as Cloudflare's explorer takes them; TTL from the query.
    written = await kv_client.put(
        f"{value_url}?expiration_ttl=300",
        files={"value": (None, "hello"), "metadata": (None, '{"lang": "en"}')},
    )
    assert result(written) == {}
    seen = await kv_emulator.env.ASSETS_CACHE.getWithMetadata("page/home")
    assert (seen["value"], seen["metadata"]) == ("hello", {"lang": "en"})
    meta = await kv_client.get(f"{KV}/a-cache/metadata/page%2Fhome")
    assert result(meta) == {"lang": "en"}
    [key] = result(await kv_client.get(f"{KV}/a-cache/keys"))
    assert key["expiration"] == int(kv_emulator.clock.now()) + 300
    await kv_emulator.advance(301)  # expiry runs on the emulator's clock
    assert error(await kv_client.get(value_url), 404, 10009) == "get: 'key not found'"

    await kv_client.put(value_url, content=b"again")
    assert result(await kv_client.delete(value_url)) == {}
    assert error(await kv_client.get(value_url), 404, 10009) == "get: 'key not found'"
    absent = await kv_client.get(f"{KV}/a-cache/metadata/page%2Fhome")
    assert error(absent, 404, 10009) == "get: 'key not found'"


async def test_kv_refusals_carry_kv_wording(kv_client: httpx.AsyncClient) -> None:
    url = f"{KV}/a-cache/values/k"
    short = await kv_client.put(f"{url}?expiration_ttl=10", content=b"v")
    assert error(short, 400, 10001) == (
        "KV PUT failed: 400 Invalid expiration_ttl of 10. Expiration TTL must be at least 60."
    )
    bad_meta = await kv_client.put(url, files={"value": (None, "v"), "metadata": (None, "{")})
    assert error(bad_meta, 400, 10001) == "Invalid metadata JSON"
    no_value = await kv_client.put(url, files={"metadata": (None, "{}")})
    assert error(no_value, 400, 10001) == "Missing value field"
    huge = await kv_client.put(
        url, files={"value": (None, "v"), "metadata": (None, f'"{"x" * 1100}"')}
    )
    assert error(huge, 413, 10001).startswith("KV PUT failed: 413 Metadata length of 1102")


async def test_bulk_get_answers_null_for_missing_keys(
    kv_client: httpx.AsyncClient, kv_emulator: Emulator
) -> None:
    await kv_emulator.env.SESSIONS.put("a", "1")
    bulk = await kv_client.post(f"{KV}/b-sessions/bulk/get", json={"keys": ["a", "b"]})
    assert result(bulk) == {"values": {"a": "1", "b": None}}
    bad = await kv_client.post(f"{KV}/b-sessions/bulk/get", json={"keys": "a"})
    assert "keys" in error(bad, 400, 10001)


async def test_requests_are_checked_in_cloudflares_words_before_the_namespace_is_found(
    kv_client: httpx.AsyncClient,
) -> None:
    for ns in ("b-sessions", "nope"):
        few = await kv_client.get(f"{KV}/{ns}/keys?limit=5")
        assert error(few, 400, 10001) == "limit: Too small: expected number to be >=10"
        many = await kv_client.get(f"{KV}/{ns}/keys?limit=5000")
        assert error(many, 400, 10001) == "limit: Too big: expected number to be <=1000"
        word = await kv_client.get(f"{KV}/{ns}/keys?limit=ten")
        assert error(word, 400, 10001) == (
            'limit: Expected query param to be number but received "ten"'
        )
        bulk = await kv_client.post(f"{KV}/{ns}/bulk/get", json={"keys": ["k"] * 101})
        assert error(bulk, 400, 10001) == "keys: Too big: expected array to have <=100 items"
    both = await kv_client.get(f"{KV}?order=size&direction=up")
    assert both.status_code == 400
    assert [e["message"] for e in both.json()["errors"]] == [
        'order: Invalid option: expected one of "id"|"title"',
        'direction: Invalid option: expected one of "asc"|"desc"',
    ]
    assert all(e["code"] == 10001 for e in both.json()["errors"])
    long = await kv_client.post(f"{KV}/b-sessions/bulk/get", json={"keys": ["ok", "x" * 513, 3]})
    assert [e["message"] for e in long.json()["errors"]] == [
        "keys.1: Too big: expected string to have <=512 characters",
        "keys.2: Invalid input: expected string, received number",
    ]
    missing = await kv_client.post(f"{KV}/nope/bulk/get", json={"keys": ["k"]})
    assert error(missing, 404, 10013) == "bulk get keys: 'namespace not found'"
