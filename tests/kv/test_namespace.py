"""The KV binding's API: types, options forms, metadata, expiry, bulk reads, list shape."""

from __future__ import annotations

import pytest

from cfemu._js import JsDict
from cfemu.clock import VirtualClock
from cfemu.errors import KvSyntaxError
from cfemu.kv import KvNamespace
from cfemu.runtime.http import Response

pytestmark = pytest.mark.anyio


async def test_put_then_get_returns_text_and_absent_key_is_none(kv: KvNamespace) -> None:
    await kv.put("bar", "baz")
    assert await kv.get("bar") == "baz"
    assert await kv.get("missing") is None


@pytest.mark.parametrize(
    "call",
    [
        lambda kv: kv.get("k", type="json"),
        lambda kv: kv.get("k", "json"),
        lambda kv: kv.get("k", {"type": "json", "cacheTtl": 60}),
        lambda kv: kv.get("k", type="json", cacheTtl=30),
    ],
    ids=["kwarg", "type-string", "options-object", "kwargs-with-cacheTtl"],
)
async def test_json_type_in_every_options_form(kv: KvNamespace, call: object) -> None:
    await kv.put("k", '{"a": {"b": [1, 2]}}')
    value = await call(kv)  # type: ignore[operator]
    assert isinstance(value, JsDict)
    assert value.a.b == [1, 2]


async def test_array_buffer_is_a_memoryview_of_the_stored_bytes(kv: KvNamespace) -> None:
    await kv.put("bin", b"\x00\xffabc")
    value = await kv.get("bin", type="arrayBuffer")
    assert isinstance(value, memoryview)
    assert value.tobytes() == b"\x00\xffabc"
    await kv.put("view", memoryview(b"xyz"))
    assert await kv.get("view") == "xyz"


async def test_stream_type_is_a_readable_stream_once(kv: KvNamespace) -> None:
    await kv.put("s", "streamed")
    stream = await kv.get("s", type="stream")
    reader = stream.getReader()
    first = await reader.read()
    assert (first.done, first.value.to_bytes()) == (False, b"streamed")
    assert (await reader.read()).done is True
    chunks = [c.to_bytes() async for c in await kv.get("s", type="stream")]
    assert chunks == [b"streamed"]


async def test_a_stream_is_a_response_body_and_a_put_value(kv: KvNamespace) -> None:
    await kv.put("s", b"\x00bytes")
    response = Response(await kv.get("s", type="stream"))
    assert await response.bytes() == b"\x00bytes"
    await kv.put("copy", await kv.get("s", type="stream"))
    assert (await kv.get("copy", type="arrayBuffer")).tobytes() == b"\x00bytes"


async def test_js_array_buffers_and_typed_arrays_are_put_values(kv: KvNamespace) -> None:
    from cfemu.runtime.js_module.containers import JsBuffer

    await kv.put("u8", JsBuffer(bytearray(b"abcdef"), "Uint8Array", offset=2, length=3))
    assert await kv.get("u8") == "cde"  # the view's bytes, not its whole buffer
    await kv.put("ab", JsBuffer(bytearray(b"xyz"), "ArrayBuffer"))
    assert await kv.get("ab") == "xyz"


async def test_invalid_json_raises_a_syntax_error(kv: KvNamespace) -> None:
    await kv.put("k", "not json")
    with pytest.raises(KvSyntaxError, match="is not valid JSON"):
        await kv.get("k", type="json")


async def test_positional_options_leave_trailing_kwargs_ignored(kv: KvNamespace) -> None:
    # The SDK packs kwargs into a trailing object: after a positional options argument it is
    # a third argument, which KV's get ignores.
    await kv.put("k", "[1]")
    assert await kv.get("k", "text", type="json") == "[1]"


async def test_get_with_metadata_returns_value_metadata_and_cache_status(
    kv: KvNamespace,
) -> None:
    await kv.put("k", "v", metadata={"owner": "ann", "n": [1]})
    got = await kv.getWithMetadata("k")
    assert got == {"value": "v", "metadata": {"owner": "ann", "n": [1]}, "cacheStatus": None}
    assert got.metadata.owner == "ann"
    assert await kv.getWithMetadata("none") == {
        "value": None,
        "metadata": None,
        "cacheStatus": None,
    }
    await kv.put("plain", "[1]")
    assert (await kv.getWithMetadata("plain", type="json")).metadata is None


