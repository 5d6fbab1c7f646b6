"""The key-value layer shared by ``storage.get/put/delete/list`` and ``storage.kv``.

spec: durable-objects.md §4.2-4.3. Keys are strings ordered by their UTF-8 bytes; values
are serialized (:mod:`cfemu.durable_objects.values`); key + value may not exceed 2 MB.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Final

from cfemu.durable_objects.database import ObjectDatabase
from cfemu.durable_objects.errors import (
    DurableObjectError,
    DurableObjectRangeError,
    DurableObjectTypeError,
)
from cfemu.durable_objects.values import decode, encode
from cfemu.limits import (
    DO_KV_BACKED_MAX_KEY_BYTES,
    DO_KV_BACKED_MAX_KEYS,
    DO_KV_BACKED_MAX_VALUE_BYTES,
    DO_KV_BACKED_VALUE_SLACK_BYTES,
    DO_MAX_KEY_VALUE_BYTES,
)

__all__ = ["KvStore", "list_options"]

TOO_BIG: Final = "string or blob too big: SQLITE_TOOBIG"
_LIST_KEYS: Final = frozenset(
    {"start", "startAfter", "end", "prefix", "reverse", "limit", "allowConcurrency", "noCache"}
)


def _key(key: Any) -> bytes:
    if not isinstance(key, str):
        raise DurableObjectTypeError(
            f"Durable Object storage keys must be strings, got {type(key).__name__}"
        )
    return key.encode("utf-8", "surrogatepass")


def _successor(prefix: bytes) -> bytes | None:
    """The smallest byte string greater than every string starting with ``prefix``."""
    trimmed = prefix.rstrip(b"\xff")
    if not trimmed:
        return None
    return trimmed[:-1] + bytes([trimmed[-1] + 1])


def list_options(options: Mapping[str, Any] | None, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``list({...})`` and ``list(key=...)`` options; check them as Cloudflare does."""
    merged: dict[str, Any] = dict(options or {})
    merged.update(kwargs)
    unknown = set(merged) - _LIST_KEYS
    if unknown:
        raise DurableObjectTypeError(f"list() got unknown options: {', '.join(sorted(unknown))}")
    if merged.get("start") is not None and merged.get("startAfter") is not None:
        raise DurableObjectTypeError(
            "list() cannot be called with both start and startAfter values."
        )
    limit = merged.get("limit")
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int | float) or limit <= 0:
            raise DurableObjectTypeError("List limit must be positive.")
        merged["limit"] = int(limit)
    return merged


class KvStore:
    """Key-value operations on one object's ``_cf_KV`` table.

    ``kv_backed`` applies the limits of KV-backed classes (``new_classes``): keys of at most
    2048 bytes, values of at most 128 KiB, at most 128 keys per call (spec §4.3).
    """

    __slots__ = ("db", "kv_backed")

    def __init__(self, db: ObjectDatabase, *, kv_backed: bool = False) -> None:
        self.db = db
        self.kv_backed = kv_backed

    def check_count(self, count: int) -> None:
        """KV-backed classes take at most 128 keys per call."""
        if self.kv_backed and count > DO_KV_BACKED_MAX_KEYS:
            raise DurableObjectRangeError(
                f"Maximum number of key value pairs is {DO_KV_BACKED_MAX_KEYS}. {count} pairs "
                "were provided."
            )

    def _check_sizes(self, raw: bytes, data: bytes) -> None:
        if self.kv_backed:
            if len(raw) > DO_KV_BACKED_MAX_KEY_BYTES:
                raise DurableObjectRangeError(
                    f"Keys cannot be larger than {DO_KV_BACKED_MAX_KEY_BYTES} bytes. A key of "
                    f"size {len(raw)} was provided."
                )
            if len(data) > DO_KV_BACKED_MAX_VALUE_BYTES + DO_KV_BACKED_VALUE_SLACK_BYTES:
                raise DurableObjectRangeError(
                    f"Values cannot be larger than {DO_KV_BACKED_MAX_VALUE_BYTES} bytes. A "
                    f"value of size {len(data)} was provided."
                )
        if len(raw) + len(data) > DO_MAX_KEY_VALUE_BYTES:
            raise DurableObjectError(TOO_BIG)

    def get(self, key: str) -> Any:
        """The value at ``key``, or ``None``."""
        raw = _key(key)
        if not self.db.has_kv:
            return None
        rows = self.db.trusted("SELECT value FROM _cf_KV WHERE key = ?", (raw,))
        return decode(rows[0][0]) if rows else None

    def get_many(self, keys: list[Any]) -> dict[str, Any]:
        """The values of the ``keys`` that exist, in key order."""
        self.check_count(len(keys))
        found = {}
        for key in keys:
            raw = _key(key)
            if self.db.has_kv:
                rows = self.db.trusted("SELECT value FROM _cf_KV WHERE key = ?", (raw,))
                if rows:
                    found[raw] = (key, decode(rows[0][0]))
        return {found[k][0]: found[k][1] for k in sorted(found)}

    def put(self, key: str, value: Any) -> None:
        """Store ``value`` at ``key`` (in this turn's write)."""
        raw = _key(key)
        data = encode(value)
        self._check_sizes(raw, data)
        db = self.db
        db.begin_write()
        db.ensure_kv()
        db.trusted("INSERT OR REPLACE INTO _cf_KV (key, value) VALUES (?, ?)", (raw, data))

    def put_many(self, entries: Mapping[Any, Any]) -> None:
        """Store every pair, all or nothing."""
        self.check_count(len(entries))
        encoded = []
        for key, value in entries.items():
            raw = _key(key)
            data = encode(value)
            self._check_sizes(raw, data)
            encoded.append((raw, data))
        if not encoded:
            return
        db = self.db
        db.begin_write()
        db.ensure_kv()
        for pair in encoded:
            db.trusted("INSERT OR REPLACE INTO _cf_KV (key, value) VALUES (?, ?)", pair)

    def delete(self, key: str) -> bool:
        """Delete ``key``; whether it existed."""
        raw = _key(key)
        if not self.db.has_kv:
            return False
        self.db.begin_write()
        rows = self.db.trusted("DELETE FROM _cf_KV WHERE key = ? RETURNING 1", (raw,))
        return bool(rows)

    def delete_many(self, keys: list[Any]) -> int:
        """Delete ``keys``; how many existed."""
        self.check_count(len(keys))
        return sum(self.delete(key) for key in keys)

    def list(self, options: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
        """``(key, value)`` pairs in key order (or reversed), as ``list()`` selects them."""
        if not self.db.has_kv:
            return iter(())
        where: list[str] = []
        params: list[Any] = []
        for name, op in (("start", ">="), ("startAfter", ">"), ("end", "<")):
            value = options.get(name)
            if value is not None:
                where.append(f"key {op} ?")
                params.append(_key(value))
        prefix = options.get("prefix")
        if prefix:
            raw = _key(prefix)
            where.append("key >= ?")
            params.append(raw)
            upper = _successor(raw)
            if upper is not None:
                where.append("key < ?")
                params.append(upper)
        sql = "SELECT key, value FROM _cf_KV"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY key DESC" if options.get("reverse") else " ORDER BY key"
        limit = options.get("limit")
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        rows = self.db.trusted(sql, params)
        return ((k.decode("utf-8", "surrogatepass"), decode(v)) for k, v in rows)
