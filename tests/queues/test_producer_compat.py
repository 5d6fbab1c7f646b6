"""The producer by compatibility date: default content type, error wording, and results."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cfemu._js import JsDict
from cfemu.compat import resolve
from cfemu.errors import QueueSendError
from tests.queues.harness import Harness

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("date", "flags", "expected"),
    [
        ("2024-03-17", (), "v8"),
        ("2024-03-18", (), "json"),
        ("2026-01-01", ("no_queues_json_messages",), "v8"),
        ("2024-01-01", ("queues_json_messages",), "json"),
    ],
)
async def test_the_default_content_type_follows_queues_json_messages(
    h: Harness, date: str, flags: tuple[str, ...], expected: str
) -> None:
    producer = h.broker.producer("q", compat=resolve(date, flags))
    await producer.send({"a": {1, 2}} if expected == "v8" else {"a": [1, 2]})
    await producer.sendBatch([{"body": [1]}, {"body": "t", "contentType": "text"}])
    assert [m.content_type for m in h.broker.queues["q"].ready()] == [expected, expected, "text"]


async def test_a_v8_default_carries_what_json_cannot(h: Harness) -> None:
    producer = h.broker.producer("q", compat=resolve("2024-01-01"))
    when = datetime(2024, 1, 1, tzinfo=UTC)
    await producer.send({"when": when, "tags": {"x"}})
    assert h.broker.queues["q"].ready()[0].body == {"when": when, "tags": {"x"}}


@pytest.mark.parametrize(
    ("date", "send", "batch"),
    [
        (
            "2026-03-11",
            "Queue send failed: message length of 128001 bytes exceeds limit of 128000",
            "Queue sendBatch failed: batch message count of 101 exceeds limit of 100",
        ),
        (
            "2026-03-12",
            "message length of 128001 bytes exceeds limit of 128000 (10204)",
            "batch message count of 101 exceeds limit of 100 (10206)",
        ),
    ],
)
async def test_errors_carry_a_code_from_queue_expose_error_codes(
    h: Harness, date: str, send: str, batch: str
) -> None:
    producer = h.broker.producer("q", compat=resolve(date))
    with pytest.raises(QueueSendError) as info:
        await producer.send("x" * 127_999)
    assert str(info.value) == send
    assert (info.value.status, info.value.error_code) == (413, 10204)
    with pytest.raises(QueueSendError) as info:
        await producer.sendBatch([{"body": i} for i in range(101)])
    assert str(info.value) == batch


@pytest.mark.parametrize(
    ("date", "send", "batch"),
    [
        (
            "2026-03-11",
            "Queue send failed: Too Many Requests",
            "Queue sendBatch failed: Too Many Requests",
        ),
        ("2026-03-12", "Too Many Requests (10250)", "Too Many Requests (10250)"),
    ],
)
async def test_an_injected_fault_is_worded_for_the_call_that_failed(
    h: Harness, date: str, send: str, batch: str
) -> None:
    producer = h.broker.producer("q", compat=resolve(date))
    h.faults.queue_send("q", times=2)
    with pytest.raises(QueueSendError) as info:
        await producer.send(1)
    assert str(info.value) == send
    with pytest.raises(QueueSendError) as info:
        await producer.sendBatch([{"body": 1}])
    assert str(info.value) == batch and info.value.status == 429
    assert len(h.broker.queues["q"]) == 0


async def test_an_unknown_fault_cause_gets_the_unknown_error_code(h: Harness) -> None:
    producer = h.broker.producer("q", compat=resolve("2026-06-01"))
    h.faults.queue_send("q", error="Queue is overloaded. Please back off.")
    with pytest.raises(
        QueueSendError, match=r"^Queue is overloaded\. Please back off\. \(15000\)$"
    ):
        await producer.sendBatch([{"body": 1}])


async def test_send_and_send_batch_resolve_to_the_queue_metrics(h: Harness) -> None:
    producer = h.broker.producer("q")
    h.clock.advance(5)
    first = await producer.send({"n": 1})
    assert isinstance(first, JsDict) and isinstance(first.metadata.metrics, JsDict)
    oldest = datetime.fromtimestamp(h.clock.now(), UTC)
    size = h.broker.queues["q"].stats().backlog_bytes
    assert first == {
        "metadata": {
            "metrics": {"backlogCount": 1, "backlogBytes": size, "oldestMessageTimestamp": oldest}
        }
    }
    h.clock.advance(5)
    second = await producer.sendBatch([{"body": "a"}, {"body": "b"}])
    metrics = second.metadata.metrics
    assert (metrics.backlogCount, metrics.oldestMessageTimestamp) == (3, oldest)
    assert metrics.backlogBytes == h.broker.queues["q"].stats().backlog_bytes > size