async def test_put_replaces_value_and_metadata(kv: KvNamespace) -> None:
    await kv.put("k", "1", metadata={"v": 1})
    await kv.put("k", "2")
    got = await kv.getWithMetadata("k")
    assert (got.value, got.metadata) == ("2", None)


async def test_delete_removes_and_deleting_a_missing_key_is_fine(kv: KvNamespace) -> None:
    await kv.put("k", "v")
    assert await kv.delete("k") is None
    assert await kv.get("k") is None
    await kv.delete("k")


async def test_expiration_ttl_expires_on_the_emulator_clock(
    kv: KvNamespace, clock: VirtualClock
) -> None:
    await kv.put("k", "v", expirationTtl=60)
    clock.advance(59)
    assert await kv.get("k") == "v"
    clock.advance(1)
    assert await kv.get("k") is None
    assert (await kv.list())["keys"] == []


async def test_absolute_expiration_is_reported_by_list_in_epoch_seconds(
    kv: KvNamespace, clock: VirtualClock
) -> None:
    now = int(clock.now())
    await kv.put("a", "1", expiration=now + 120)
    await kv.put("b", "2", expirationTtl=300, metadata={"m": True})
    await kv.put("c", "3")
    listing = await kv.list()
    assert listing["keys"] == [
        {"name": "a", "expiration": now + 120},
        {"name": "b", "expiration": now + 300, "metadata": {"m": True}},
        {"name": "c"},
    ]
    clock.advance(120)
    assert [k.name for k in (await kv.list())["keys"]] == ["b", "c"]


async def test_expiration_ttl_wins_over_expiration_when_both_given(
    kv: KvNamespace, clock: VirtualClock
) -> None:
    now = int(clock.now())
    await kv.put("k", "v", expiration=now + 10_000, expirationTtl=60)
    assert (await kv.list())["keys"][0].expiration == now + 60


async def test_bulk_get_returns_a_dict_with_none_for_missing(kv: KvNamespace) -> None:
    await kv.put("a", '{"x": 1}', metadata=[1])
    await kv.put("b", "[2]")
    got = await kv.get(["a", "b", "zz"], type="json")
    assert got == {"a": {"x": 1}, "b": [2], "zz": None}
    assert got["a"].x == 1
    texts = await kv.get(["a", "zz"])
    assert texts == {"a": '{"x": 1}', "zz": None}
    meta = await kv.getWithMetadata(["a", "zz"])
    assert meta == {"a": {"value": '{"x": 1}', "metadata": [1]}, "zz": None}


async def test_list_shape_prefix_and_cursor(kv: KvNamespace) -> None:
    for name in ["user:1", "user:2", "user:3", "team:1"]:
        await kv.put(name, "x")
    first = await kv.list(prefix="user:", limit=2)
    assert [k.name for k in first["keys"]] == ["user:1", "user:2"]
    assert first.list_complete is False
    assert isinstance(first.cursor, str)
    assert first.cacheStatus is None
    second = await kv.list(prefix="user:", limit=2, cursor=first.cursor)
    assert [k.name for k in second["keys"]] == ["user:3"]
    assert second.list_complete is True
    assert "cursor" not in second
    assert [k.name for k in (await kv.list({"prefix": "team"}))["keys"]] == ["team:1"]


async def test_list_limit_zero_or_negative_means_the_default(kv: KvNamespace) -> None:
    for i in range(3):
        await kv.put(f"k{i}", "x")
    assert len((await kv.list(limit=0))["keys"]) == 3
    assert len((await kv.list(limit=-5))["keys"]) == 3


async def test_list_sorts_by_utf8_bytes(kv: KvNamespace) -> None:
    # U+FF5E sorts before U+1F600 in UTF-8 (and code points) but after it in UTF-16.
    names = ["\U0001f600", "\uff5e", "a", "B", "é"]
    for name in names:
        await kv.put(name, "x")
    listed = [k.name for k in (await kv.list())["keys"]]
    assert listed == sorted(names, key=lambda n: n.encode("utf-8"))


async def test_non_string_keys_are_stringified_as_javascript_does(kv: KvNamespace) -> None:
    await kv.put(1, "one")
    assert await kv.get("1") == "one"
    await kv.put(True, "t")
    assert await kv.get("true") == "t"


async def test_values_of_every_size_up_to_the_limit_round_trip(kv: KvNamespace) -> None:
    data = bytes(range(256)) * 1024
    await kv.put("big", data)
    assert (await kv.get("big", type="arrayBuffer")).tobytes() == data
