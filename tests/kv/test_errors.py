"""Cloudflare's KV limits and the exact wording of each refusal (spec: kv-…md §1.2, §1.3)."""

from __future__ import annotations

import pytest

from cfemu._faults import Faults
from cfemu.clock import VirtualClock
from cfemu.errors import KvError, KvTypeError
from cfemu.kv import KvNamespace

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("method", ["get", "getWithMetadata", "delete", "put"])
async def test_empty_and_dot_keys_are_type_errors(kv: KvNamespace, method: str) -> None:
    args: tuple[str, ...] = ("v",) if method == "put" else ()
    with pytest.raises(KvTypeError, match=r"^Key name cannot be empty\.$"):
        await getattr(kv, method)("", *args)
    for key in (".", ".."):
        with pytest.raises(TypeError) as info:
            await getattr(kv, method)(key, *args)
        assert str(info.value) == f'"{key}" is not allowed as a key name.'


@pytest.mark.parametrize(("method", "verb"), [("get", "GET"), ("put", "PUT"), ("delete", "DELETE")])
async def test_key_over_512_utf8_bytes_is_a_414(kv: KvNamespace, method: str, verb: str) -> None:
    args: tuple[str, ...] = ("v",) if method == "put" else ()
    await getattr(kv, method)("é" * 256, *args)  # exactly 512 bytes: accepted
    with pytest.raises(KvError) as info:
        await getattr(kv, method)("é" * 256 + "x", *args)
    assert str(info.value) == (
        f"KV {verb} failed: 414 UTF-8 encoded length of 513 exceeds key length limit of 512."
    )
    assert info.value.status == 414


async def test_unknown_type_is_a_type_error(kv: KvNamespace) -> None:
    with pytest.raises(KvTypeError) as info:
        await kv.get("k", type="blob")
    assert str(info.value) == (
        'Unknown response type. Possible types are "text", "arrayBuffer", "json", and "stream".'
    )


@pytest.mark.parametrize("value", [123, {"a": 1}, None, [1]])
async def test_put_of_a_non_buffer_value_is_a_type_error(kv: KvNamespace, value: object) -> None:
    with pytest.raises(KvTypeError) as info:
        await kv.put("k", value)
    assert str(info.value) == (
        "KV put() accepts only strings, ArrayBuffers, ArrayBufferViews, and ReadableStreams "
        "as values."
    )


async def test_bytearray_and_tuple_cannot_cross_rpc(kv: KvNamespace) -> None:
    with pytest.raises(TypeError, match="<class 'bytearray'> cannot be sent over RPC"):
        await kv.put("k", bytearray(b"x"))
    with pytest.raises(TypeError, match="<class 'tuple'> cannot be sent over RPC"):
        await kv.put("k", "v", metadata={"t": (1, 2)})
    assert await kv.get("k") is None


async def test_value_over_25_mib_is_a_413_and_nothing_is_written(kv: KvNamespace) -> None:
    limit = 25 * 1024 * 1024
    await kv.put("k", b"\0" * limit)
    with pytest.raises(KvError) as info:
        await kv.put("k", b"\0" * (limit + 1))
    assert (
        str(info.value)
        == f"KV PUT failed: 413 Value length of {limit + 1} exceeds limit of {limit}."
    )
    assert len(await kv.get("k", type="arrayBuffer")) == limit


