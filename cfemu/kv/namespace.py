"""The Workers KV binding as a Python Worker sees it: ``env.KV`` (spec: kv-assets-…md §1).

Names, arguments and results are Cloudflare's: ``get``/``getWithMetadata`` (one key, or a
list of up to 100), ``put`` with ``expiration``/``expirationTtl``/``metadata``, ``delete``,
``list`` with ``prefix``/``limit``/``cursor``. Options come as keyword arguments (the SDK
packs them into one trailing JS object), as a positional dict, or as a type string. Results
have the shapes the Python SDK gives: ``str``, parsed JSON (dicts are ``JsDict``),
``memoryview`` for ``arrayBuffer``, ``JsDict`` for ``list()`` and ``getWithMetadata``.

Errors carry Cloudflare's wording: checks the runtime makes before any I/O raise
:class:`~cfemu.errors.KvTypeError` (``Key name cannot be empty.``) or ``KvError`` with the
414 of an over-long key; the KV service's refusals raise ``KvError("KV <METHOD> failed:
<status> <text>")``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from cfemu._faults import Faults
from cfemu._js import JsDict, js_string, to_js_dict
from cfemu.clock import Clock
from cfemu.errors import KvTypeError
from cfemu.kv.store import PURGE_EVERY, KvStore
from cfemu.kv.values import (
    BAD_TYPE,
    TYPES,
    as_number,
    check_key,
    decode_cursor,
    decode_value,
    encode_cursor,
    expiration_of,
    failed,
    key_text,
    metadata_of,
    options_of,
    storable,
    value_bytes,
)
from cfemu.limits import (
    KV_MAX_BULK_BYTES,
    KV_MAX_BULK_KEYS,
    KV_MAX_KEY_BYTES,
    KV_MAX_LIST_LIMIT,
    KV_MAX_METADATA_BYTES,
    KV_MAX_VALUE_BYTES,
    KV_MIN_CACHE_TTL,
)
from cfemu.runtime.rpc import python_to_rpc

__all__ = ["KvNamespace"]


class KvNamespace:
    """``env.<binding>`` for one ``[[kv_namespaces]]`` entry: Cloudflare's KV API.

    ``binding`` names the target of injected faults (``faults.check("kv.op", binding)``);
    every Worker binding the same namespace id shares one :class:`KvStore`.
    """

    def __init__(
        self, store: KvStore, *, clock: Clock, binding: str = "KV", faults: Faults | None = None
    ) -> None:
        self._store = store
        self._clock = clock
        self._binding = binding
        self._faults = faults

    @property
    def store(self) -> KvStore:
        """The store behind the binding (cfemu's own API: inspection, ``close()``)."""
        return self._store

    def __repr__(self) -> str:
        return f"KvNamespace(binding={self._binding!r})"

    def _check_fault(self, method: str) -> None:
        faults = self._faults
        if faults:
            from cfemu._faults import InjectedKvFaultError

            try:
                faults.check("kv.op", self._binding)
            except InjectedKvFaultError as fault:
                raise failed(method, fault.status, fault.status_text) from None

    # -- reads ----------------------------------------------------------------------------------
    async def get(self, key: Any, options: Any = None, /, **kwargs: Any) -> Any:
        """The value of ``key`` (``None`` if absent or expired), or a dict for a list of keys.

        ``type``: ``"text"`` (default, ``str``), ``"json"`` (parsed), ``"arrayBuffer"``
        (``memoryview``) or ``"stream"`` (a ``ReadableStream``); ``cacheTtl`` is checked and
        otherwise ignored (there is no edge cache locally).
        """
        opts = options_of(options, kwargs)
        if isinstance(key, list):
            return await self._get_bulk(key, opts, with_metadata=False)
        value_type = self._value_type(opts)
        text = check_key(key, "GET")
        self._check_cache_ttl(opts, "GET")
        self._check_fault("GET")
        entry = self._store.get(text, self._clock.now())
        if entry is None:
            return None
        return decode_value(entry.value, value_type)

    async def getWithMetadata(self, key: Any, options: Any = None, /, **kwargs: Any) -> Any:
        """``{value, metadata, cacheStatus}`` of ``key`` (value and metadata ``None`` if
        absent), or for a list of keys a dict of ``{value, metadata}`` (``None`` if absent)."""
        opts = options_of(options, kwargs)
        if isinstance(key, list):
            return await self._get_bulk(key, opts, with_metadata=True)
        value_type = self._value_type(opts)
        text = check_key(key, "GET")
        self._check_cache_ttl(opts, "GET")
        self._check_fault("GET")
        entry = self._store.get(text, self._clock.now())
        if entry is None:
            return JsDict(value=None, metadata=None, cacheStatus=None)
        return JsDict(
            value=decode_value(entry.value, value_type),
            metadata=metadata_of(entry.metadata),
            cacheStatus=None,
        )

    @staticmethod
    def _value_type(opts: Mapping[str, Any]) -> str:
        value_type = opts.get("type")
        if value_type is None:
            return "text"
        if value_type not in TYPES:
            raise KvTypeError(BAD_TYPE)
        return str(value_type)

    @staticmethod
    def _check_cache_ttl(opts: Mapping[str, Any], method: str) -> None:
        ttl = opts.get("cacheTtl")
        if ttl is None:
            return
        number = as_number(ttl)
        if math.isnan(number) or number < KV_MIN_CACHE_TTL:
            raise failed(
                method,
                400,
                f"Invalid cache_ttl of {js_string(ttl)}. Cache TTL must be at least "
                f"{KV_MIN_CACHE_TTL}.",
            )

    async def _get_bulk(
        self, keys: list[Any], opts: Mapping[str, Any], *, with_metadata: bool
    ) -> JsDict:
        python_to_rpc(keys)
        value_type = opts.get("type")
        value_type = "text" if value_type is None else value_type
        if value_type not in ("text", "json"):
            raise failed(
                "GET_BULK",
                400,
                f'"{js_string(value_type)}" is not a valid type. Use "json" or "text"',
            )
        if len(keys) > KV_MAX_BULK_KEYS:
            raise failed("GET_BULK", 400, f"You can request a maximum of {KV_MAX_BULK_KEYS} keys")
        if not keys:
            raise failed("GET_BULK", 400, "You must request a minimum of 1 key")
        names = [key_text(k) for k in keys]
        for name in names:
            if name == "":
                raise failed("GET_BULK", 400, "Key names must not be empty")
            if name in (".", ".."):
                raise failed(
                    "GET_BULK", 400, f'Illegal key name "{name}". Please use a different name.'
                )
            size = len(storable(name).encode("utf-8"))
            if size > KV_MAX_KEY_BYTES:
                raise failed(
                    "GET_BULK",
                    414,
                    f"UTF-8 encoded length of {size} exceeds key length limit of "
                    f"{KV_MAX_KEY_BYTES}.",
                )
        self._check_cache_ttl(opts, "GET_BULK")
        self._check_fault("GET_BULK")
        now = self._clock.now()
        out = JsDict()
        total = 0
        for name in names:
            entry = self._store.get(storable(name), now)
            if entry is None:
                out[name] = None
                continue
            total += len(entry.value)
            if total > KV_MAX_BULK_BYTES:
                raise failed("GET_BULK", 413, "Total size of request exceeds the limit of 25MB")
            if value_type == "json":
                try:
                    value = to_js_dict(json.loads(entry.value.decode("utf-8", "replace")))
                except ValueError:
                    raise failed(
                        "GET_BULK",
                        400,
                        "At least one of the requested keys corresponds to a non-json value",
                    ) from None
            else:
                value = entry.value.decode("utf-8", "replace")
            out[name] = (
                JsDict(value=value, metadata=metadata_of(entry.metadata))
                if with_metadata
                else value
            )
        return out

    async def list(self, options: Any = None, /, **kwargs: Any) -> JsDict:
        """``{keys: [{name, expiration?, metadata?}], list_complete, cursor?, cacheStatus}``:
        keys in UTF-8 byte order, up to ``limit`` (default and maximum 1000) per page,
        starting with ``prefix``; pass the ``cursor`` of an incomplete page (and the same
        prefix) to get the next one."""
        opts = options_of(options, kwargs)
        prefix = opts.get("prefix")
        prefix_text = "" if prefix is None else storable(key_text(prefix))
        limit_value = opts.get("limit")
        limit = KV_MAX_LIST_LIMIT
        if limit_value is not None:
            number = as_number(limit_value)
            if not math.isnan(number) and number > 0:  # workerd sends no limit ≤ 0
                if number > KV_MAX_LIST_LIMIT:
                    raise failed(
                        "GET",
                        400,
                        f"Invalid key_count_limit of {js_string(limit_value)}. Please specify "
                        f"an integer less than {KV_MAX_LIST_LIMIT}.",
                    )
                limit = max(1, int(number))
        cursor = opts.get("cursor")
        after = None if cursor in (None, "") else decode_cursor(cursor)
        self._check_cache_ttl(opts, "GET")
        self._check_fault("GET")
        rows, more = self._store.list(
            self._clock.now(), prefix=prefix_text, after=after, limit=limit
        )
        keys = []
        for row in rows:
            item = JsDict(name=row.name)
            if row.expiration is not None:
                item["expiration"] = row.expiration
            metadata = metadata_of(row.metadata)
            if metadata is not None:
                item["metadata"] = metadata
            keys.append(item)
        result = JsDict(keys=keys, list_complete=not more)
        if more:
            result["cursor"] = encode_cursor(rows[-1].name)
        result["cacheStatus"] = None
        return result

    # -- writes ---------------------------------------------------------------------------------
    async def put(self, key: Any, value: Any, options: Any = None, /, **kwargs: Any) -> None:
        """Store ``value`` (``str``, ``bytes``, ``memoryview``) under ``key``.

        ``expirationTtl`` (seconds from now) or ``expiration`` (epoch seconds), at least 60 s
        ahead; ``metadata``: any JSON value, at most 1024 bytes serialised. Durable when the
        ``await`` returns.
        """
        opts = options_of(options, kwargs)
        text = check_key(key, "PUT")
        data = value_bytes(value)
        now = self._clock.now()
        expiration = expiration_of(opts, now)
        metadata = opts.get("metadata")
        metadata_json = None
        if metadata is not None:
            metadata_json = json.dumps(metadata, separators=(",", ":"), ensure_ascii=False)
            size = len(metadata_json.encode("utf-8"))
            if size > KV_MAX_METADATA_BYTES:
                raise failed(
                    "PUT",
                    413,
                    f"Metadata length of {size} exceeds limit of {KV_MAX_METADATA_BYTES}.",
                )
        if len(data) > KV_MAX_VALUE_BYTES:
            raise failed(
                "PUT", 413, f"Value length of {len(data)} exceeds limit of {KV_MAX_VALUE_BYTES}."
            )
        self._check_fault("PUT")
        store = self._store
        store.put(text, data, expiration=expiration, metadata=metadata_json)
        if store.writes % PURGE_EVERY == 0:
            store.purge_expired(now)

    async def delete(self, key: Any) -> None:
        """Remove ``key``; deleting an absent key is not an error."""
        text = check_key(key, "DELETE")
        self._check_fault("DELETE")
        self._store.delete(text)
