"""One consumer invocation: the batch built from leased records, the handler run, the outcome
handed back to the queue's state machine (:meth:`cfemu.queues._core._QueueCore.settle`)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from cfemu.queues._invoke import run_consumer
from cfemu.queues.message import MessageBatch
from cfemu.queues.store import StoredMessage, StoreWriteError, UniformBatch

if TYPE_CHECKING:
    from cfemu.queues._core import _QueueCore

__all__ = ["_Delivery", "deliver", "lease_durable"]


class _Delivery:
    """One consumer invocation in flight; ``finished`` once its outcome has been applied."""

    __slots__ = ("core", "finished", "records", "task")

    def __init__(self, core: _QueueCore, records: list[StoredMessage]) -> None:
        self.core = core
        self.records = records
        self.finished = False
        self.task: asyncio.Task[Any] | None = None


async def deliver(core: _QueueCore, delivery: _Delivery) -> None:
    """Run one leased batch through ``core``'s consumer and settle the outcome."""
    records = delivery.records
    broker = core.broker
    try:
        crash = broker.faults.take_consumer_crash(core.name) if broker.faults else None
        if crash is not None:
            core.faults += 1
        started = core.clock.now()
        try:
            batch = MessageBatch(
                core.name, records, metadata=core._metadata, crash=crash, log=broker.logger
            )
        except Exception as exc:
            # A body that cannot be deserialized (e.g. a persisted "v8" body whose class is
            # gone) fails the invocation, as it would in the runtime: the batch is retried
            # and, after its last attempt, dead-lettered, instead of wedging the queue.
            broker.logger.error(
                "Queue %r: cannot deserialize a message of the batch: %r", core.name, exc
            )
            if type(records) is UniformBatch:
                records.fill_in_flight()  # (a batch leased as it was sent)
            batch = MessageBatch(core.name, records, bodies=[None] * len(records))
            delivery.finished = True
            broker._deliveries.discard(delivery)
            core.settle(batch, True, started)
            return
        handler = core.handler
        assert handler is not None
        try:
            if broker._flush_before_delivery and not await lease_durable(core, delivery):
                return
            # Whatever the handler raises (SystemExit included) or a run past the wall-clock
            # limit is a failed invocation; only cfemu's own cancellation propagates.
            failed, error = await run_consumer(
                handler,
                batch,
                queue=core.name,
                watchdog=broker._watchdog,
                started=started,
                limit=broker.consumer_wall_clock_limit,
                logger=broker.logger,
            )
        except asyncio.CancelledError:
            delivery.finished = True
            broker._deliveries.discard(delivery)
            core.abort(records)
            raise
        except BaseException:
            delivery.finished = True
            broker._deliveries.discard(delivery)
            core.settle(batch, True, started)
            raise
        if error is not None and crash is None:
            broker.logger.error("Consumer of queue %r raised: %r", core.name, error, exc_info=error)
        if crash is not None:
            failed = True  # an injected crash fails the invocation even if the handler caught it
        delivery.finished = True
        broker._deliveries.discard(delivery)
        core.settle(batch, failed, started)
    finally:
        if not broker._deliveries:  # (settling may have started the next delivery)
            broker._watchdog.idle()


async def lease_durable(core: _QueueCore, delivery: _Delivery) -> bool:
    """Wait until the lease (and the attempt it counts) is durable, so the handler's side
    effects never happen under an attempt the state does not know. If it cannot be
    written, the delivery never happened: the messages go back to the head of the queue,
    their attempt uncounted, and delivery waits until the store writes again."""
    try:
        await core.broker.store.flush()
    except StoreWriteError as exc:
        broker = core.broker
        records = delivery.records
        delivery.finished = True
        broker._deliveries.discard(delivery)
        core.active -= 1
        core.batches -= 1
        core.delivered -= len(records)
        core.store.unlease(records, core.clock.now(), front=True)
        broker.logger.warning(
            "Queue %r: a batch of %d message(s) was not delivered, its attempt could not "
            "be written (%s); it waits at the head of the queue",
            core.name,
            len(records),
            exc,
        )
        core.pump()
        return False
    return True
