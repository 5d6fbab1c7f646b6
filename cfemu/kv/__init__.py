"""cfemu's Workers KV: Cloudflare's KV binding on SQLite, with KV's limits and errors.

>>> kv = open_namespace(None, clock=RealClock())  # doctest: +SKIP
>>> await kv.put("greeting", "hello", expirationTtl=3600)  # doctest: +SKIP
>>> await kv.get("greeting")  # doctest: +SKIP
'hello'

See ``docs/kv.md``.
"""

from __future__ import annotations

from pathlib import Path

from cfemu._faults import Faults
from cfemu.clock import Clock
from cfemu.kv.namespace import KvNamespace
from cfemu.kv.store import KvStore, namespace_file

__all__ = ["KvNamespace", "KvStore", "namespace_file", "open_namespace"]


def open_namespace(
    path: Path | str | None,
    *,
    clock: Clock,
    binding: str = "KV",
    faults: Faults | None = None,
) -> KvNamespace:
    """A KV namespace binding over a new store: in memory when ``path`` is ``None``, else
    the SQLite file at ``path`` (created with its folders). Close it with ``store.close()``
    via :attr:`KvNamespace.store`."""
    return KvNamespace(KvStore(path), clock=clock, binding=binding, faults=faults)
