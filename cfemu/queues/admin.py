"""Managing queues as Cloudflare's API does: create, delete, pause, consumers, purge.

:class:`QueueAdmin` is what the REST API (and the CLI) ask; it keeps the broker and the
persisted :class:`~cfemu.queues.registry.QueueRegistry` in step. Queues and Worker consumers
the configs declare are the configs' own: the API lists them but cannot delete them.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from cfemu.errors import QueueError
from cfemu.queues.broker import Broker
from cfemu.queues.pull import PullSettings
from cfemu.queues.registry import QueueRecord, QueueRegistry, now_iso

if TYPE_CHECKING:
    from cfemu.config import WorkerConfig

__all__ = ["QueueAdmin"]

_log = logging.getLogger("cfemu.queues")


class QueueAdmin:
    """The queues of one emulator, as the Cloudflare API manages them."""

    def __init__(
        self, broker: Broker, registry: QueueRegistry, configs: tuple[WorkerConfig, ...]
    ) -> None:
        self.broker = broker
        self.registry = registry
        self.configs = configs

    # --- start-up ----------------------------------------------------------------------------
    def restore(self, configured: set[str]) -> None:
        """Register the configured queues, then re-create what the API created: queues,
        pull consumers, paused deliveries (before any delivery starts)."""
        for name in sorted(configured):
            self.registry.ensure(name, configured=True)
        consumed = {c.queue for config in self.configs for c in config.queues.consumers}
        for record in self.registry.queues.values():
            self.broker.declare_queue(record.queue_name)
            settings = record.pull_settings()
            if settings is not None:
                if record.queue_name in consumed:
                    _log.warning(
                        'Queue "%s": its HTTP pull consumer is ignored: the config declares a '
                        "Worker consumer for it",
                        record.queue_name,
                    )
                else:
                    self.broker.set_pull_consumer(record.queue_name, settings)
            if record.paused:
                self.broker.pause(record.queue_name)

    # --- queues --------------------------------------------------------------------------------
    def create(self, name: str) -> QueueRecord:
        """A new, empty queue (``QueueError`` if the name is taken)."""
        if name in self.registry.queues:
            raise QueueError(f"A queue with name {name!r} already exists")
        record = self.registry.ensure(name)
        self.broker.declare_queue(name)
        return record

    def delete(self, record: QueueRecord) -> None:
        """Delete a queue the API created, with its messages and pull consumer."""
        if record.configured:
            raise QueueError(
                f'Queue "{record.queue_name}" is declared by a Worker config of this emulator; '
                f"remove it from the config first"
            )
        if self.broker.pull_consumer(record.queue_name) is not None:
            self.broker.remove_pull_consumer(record.queue_name)
        self.broker.purge(record.queue_name)
        self.registry.remove(record.queue_name)

    def set_paused(self, record: QueueRecord, paused: bool) -> None:
        """Pause or resume the queue's delivery (persisted)."""
        if paused:
            self.broker.pause(record.queue_name)
        else:
            self.broker.resume(record.queue_name)
        record.paused = paused
        self.registry.touch(record)

    def update_settings(self, record: QueueRecord, settings: Mapping[str, Any]) -> None:
        """Apply a ``settings`` object of a queue update."""
        if "delivery_paused" in settings:
            self.set_paused(record, bool(settings["delivery_paused"]))
        for key in ("delivery_delay", "message_retention_period"):
            if key in settings:
                setattr(record, key, int(settings[key]))
        self.registry.touch(record)

    # --- consumers -----------------------------------------------------------------------------
    def consumers(self, record: QueueRecord) -> list[dict[str, Any]]:
        """Every consumer of the queue, in the API's shape."""
        name = record.queue_name
        found: list[dict[str, Any]] = []
        for config in self.configs:
            for c in config.queues.consumers:
                if c.queue == name:
                    found.append(
                        {
                            "consumer_id": uuid.uuid5(
                                uuid.NAMESPACE_URL, f"{config.name}/{name}"
                            ).hex,
                            "type": "worker",
                            "script_name": config.name,
                            "queue_name": name,
                            "dead_letter_queue": c.dead_letter_queue or "",
                            "created_on": record.created_on,
                            "settings": {
                                "batch_size": c.max_batch_size,
                                "max_retries": c.max_retries,
                                "max_wait_time_ms": int(c.max_batch_timeout * 1000),
                                "max_concurrency": c.max_concurrency,
                                "retry_delay": c.retry_delay,
                            },
                        }
                    )
        if record.pull is not None:
            pull = record.pull
            found.append(
                {
                    "consumer_id": pull["consumer_id"],
                    "type": "http_pull",
                    "queue_name": name,
                    "dead_letter_queue": pull["settings"].get("dead_letter_queue") or "",
                    "created_on": pull["created_on"],
                    "settings": {
                        k: v for k, v in pull["settings"].items() if k != "dead_letter_queue"
                    },
                }
            )
        return found

    def add_pull_consumer(self, record: QueueRecord, settings: PullSettings) -> dict[str, Any]:
        """Give the queue an HTTP pull consumer (``QueueError`` if it has a consumer)."""
        self.broker.set_pull_consumer(record.queue_name, settings)
        if settings.dead_letter_queue is not None:
            self.registry.ensure(settings.dead_letter_queue)
        record.pull = {
            "consumer_id": uuid.uuid4().hex,
            "created_on": now_iso(),
            "settings": {
                "batch_size": settings.batch_size,
                "max_retries": settings.max_retries,
                "retry_delay": settings.retry_delay,
                "visibility_timeout_ms": settings.visibility_timeout_ms,
                "dead_letter_queue": settings.dead_letter_queue,
            },
        }
        self.registry.touch(record)
        return self.consumers(record)[-1]

    def remove_consumer(self, record: QueueRecord, consumer_id: str) -> None:
        """Remove a consumer the API created (``QueueError`` for a config's own)."""
        if record.pull is not None and record.pull["consumer_id"] == consumer_id:
            self.broker.remove_pull_consumer(record.queue_name)
            record.pull = None
            self.registry.touch(record)
            return
        if any(c["consumer_id"] == consumer_id for c in self.consumers(record)):
            raise QueueError(
                "this consumer is declared by a Worker config of this emulator; remove it "
                "from the config instead"
            )
        raise QueueError(f"Consumer {consumer_id} not found")
