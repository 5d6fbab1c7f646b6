"""Durable Objects as a binding kind: every ``[[durable_objects.bindings]]`` of every Worker.

``attach()`` runs once the Workers are loaded, so each namespace finds its class in the
exporting Worker's module (``script_name``, or the binding's own Worker); ``begin()``
re-arms the alarms of persisted objects. Fault points (target: the class name):

=============================  ==========================================================
``durable_objects.storage``    before a storage call (``get``/``put``/``sql.exec`` ...)
``durable_objects.commit``     when a write commits: the output gate breaks, the object
                               resets and the caller gets the error
``durable_objects.alarm``      before an alarm handler runs: a failed attempt, retried
=============================  ==========================================================
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, ClassVar

from cfemu.bindings import NOT_MINE, BindingService, DescribeRow, NotMine, ServiceContext
from cfemu.durable_objects.hub import DurableObjectsHub
from cfemu.durable_objects.namespace import DurableObjectNamespace, NamespaceRuntime

if TYPE_CHECKING:
    from cfemu.config import WorkerConfig

__all__ = ["FAULT_POINTS", "DurableObjectsService"]

#: The injection points of this kind.
FAULT_POINTS = frozenset(
    {"durable_objects.storage", "durable_objects.commit", "durable_objects.alarm"}
)


class DurableObjectsService(BindingService):
    """Every Durable Object namespace of the emulator."""

    kind: ClassVar[str] = "durable_objects"

    def __init__(self, ctx: ServiceContext) -> None:
        super().__init__(ctx)
        #: The namespaces, by ``<worker>-<Class>``.
        self.hub = DurableObjectsHub(
            configs=ctx.configs,
            workers=ctx.workers,
            clock=ctx.clock,
            tracker=ctx.tracker,
            faults=ctx.faults,
            persist_to=ctx.persist_to,
        )

    def bindings_for(self, config: WorkerConfig) -> Mapping[str, object]:
        """One ``DurableObjectNamespace`` per binding."""
        return self.hub.bindings_for(config)

    def attach(self) -> None:
        """Check every bound class is exported and derives from ``DurableObject``."""
        self.hub.attach()

    def begin(self) -> None:
        """Re-arm the alarms of persisted objects."""
        self.hub.restore()

    async def stop(self) -> None:
        """Arm no more alarms."""
        self.hub.stop_alarms()

    async def aclose(self) -> None:
        """Close every object's database."""
        self.hub.close()

    def fault_targets(self, point: str) -> Collection[str] | NotMine | None:
        """The class names bound by any Worker."""
        if point not in FAULT_POINTS:
            return NOT_MINE
        return {b.class_name for config in self.ctx.configs for b in config.durable_object_bindings}

    def is_settled(self) -> bool:
        """Whether no event is running in any object."""
        return self.hub.is_settled()

    def busy(self) -> list[str]:
        """Objects with events in flight."""
        return self.hub.busy()

    def describe(self, config: WorkerConfig) -> list[DescribeRow]:
        """A row per Durable Object binding."""
        mode = "local" if self.ctx.persist_to is None else "local, persisted"
        return [
            (f"env.{b.name} ({b.class_name})", "Durable Object", mode)
            for b in config.durable_object_bindings
        ]

    def namespace(self, binding: str, *, worker: str | None = None) -> DurableObjectNamespace:
        """The namespace bound as ``binding`` in ``worker`` (default: the primary Worker)."""
        name = worker or self.ctx.configs[0].name
        found = self.ctx.workers[name].env.get(binding)
        if not isinstance(found, DurableObjectNamespace):
            raise KeyError(f"no Durable Object binding {binding!r} in Worker {name!r}")
        return found

    @property
    def runtimes(self) -> Mapping[str, NamespaceRuntime]:
        """Every namespace's runtime by ``<worker>-<Class>`` (for inspection)."""
        return self.hub.runtimes
