"""The seam between the :class:`~cfemu.emulator.Emulator` and each kind of binding.

Every binding kind (queues, D1, Workers AI, and the kinds to come) is a
:class:`BindingService`: the emulator builds one per kind a configuration uses, asks each for
the ``env`` entries of every Worker, and runs their lifecycle in a fixed order::

    start()        open stores under the state folder (before any Worker is imported)
    bindings_for() the env entries of one Worker
    attach()       after every Worker is loaded: consumers, classes exported by Workers
    begin()        start timers and deliveries
    stop()         stop starting work; let in-flight work finish or return it
    aclose()       close stores (after every service stopped and background work ended)

The emulator knows no kind by name: a kind is one line in :data:`SERVICES`, naming the module
that holds its service (imported only when a configuration uses the kind), so adding a kind
touches its own package, that line, its docs and its tests.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Final

if TYPE_CHECKING:
    from cfemu._faults import Faults
    from cfemu._tasks import TaskTracker
    from cfemu.clock import Clock
    from cfemu.config import WorkerConfig
    from cfemu.runtime.transport import Dispatch
    from cfemu.runtime.worker import Worker

__all__ = [
    "NOT_MINE",
    "SERVICES",
    "BindingService",
    "DescribeRow",
    "NotMine",
    "ServiceContext",
    "ServiceKind",
]


class NotMine:
    """The answer of :meth:`BindingService.fault_targets` for a point of another kind."""

    _instance: ClassVar[NotMine | None] = None

    def __new__(cls) -> NotMine:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NOT_MINE"


#: The single :class:`NotMine` value.
NOT_MINE: Final = NotMine()

#: One row of the table ``cfemu dev`` prints at start: (binding, resource, mode).
DescribeRow = tuple[str, str, str]


@dataclass
class ServiceContext:
    """What the emulator shares with every binding service."""

    clock: Clock
    """The emulator's clock: every timer and sleep goes through it."""
    tracker: TaskTracker
    """Background work the emulator waits for (``drain()``) and cancels on close."""
    faults: Faults
    """The fault-injection switchboard; services call ``faults.check(point, target)``."""
    configs: tuple[WorkerConfig, ...]
    """Every Worker's configuration; the first is the primary Worker."""
    persist_to: Path | None = None
    """The locked state folder, or ``None`` when everything lives in memory."""
    dev_mode: bool = False
    """True under ``cfemu dev`` (tracebacks in 500 answers, real-time shutdown grace)."""
    workers: Mapping[str, Worker] = field(default_factory=dict)
    """Every loaded Worker by name; filled before :meth:`BindingService.attach` runs."""
    options: dict[str, object] = field(default_factory=dict)
    """Per-kind settings given to the Emulator (``options["ai"]`` is an ``AiSettings``)."""

    def state_path(self, *parts: str) -> Path | None:
        """A path inside the state folder (``None`` in memory); parent folders are created."""
        if self.persist_to is None:
            return None
        path = self.persist_to.joinpath(*parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path


class BindingService:
    """One kind of binding, for every Worker of an emulator. Subclass and override.

    Every method has a do-nothing default, so a kind implements only what it needs.
    """

    #: The kind's name: ``"queues"``, ``"d1"``, ``"ai"``, ...
    kind: ClassVar[str] = ""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    async def start(self) -> None:
        """Open this kind's stores (under ``ctx.persist_to``); runs before Workers load."""

    def bindings_for(self, config: WorkerConfig) -> Mapping[str, object]:
        """The ``env`` entries this kind gives the Worker configured by ``config``."""
        return {}

    def attach(self) -> None:
        """Runs once every Worker is loaded (``ctx.workers``): attach handlers, find classes."""

    def begin(self) -> None:
        """Start timers and deliveries (after :meth:`attach`)."""

    async def stop(self) -> None:
        """Start no new work; let in-flight work finish (or return it). Idempotent.

        Every service stops before background work (``waitUntil``) is ended and before
        any service closes, so a Worker finishing a batch can still use D1.
        """

    async def aclose(self) -> None:
        """Close this kind's stores (after every service stopped). Idempotent."""

    def fault_targets(self, point: str) -> Collection[str] | NotMine | None:
        """Valid targets of the fault point ``point`` (``None``: anything), or
        :data:`NOT_MINE` when ``point`` belongs to another kind."""
        return NOT_MINE

    def is_settled(self) -> bool:
        """Whether nothing of this kind is due, delayed or in flight."""
        return True

    def busy(self) -> list[str]:
        """What is still busy, for ``DrainError`` messages (empty when settled)."""
        return []

    def wrap_fetch(self, config: WorkerConfig, fetch: Dispatch) -> Dispatch:
        """The HTTP entry of the Worker configured by ``config``: ``fetch`` itself, or a
        dispatch in front of it (static assets answer before the Worker)."""
        return fetch

    def describe(self, config: WorkerConfig) -> list[DescribeRow]:
        """Rows for ``cfemu dev``'s start-up table of the Worker configured by ``config``."""
        return []


@dataclass(frozen=True)
class ServiceKind:
    """A registered binding kind: where its service lives and which configs use it."""

    kind: str
    """The kind's name, as :attr:`BindingService.kind`."""
    target: str
    """``"package.module:ClassName"`` of its :class:`BindingService` (imported lazily)."""
    used_by: Callable[[WorkerConfig], bool]
    """Whether a Worker's config uses the kind (a kind no config uses is never imported)."""
    always: bool = False
    """Build the service even when no config uses the kind (its emulator accessor needs it)."""

    def load(self) -> type[BindingService]:
        """Import and return the service class."""
        module_name, _, class_name = self.target.partition(":")
        cls: type[BindingService] = getattr(importlib.import_module(module_name), class_name)
        return cls


#: Every binding kind, in the order services start (and close in reverse).
SERVICES: tuple[ServiceKind, ...] = (
    ServiceKind(
        "queues",
        "cfemu.queues.service:QueueService",
        lambda c: bool(c.queues.producers or c.queues.consumers),
        always=True,
    ),
    ServiceKind("d1", "cfemu.d1.service:D1Service", lambda c: bool(c.d1_databases), always=True),
    ServiceKind("ai", "cfemu.ai.service:AiService", lambda c: c.ai is not None, always=True),
    ServiceKind("kv", "cfemu.kv.service:KvService", lambda c: bool(c.kv_namespaces)),
    ServiceKind(
        "durable_objects",
        "cfemu.durable_objects.service:DurableObjectsService",
        lambda c: bool(c.durable_object_bindings),
    ),
    ServiceKind("assets", "cfemu.assets.service:AssetsService", lambda c: c.assets is not None),
    ServiceKind(
        "workflows", "cfemu.workflows.service:WorkflowsService", lambda c: bool(c.workflows)
    ),
)
