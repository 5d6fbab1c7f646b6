"""HTTP pull consumers at the broker: leases, visibility timeouts, acks, retries, DLQ, pause."""

from __future__ import annotations

import pytest

from cfemu.errors import QueueError
from cfemu.queues._codec import decode
from cfemu.queues.pull import DeliveryPausedError, PullSettings

from .harness import Harness, Recorder

pytestmark = pytest.mark.anyio


async def send(h: Harness, queue: str, *bodies: object, delay: int = 0) -> None:
    producer = h.broker.producer(queue)
    for body in bodies:
        await producer.send(body, delaySeconds=delay)


async def test_a_pull_leases_up_to_batch_size_in_order_and_counts_an_attempt() -> None:
    h = Harness()
    pull = h.broker.set_pull_consumer("jobs", PullSettings())
    await send(h, "jobs", *range(7))
    first = await pull.pull()
    assert [decode(m.content_type, m.payload) for m in first] == [0, 1, 2, 3, 4]
    assert {m.attempts for m in first} == {1}
    assert len({m.lease_id for m in first}) == 5
    second = await pull.pull(batch_size=100)
    assert [decode(m.content_type, m.payload) for m in second] == [5, 6]
    assert await pull.pull() == []  # short polling: nothing ready, an empty answer at once
    assert pull.backlog_count() == 7


async def test_an_expired_lease_redelivers_with_one_more_attempt() -> None:
    h = Harness()
    pull = h.broker.set_pull_consumer("jobs", PullSettings(visibility_timeout_ms=10_000))
    await send(h, "jobs", "a")
    [leased] = await pull.pull()
    await h.advance(9.9)
    assert await pull.pull() == []
    await h.advance(0.2)
    [again] = await pull.pull()
    assert (again.id, again.attempts) == (leased.id, 2)
    late = pull.ack([leased.lease_id], [])
    assert late.ack_count == 0 and leased.lease_id in late.warnings
    assert pull.ack([again.lease_id], []).ack_count == 1
    assert pull.backlog_count() == 0


async def test_retry_with_delay_then_the_last_attempt_goes_to_the_dead_letter_queue() -> None:
    h = Harness()
    pull = h.broker.set_pull_consumer(
        "jobs", PullSettings(max_retries=1, retry_delay=30, dead_letter_queue="jobs-dlq")
    )
    await send(h, "jobs", "x")
    [m] = await pull.pull()
    assert pull.ack([], [(m.lease_id, 5)]).retry_count == 1  # its own delay wins
    await h.advance(4.9)
    assert await pull.pull() == []
    await h.advance(0.1)
    [m2] = await pull.pull()
    assert m2.attempts == 2
    result = pull.ack([], [(m2.lease_id, None)])
    assert result.retry_count == 1
    assert len(h.broker.queues["jobs-dlq"]) == 1 and pull.backlog_count() == 0
    assert h.broker.queues["jobs"].stats().dead_lettered == 1


async def test_an_expired_last_attempt_is_dropped_without_a_dead_letter_queue() -> None:
    h = Harness()
    pull = h.broker.set_pull_consumer("jobs", PullSettings(max_retries=0))
    await send(h, "jobs", "x")
    assert len(await pull.pull(visibility_timeout_ms=1000)) == 1
    await h.advance(1)
    assert pull.backlog_count() == 0 and h.broker.queues["jobs"].stats().dropped == 1


async def test_a_paused_queue_refuses_pulls_and_keeps_accepting_messages() -> None:
    h = Harness()
    pull = h.broker.set_pull_consumer("jobs", PullSettings())
    h.broker.pause("jobs")
    await send(h, "jobs", "kept")
    with pytest.raises(DeliveryPausedError, match="queue_delivery_paused"):
        await pull.pull()
    h.broker.resume("jobs")
    assert len(await pull.pull()) == 1


async def test_pausing_a_push_queue_holds_delivery_until_resumed() -> None:
    h = Harness()
    seen = Recorder(h)
    h.consume("jobs", seen, max_batch_timeout=1)
    h.broker.pause("jobs")
    await send(h, "jobs", 1, 2)
    await h.drain()
    assert seen.bodies == [] and len(h.broker.queues["jobs"]) == 2
    h.broker.resume("jobs")
    await h.drain()
    assert seen.bodies == [1, 2]


async def test_purge_deletes_ready_and_delayed_messages_but_not_leased_ones() -> None:
    h = Harness()
    pull = h.broker.set_pull_consumer("jobs", PullSettings(batch_size=1))
    await send(h, "jobs", "leased", "ready")
    await send(h, "jobs", "later", delay=60)
    [leased] = await pull.pull()
    assert h.broker.purge("jobs") == 2
    assert pull.backlog_count() == 1
    assert pull.ack([leased.lease_id], []).ack_count == 1


async def test_a_queue_has_one_consumer_of_one_type() -> None:
    h = Harness()
    h.consume("pushed", Recorder(h))
    with pytest.raises(QueueError, match="already has a consumer"):
        h.broker.set_pull_consumer("pushed", PullSettings())
    h.broker.set_pull_consumer("pulled", PullSettings())
    with pytest.raises(QueueError, match="Multiple consumers"):
        h.consume("pulled", Recorder(h))


async def test_removing_a_pull_consumer_returns_leased_messages_as_a_failed_attempt() -> None:
    h = Harness()
    pull = h.broker.set_pull_consumer("jobs", PullSettings())
    await send(h, "jobs", "x")
    await pull.pull()
    h.broker.remove_pull_consumer("jobs")
    [msg] = h.broker.queues["jobs"].ready()
    assert msg.attempts == 1
    again = h.broker.set_pull_consumer("jobs", PullSettings())
    assert [m.attempts for m in await again.pull()] == [2]


@pytest.mark.parametrize(
    ("field", "value"),
    [("batch_size", 0), ("batch_size", 101), ("visibility_timeout_ms", 43_200_001)],
)
async def test_pull_settings_out_of_range_are_refused(field: str, value: int) -> None:
    with pytest.raises(QueueError, match=field):
        PullSettings(**{field: value})
