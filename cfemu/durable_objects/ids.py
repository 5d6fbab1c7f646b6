"""Durable Object ids: 64 hex digits, tied to one namespace (spec: durable-objects.md §2.2).

cfemu derives ids as workerd does locally: with ``key = SHA-256(unique_key)``, an id is
``base (16 bytes) + HMAC-SHA256(key, base)[:16]``, where ``base`` is
``HMAC-SHA256(key, utf8(name))[:16]`` for :meth:`IdFactory.from_name` and 16 random bytes
for :meth:`IdFactory.unique`. With Miniflare's unique key ``"<worker>-<Class>"`` the ids
(and so the state file names) are the same as ``wrangler dev``'s.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from cfemu.durable_objects.errors import DurableObjectTypeError

__all__ = ["DurableObjectId", "IdFactory"]

_HEX = frozenset("0123456789abcdef")


class DurableObjectId:
    """One object's id: ``toString()``, ``equals()``, ``name`` (``None`` unless by name)."""

    __slots__ = ("_hex", "_namespace", "name")

    def __init__(self, hex_id: str, name: str | None, namespace: str) -> None:
        self._hex = hex_id
        self._namespace = namespace
        #: The name the id was made from (``idFromName``/``getByName``), else ``None``.
        self.name = name

    @property
    def jurisdiction(self) -> None:
        """Always ``None`` locally (jurisdictions are not implemented in workerd)."""
        return None

    def toString(self) -> str:
        """The id as 64 lowercase hex digits (``idFromString`` takes it back)."""
        return self._hex

    def equals(self, other: Any) -> bool:
        """Whether ``other`` is an id of the same object."""
        return isinstance(other, DurableObjectId) and other._hex == self._hex

    def __eq__(self, other: object) -> bool:
        return self.equals(other)

    def __hash__(self) -> int:
        return hash(self._hex)

    def __str__(self) -> str:
        return self._hex

    def __repr__(self) -> str:
        named = f", name={self.name!r}" if self.name is not None else ""
        return f"DurableObjectId({self._hex!r}{named})"


class IdFactory:
    """Makes and checks the ids of one namespace (its ``unique_key``)."""

    __slots__ = ("_key", "unique_key")

    def __init__(self, unique_key: str) -> None:
        self.unique_key = unique_key
        self._key = hashlib.sha256(unique_key.encode()).digest()

    def _mac(self, base: bytes) -> bytes:
        return hmac.new(self._key, base, hashlib.sha256).digest()[:16]

    def _make(self, base: bytes, name: str | None) -> DurableObjectId:
        return DurableObjectId((base + self._mac(base)).hex(), name, self.unique_key)

    def from_name(self, name: str) -> DurableObjectId:
        """The id ``idFromName(name)`` gives: the same name, the same id."""
        if not isinstance(name, str):
            raise DurableObjectTypeError(
                f"idFromName() expects a string name, got {type(name).__name__}"
            )
        base = hmac.new(self._key, name.encode("utf-8", "surrogatepass"), hashlib.sha256)
        return self._make(base.digest()[:16], name)

    def unique(self) -> DurableObjectId:
        """A new random id (``newUniqueId()``)."""
        return self._make(secrets.token_bytes(16), None)

    def from_string(self, text: str, name: str | None = None) -> DurableObjectId:
        """The id written as ``text`` (``idFromString``); refuses ids of another namespace."""
        if not isinstance(text, str) or len(text) != 64 or not set(text) <= _HEX:
            raise DurableObjectTypeError("Invalid Durable Object ID: must be 64 hex digits")
        raw = bytes.fromhex(text)
        if not hmac.compare_digest(raw[16:], self._mac(raw[:16])):
            raise DurableObjectTypeError("Durable Object ID is not valid for this namespace.")
        return DurableObjectId(text, name, self.unique_key)

    def owns(self, object_id: DurableObjectId) -> bool:
        """Whether ``object_id`` belongs to this namespace."""
        return object_id._namespace == self.unique_key
