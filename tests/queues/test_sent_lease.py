"""A ``sendBatch`` that its consumer leases whole as it is queued is delivered without a
stored record per message (``_QueueCore._take_at_once``); everything that looks at the
messages one by one while they are in flight must still see them as it would otherwise."""

from __future__ import annotations

from datetime import datetime
from math import floor

import orjson
import pytest

from cfemu.queues import MessageBatch
from cfemu.queues.views import utc
from tests.queues.harness import Harness

pytestmark = pytest.mark.anyio


def sent_at(h: Harness) -> datetime:
    return utc(floor(h.clock.now() * 1000) / 1000)


async def test_a_batch_leased_as_sent_is_seen_in_flight_with_its_ids_and_send_time(
    h: Harness,
) -> None:
    seen: list[tuple[str, int, object, datetime]] = []

    async def handler(batch: MessageBatch) -> None:
        seen.extend((m.id, m.attempts, m.body, m.timestamp) for m in batch.messages)
        await h.clock.sleep(10)

    h.consume("q", handler, max_batch_size=3, max_batch_timeout=0)
    bodies = [{"n": 1}, "two", [3]]
    sent = sent_at(h)
    result = await h.broker.producer("q").sendBatch([{"body": b} for b in bodies])
    metrics = result["metadata"]["metrics"]
    size = sum(len(orjson.dumps(b)) for b in bodies)
    assert (metrics["backlogCount"], metrics["backlogBytes"]) == (3, size)
    assert metrics["oldestMessageTimestamp"] == sent
    await h.run_tasks()
    view = h.broker.queues["q"]
    flying = view.in_flight()
    assert [(m.id, m.attempts, m.body, m.timestamp) for m in flying] == seen
    assert [(m.body, m.attempts, m.timestamp, m.state) for m in flying] == [
        (b, 1, sent, "in_flight") for b in bodies
    ]
    assert len({m.id for m in flying}) == 3
    await h.drain()
    stats = view.stats()
    assert (stats.acked, stats.in_flight, stats.backlog) == (3, 0, 0)
    assert view.metrics()["oldestMessageTimestamp"] is None


async def test_a_retried_message_of_a_batch_leased_as_sent_keeps_its_id_time_and_body(
    h: Harness,
) -> None:
    seen: list[tuple[str, int, object, datetime]] = []

    async def handler(batch: MessageBatch) -> None:
        seen.extend((m.id, m.attempts, m.body, m.timestamp) for m in batch.messages)
        for m in batch.messages:
            if m.body == "b" and m.attempts == 1:
                m.retry()
            else:
                m.ack()

    h.consume("q", handler, max_batch_size=2, max_batch_timeout=0)
    sent = sent_at(h)
    await h.broker.producer("q").sendBatch([{"body": "a"}, {"body": "b"}])
    await h.advance(1)
    await h.drain()
    (a_id, _, _, _), (b_id, _, _, _) = seen[:2]
    assert seen == [(a_id, 1, "a", sent), (b_id, 1, "b", sent), (b_id, 2, "b", sent)]
    stats = h.broker.queues["q"].stats()
    assert (stats.acked, stats.retried, stats.backlog) == (2, 1, 0)


async def test_the_oldest_send_time_counts_a_batch_leased_as_sent_before_waiting_ones(
    h: Harness,
) -> None:
    batches: list[list[object]] = []

    async def handler(batch: MessageBatch) -> None:
        batches.append([m.body for m in batch.messages])
        await h.clock.sleep(10)

    h.consume("q", handler, max_batch_size=2, max_batch_timeout=0)
    producer = h.broker.producer("q")
    first = sent_at(h)
    await producer.sendBatch([{"body": 1}, {"body": 2}])  # leased at once
    await h.run_tasks()
    await h.advance(5)
    await producer.sendBatch([{"body": 3}, {"body": 4}])  # waits: one delivery at a time
    view = h.broker.queues["q"]
    assert view.metrics()["oldestMessageTimestamp"] == first
    assert view.metrics()["backlogCount"] == 4
    assert [m.body for m in view.ready()] == [3, 4]
    assert [m.body for m in view.in_flight()] == [1, 2]
    await h.drain()
    assert batches == [[1, 2], [3, 4]]
    stats = view.stats()
    assert (stats.acked, stats.backlog) == (4, 0)
    assert view.metrics()["oldestMessageTimestamp"] is None


async def test_a_failed_invocation_retries_a_batch_leased_as_sent(h: Harness) -> None:
    seen: list[tuple[object, int]] = []

    async def handler(batch: MessageBatch) -> None:
        seen.extend((m.body, m.attempts) for m in batch.messages)
        if batch.messages[0].attempts == 1:
            batch.messages[0].ack()
            raise RuntimeError("boom")

    h.consume("q", handler, max_batch_size=3, max_batch_timeout=0, max_retries=1)
    await h.broker.producer("q").sendBatch([{"body": b} for b in "xyz"])
    await h.drain()
    assert seen == [("x", 1), ("y", 1), ("z", 1), ("y", 2), ("z", 2)]
    stats = h.broker.queues["q"].stats()
    assert (stats.acked, stats.retried, stats.failed_batches, stats.backlog) == (3, 2, 1, 0)
