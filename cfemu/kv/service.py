"""Workers KV as a binding kind: one store per namespace id, shared across Workers."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, ClassVar

from cfemu.bindings import NOT_MINE, BindingService, DescribeRow, NotMine, ServiceContext
from cfemu.kv.namespace import KvNamespace
from cfemu.kv.store import KvStore, namespace_file
from cfemu.state import opening_state

if TYPE_CHECKING:
    from cfemu.config import KvNamespaceConfig, WorkerConfig

__all__ = ["KvService"]


class KvService(BindingService):
    """Every ``[[kv_namespaces]]`` binding of every Worker.

    Two Workers binding the same namespace ``id`` share one store, opened once: in memory,
    or ``<persist_to>/kv/<id>.sqlite``.
    """

    kind: ClassVar[str] = "kv"

    def __init__(self, ctx: ServiceContext) -> None:
        super().__init__(ctx)
        #: Open stores by namespace id (``storage_key``).
        self.stores: dict[str, KvStore] = {}

    def store(self, entry: KvNamespaceConfig) -> KvStore:
        """The store of a binding entry's namespace, opened on first use."""
        key = entry.storage_key
        found = self.stores.get(key)
        if found is None:
            persist_to = self.ctx.persist_to
            path = None if persist_to is None else namespace_file(persist_to, key)
            with opening_state(path or key, f"KV namespace {entry.binding!r}"):
                found = KvStore(path)
            self.stores[key] = found
        return found

    async def start(self) -> None:
        """Open every namespace's store before the Workers load (a bad file fails early)."""
        for config in self.ctx.configs:
            for entry in config.kv_namespaces:
                self.store(entry)

    def bindings_for(self, config: WorkerConfig) -> Mapping[str, object]:
        """One :class:`KvNamespace` per ``[[kv_namespaces]]`` entry."""
        return {
            entry.binding: KvNamespace(
                self.store(entry),
                clock=self.ctx.clock,
                binding=entry.binding,
                faults=self.ctx.faults,
            )
            for entry in config.kv_namespaces
        }

    def namespace(self, binding: str, config: WorkerConfig) -> KvNamespace:
        """A binding object for ``binding`` (or namespace id) of ``config``; ``ConfigError``
        naming the KV bindings otherwise."""
        from cfemu.errors import ConfigError

        for entry in config.kv_namespaces:
            if binding in (entry.binding, entry.id):
                return KvNamespace(
                    self.store(entry),
                    clock=self.ctx.clock,
                    binding=entry.binding,
                    faults=self.ctx.faults,
                )
        known = ", ".join(entry.binding for entry in config.kv_namespaces) or "none"
        raise ConfigError(
            f"no KV namespace {binding!r} in Worker {config.name!r}; KV bindings: {known}",
            file=config.path,
        )

    async def aclose(self) -> None:
        """Close every store."""
        for store in self.stores.values():
            store.close()
        self.stores.clear()

    def fault_targets(self, point: str) -> Collection[str] | NotMine | None:
        """``kv.op`` targets binding names."""
        if point != "kv.op":
            return NOT_MINE
        return {entry.binding for config in self.ctx.configs for entry in config.kv_namespaces}

    def describe(self, config: WorkerConfig) -> list[DescribeRow]:
        """A row per KV binding."""
        return [
            (f"env.{entry.binding} ({entry.storage_key})", "KV Namespace", "local")
            for entry in config.kv_namespaces
        ]