async def test_metadata_over_1024_serialised_bytes_is_a_413(kv: KvNamespace) -> None:
    await kv.put("k", "v", metadata="x" * 1022)  # '"' + 1022 + '"' = 1024 bytes
    with pytest.raises(KvError) as info:
        await kv.put("k", "v", metadata={"a": "x" * 1017})  # {"a":"…"} = 1025 bytes
    assert str(info.value) == "KV PUT failed: 413 Metadata length of 1025 exceeds limit of 1024."


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"expirationTtl": 30},
            "Invalid expiration_ttl of 30. Expiration TTL must be at least 60.",
        ),
        (
            {"expirationTtl": 0},
            "Invalid expiration_ttl of 0. Please specify integer greater than 0.",
        ),
        (
            {"expirationTtl": "soon"},
            "Invalid expiration_ttl of soon. Please specify integer greater than 0.",
        ),
        (
            {"expiration": "PAST"},
            "Invalid expiration of PAST. Please specify integer greater than the current number "
            "of seconds since the UNIX epoch.",
        ),
        (
            {"expiration": "SOON"},
            "Invalid expiration of SOON. Expiration times must be at least 60 seconds in the "
            "future.",
        ),
    ],
)
async def test_expiration_limits(
    kv: KvNamespace, clock: VirtualClock, options: dict[str, object], message: str
) -> None:
    now = int(clock.now())
    if options.get("expiration") == "PAST":
        options = {"expiration": now - 1}
        message = message.replace("PAST", str(now - 1))
    elif options.get("expiration") == "SOON":
        options = {"expiration": now + 59}
        message = message.replace("SOON", str(now + 59))
    with pytest.raises(KvError) as info:
        await kv.put("k", "v", **options)
    assert str(info.value) == f"KV PUT failed: 400 {message}"
    assert await kv.get("k") is None


async def test_cache_ttl_below_30_is_refused(kv: KvNamespace) -> None:
    await kv.get("k", cacheTtl=30)
    with pytest.raises(KvError) as info:
        await kv.get("k", cacheTtl=29)
    assert (
        str(info.value)
        == "KV GET failed: 400 Invalid cache_ttl of 29. Cache TTL must be at least 30."
    )


async def test_list_limit_over_1000_is_refused(kv: KvNamespace) -> None:
    await kv.list(limit=1000)
    with pytest.raises(KvError) as info:
        await kv.list(limit=1001)
    assert str(info.value) == (
        "KV GET failed: 400 Invalid key_count_limit of 1001. Please specify an integer less "
        "than 1000."
    )


async def test_bulk_get_limits(kv: KvNamespace) -> None:
    await kv.get([str(i) for i in range(100)])
    with pytest.raises(
        KvError, match=r"^KV GET_BULK failed: 400 You can request a maximum of 100 keys$"
    ):
        await kv.get([str(i) for i in range(101)])
    with pytest.raises(
        KvError, match=r"^KV GET_BULK failed: 400 You must request a minimum of 1 key$"
    ):
        await kv.get([])
    with pytest.raises(KvError) as info:
        await kv.get(["a"], type="arrayBuffer")
    assert str(info.value) == (
        'KV GET_BULK failed: 400 "arrayBuffer" is not a valid type. Use "json" or "text"'
    )
    with pytest.raises(KvError, match=r"^KV GET_BULK failed: 400 Key names must not be empty$"):
        await kv.get(["a", ""])
    with pytest.raises(KvError) as info:
        await kv.get([".."])
    assert (
        str(info.value)
        == 'KV GET_BULK failed: 400 Illegal key name "..". Please use a different name.'
    )
    await kv.put("text", "not json")
    with pytest.raises(KvError) as info:
        await kv.get(["text"], type="json")
    assert str(info.value) == (
        "KV GET_BULK failed: 400 At least one of the requested keys corresponds to a non-json value"
    )


async def test_injected_fault_fails_the_operation_and_writes_nothing(
    kv: KvNamespace, faults: Faults
) -> None:
    faults.kv_op("KV", times=1)
    with pytest.raises(KvError) as info:
        await kv.put("k", "v")
    assert str(info.value) == "KV PUT failed: 503 Service Unavailable"
    assert await kv.get("k") is None  # the fault fired once only
    faults.kv_op("OTHER", times=1)
    await kv.put("k", "v")  # another binding's fault does not touch this one
    faults.kv_op(error="429 Too Many Requests", times=2)
    with pytest.raises(KvError, match=r"^KV GET failed: 429 Too Many Requests$"):
        await kv.list()
    with pytest.raises(KvError, match=r"^KV DELETE failed: 429 Too Many Requests$"):
        await kv.delete("k")
    assert await kv.get("k") == "v"
    assert faults.counts[("kv.op", "KV")] == 3
