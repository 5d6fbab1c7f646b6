"""Cloudflare Queues, in process: producers, consumers, batching, retries, dead-letter queues.

- :class:`Broker` owns every queue; :meth:`Broker.producer` gives a Worker's ``env`` binding
  (:class:`QueueProducer`: ``send``, ``sendBatch``, ``metrics``), :meth:`Broker.set_consumer`
  attaches a consumer (:class:`ConsumerSettings`, a :data:`QueueHandler`).
- Consumers receive a :class:`MessageBatch` of :class:`Message` (Cloudflare's names).
- :attr:`Broker.queues` maps names to :class:`QueueView` for inspection and
  :class:`QueueStats`.
- :mod:`cfemu.queues.store` is the storage seam (:class:`~cfemu.queues.store.MemoryStore` by
  default); :class:`SqliteStore` keeps queues in SQLite across restarts and crashes
  (``Broker(..., store_path=...)``, the emulator's ``persist_to``).

See ``docs/queues.md`` and ``docs/persistence.md``.
"""

from __future__ import annotations

from cfemu.queues.broker import (
    Broker,
    ConsumerSettings,
    QueuedMessage,
    QueueHandler,
    QueueStats,
    QueueView,
)
from cfemu.queues.message import Message, MessageBatch
from cfemu.queues.producer import QueueProducer
from cfemu.queues.sqlite_store import SqliteStore

__all__ = [
    "Broker",
    "ConsumerSettings",
    "Message",
    "MessageBatch",
    "QueueHandler",
    "QueueProducer",
    "QueueStats",
    "QueueView",
    "QueuedMessage",
    "SqliteStore",
]
