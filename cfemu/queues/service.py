"""Queues as a binding kind: one :class:`Broker` for every Worker of an emulator."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, ClassVar

from cfemu.bindings import NOT_MINE, BindingService, DescribeRow, NotMine, ServiceContext
from cfemu.compat import compat_for
from cfemu.errors import ConfigError, WorkerError
from cfemu.queues.admin import QueueAdmin
from cfemu.queues.broker import Broker, ConsumerSettings
from cfemu.queues.registry import SETTINGS_FILE, QueueRegistry
from cfemu.state import opening_state

if TYPE_CHECKING:
    from cfemu.config import WorkerConfig
    from cfemu.queues.message import MessageBatch

__all__ = ["SHUTDOWN_GRACE_OPTION", "QueueService"]

#: ``ServiceContext.options`` key: real seconds in-flight batches get to finish on close.
SHUTDOWN_GRACE_OPTION = "queues.shutdown_grace_seconds"


class QueueService(BindingService):
    """Producers (``env.<binding>``), consumers and dead-letter queues of every Worker.

    Queues are shared by name across Workers: a message one Worker sends is consumed by
    the Worker whose config declares the consumer.
    """

    kind: ClassVar[str] = "queues"

    def __init__(self, ctx: ServiceContext) -> None:
        super().__init__(ctx)
        check_consumers(ctx.configs)
        self.broker: Broker | None = None
        #: What the Cloudflare API manages (queues it created, pull consumers, pauses).
        self.admin: QueueAdmin | None = None

    async def start(self) -> None:
        """Open the broker (and ``queues.sqlite`` under the state folder) and declare
        every queue the configs name."""
        store_path = self.ctx.state_path("queues.sqlite")
        with opening_state(store_path or "queues.sqlite", "queue state"):
            broker = self.broker = Broker(
                self.ctx.clock,
                self.ctx.tracker,
                faults=self.ctx.faults,
                logger=logging.getLogger("cfemu.queues"),
                store_path=store_path,
            )
        configured: set[str] = set()
        for config in self.ctx.configs:
            for consumer in config.queues.consumers:
                configured.add(consumer.queue)
                if consumer.dead_letter_queue:
                    configured.add(consumer.dead_letter_queue)
            configured.update(p.queue for p in config.queues.producers if not p.remote)
        for name in sorted(configured):
            broker.declare_queue(name)
        registry = QueueRegistry(self.ctx.state_path(SETTINGS_FILE))
        self.admin = QueueAdmin(broker, registry, self.ctx.configs)
        self.admin.restore(configured)

    def _broker(self) -> Broker:
        if self.broker is None:
            raise RuntimeError("the queue service is not started")
        return self.broker

    def bindings_for(self, config: WorkerConfig) -> Mapping[str, object]:
        """One producer binding per ``[[queues.producers]]`` entry (a
        ``RemoteQueueProducer`` for ``remote = true``)."""
        broker = self._broker()
        compat = compat_for(config)
        found: dict[str, object] = {}
        for p in config.queues.producers:
            if p.remote:
                from cfemu.remote.client import remote_api_for
                from cfemu.remote.queues import RemoteQueueProducer

                api = remote_api_for(
                    self.ctx.options,
                    f"queue producer {p.binding!r} is a remote binding (remote = true)",
                )
                found[p.binding] = RemoteQueueProducer(api, p.queue)
            else:
                found[p.binding] = broker.producer(
                    p.queue, delivery_delay=p.delivery_delay, compat=compat
                )
        return found

    def attach(self) -> None:
        """Attach each ``[[queues.consumers]]`` entry to its Worker's ``queue`` handler."""
        broker = self._broker()
        for config in self.ctx.configs:
            if config.queues.consumers and config.main_path is None:
                raise WorkerError(
                    f"{config.path}: Worker {config.name!r} consumes queues but has no "
                    f"'main' module to handle them"
                )
            handler = self._handler(config.name)
            for consumer in config.queues.consumers:
                settings = ConsumerSettings(
                    max_batch_size=consumer.max_batch_size,
                    max_batch_timeout=consumer.max_batch_timeout,
                    max_retries=consumer.max_retries,
                    dead_letter_queue=consumer.dead_letter_queue,
                    max_concurrency=consumer.max_concurrency,
                    retry_delay=consumer.retry_delay,
                )
                broker.set_consumer(consumer.queue, settings, handler)

    def _handler(self, name: str) -> Callable[[MessageBatch], Awaitable[None]]:
        """The Worker's ``queue`` handler, looked up per batch: a reloaded Worker (``cfemu
        dev`` on save) gets the next batch, while a batch in flight finishes on the old one."""
        workers = self.ctx.workers

        async def handler(batch: MessageBatch) -> None:
            await workers[name].queue(batch)

        return handler

    def begin(self) -> None:
        """Deliver what is queued already (restored state) and what arrives from now on."""
        self._broker().start()

    async def stop(self) -> None:
        """Stop delivering. On the real clock (``cfemu dev``) batches in flight may finish
        within the shutdown grace; on a virtual clock tests drain first, and a batch still
        running is interrupted like a crash (it counts a failed attempt)."""
        if self.broker is None or self.broker.closed:
            return
        grace = 0.0
        if not self.ctx.clock.is_virtual:
            grace = float(self.ctx.options.get(SHUTDOWN_GRACE_OPTION, 0.0))  # type: ignore[arg-type]
        await self.broker.aclose(grace_seconds=grace)

    async def aclose(self) -> None:
        """Close the remote bindings' API client, if one was built."""
        from cfemu.remote.client import close_remote_api

        await close_remote_api(self.ctx.options)

    def fault_targets(self, point: str) -> Collection[str] | NotMine | None:
        """``queue.*`` points target queue names."""
        if not point.startswith("queue."):
            return NOT_MINE
        return set(self.broker.queues) if self.broker is not None else None

    def is_settled(self) -> bool:
        """Nothing deliverable now and nothing in flight."""
        return self.broker is None or self.broker.is_settled()

    def busy(self) -> list[str]:
        """Queues holding ready, delayed or in-flight messages; the queue state file while
        it cannot be written (disk full: delivery paused, commits retried)."""
        if self.broker is None:
            return []
        parts = []
        if not self.broker.store.writable:
            path = self.broker.store_path or "the queue store"
            parts.append(f"queue state {path} (cannot be written; delivery paused, retrying)")
        for name, view in self.broker.queues.items():
            s = view.stats()
            if s["depth"] or s["in_flight"] or s["delayed"]:
                parts.append(
                    f"{name} (ready={s['depth']}, delayed={s['delayed']}, "
                    f"in_flight={s['in_flight']})"
                )
        return parts

    def describe(self, config: WorkerConfig) -> list[DescribeRow]:
        """A row per producer binding."""
        return [
            (f"env.{p.binding} ({p.queue})", "Queue", "remote" if p.remote else "local")
            for p in config.queues.producers
        ]


def check_consumers(configs: Sequence[WorkerConfig]) -> None:
    """Refuse two Workers consuming the same queue, with wrangler's wording."""
    owner: dict[str, WorkerConfig] = {}
    for config in configs:
        for consumer in config.queues.consumers:
            other = owner.get(consumer.queue)
            if other is not None and other is not config:
                raise ConfigError(
                    f'Multiple consumers defined for queue "{consumer.queue}": '
                    f'"{other.name}" and "{config.name}"',
                    file=config.path,
                )
            owner[consumer.queue] = config
