"""The producer binding: content types, Cloudflare's error strings, limits, delays, metrics."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from cfemu._faults import FaultRule
from cfemu._js import JsDict
from cfemu.compat import resolve
from cfemu.errors import QueueError, QueueSendError, QueueTypeError
from cfemu.queues import MessageBatch, _v8
from tests.queues.harness import Harness, Recorder

pytestmark = pytest.mark.anyio


def depth(h: Harness, queue: str = "q") -> int:
    return len(h.broker.queues[queue])


# --- content types -------------------------------------------------------------------------
async def test_json_is_the_default_and_the_consumer_gets_a_fresh_copy(h: Harness) -> None:
    rec = Recorder(h)
    h.consume("q", rec, max_batch_timeout=0)
    body: dict[Any, Any] = {"k": [1, 2], "n": None, 3: "int keys become strings"}
    await h.broker.producer("q").send(body)
    body["k"].append(99)  # mutating after send does not change the queued message
    await h.drain()
    assert rec.bodies == [{"k": [1, 2], "n": None, "3": "int keys become strings"}]
    assert h.broker.queues["q"].stats().acked == 1


@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [
        ("text", "héllo", "héllo"),
        ("TEXT", "case-insensitive", "case-insensitive"),
        ("bytes", b"\x00\x01", b"\x00\x01"),
        ("bytes", memoryview(b"mv"), b"mv"),
        ("json", [1, "two", 3.5, True], [1, "two", 3.5, True]),
        ("v8", {1, 2, 3}, {1, 2, 3}),
        ("v8", datetime(2026, 1, 2, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)),
    ],
)
async def test_content_types_round_trip(
    h: Harness, content_type: str, body: Any, expected: Any
) -> None:
    rec = Recorder(h)
    h.consume("q", rec, max_batch_timeout=0)
    await h.broker.producer("q").send(body, contentType=content_type)
    await h.broker.producer("q").sendBatch([{"body": body, "contentType": content_type}])
    await h.drain()
    assert rec.bodies == [expected, expected]
    assert all(type(b) is type(expected) for b in rec.bodies)


@pytest.mark.parametrize(
    ("call", "refused"),
    [
        ("send", bytearray(b"abc")),
        ("send", {"point": (1, 2)}),
        ("send", [{"deep": [bytearray(b"x")]}]),
        ("sendBatch", ({"body": 1},)),
        ("sendBatch", [{"body": {"k": (1,)}}]),
        ("sendBatch", [{"body": [1, 2]}, {"body": [(3,)]}]),
    ],
)
async def test_tuples_and_bytearrays_are_refused_as_the_python_sdk_refuses_them(
    h: Harness, call: str, refused: Any
) -> None:
    producer = h.broker.producer("q")
    with pytest.raises(TypeError, match=r"^<class '(tuple|bytearray)'> cannot be sent over RPC\.$"):
        if call == "send":
            await producer.send(
                refused, contentType="bytes" if isinstance(refused, bytearray) else None
            )
        else:
            await producer.sendBatch(refused)
    assert depth(h) == 0
    await producer.sendBatch(
        [{"body": [1, [2, "(3,)"]]}, {"body": {"b": b"ok"}, "contentType": "v8"}]
    )
    assert depth(h) == 2  # lists, and brackets inside strings, are fine


async def test_text_with_lone_surrogates_arrives_with_replacement_characters(h: Harness) -> None:
    # A JS string may hold lone surrogates; workerd's UTF-8 encoding replaces each with
    # U+FFFD. A surrogate *pair* spelled as two code points is one character in JS.
    await h.broker.producer("q").send("a\ud800b", contentType="text")
    await h.broker.producer("q").send("\ud83d\ude00", contentType="text")
    assert [m.size for m in h.broker.queues["q"].ready()] == [5, 4]
    rec = Recorder(h)
    h.consume("q", rec, max_batch_timeout=0)
    await h.drain()
    assert rec.bodies == ["a\ufffdb", "\U0001f600"]


TEXT_NEEDS = 'Content Type "text" requires a value of type string, but received: '
BYTES_NEEDS = 'Content Type "bytes" requires a value of type ArrayBufferView, but received: '


@pytest.mark.parametrize(
    ("content_type", "body", "message"),
    [
        ("text", 5, TEXT_NEEDS + "number"),
        ("text", {"a": 1}, TEXT_NEEDS + "object"),
        ("text", b"x", TEXT_NEEDS + "object"),
        ("bytes", "str", BYTES_NEEDS + "string"),
        ("bytes", True, BYTES_NEEDS + "boolean"),
        ("xml", "x", "Unsupported queue message content type: xml"),
    ],
)
async def test_type_mismatches_raise_cloudflare_type_errors(
    h: Harness, content_type: str, body: Any, message: str
) -> None:
    producer = h.broker.producer("q")
    with pytest.raises(TypeError, match=f"^{re.escape(message)}$") as info:
        await producer.send(body, contentType=content_type)
    assert isinstance(info.value, QueueTypeError)
    with pytest.raises(QueueTypeError, match=f"^{re.escape(message)}$"):
        await producer.sendBatch([{"body": "ok"}, {"body": body, "contentType": content_type}])
    assert depth(h) == 0


async def test_missing_or_none_body_is_undefined(h: Harness) -> None:
    producer = h.broker.producer("q")
    with pytest.raises(QueueTypeError, match=r"^Message body cannot be undefined$"):
        await producer.send(None)
    with pytest.raises(QueueTypeError, match=r"^Message body cannot be undefined$"):
        await producer.sendBatch([{"body": 1}, {"contentType": "json"}])
    with pytest.raises(QueueTypeError, match=r"^Message body cannot be undefined$"):
        await producer.sendBatch([{"body": None}])
    assert depth(h) == 0


async def test_empty_send_batch(h: Harness) -> None:
    with pytest.raises(TypeError, match=r"^sendBatch\(\) requires at least one message$"):
        await h.broker.producer("q").sendBatch([])
    with pytest.raises(QueueTypeError, match="iterable"):
        await h.broker.producer("q").sendBatch(5)  # type: ignore[arg-type]
    with pytest.raises(QueueTypeError, match="shaped"):
        await h.broker.producer("q").sendBatch(["not a dict"])  # type: ignore[list-item]


async def test_unserializable_json_body_is_a_type_error_and_enqueues_nothing(h: Harness) -> None:
    producer = h.broker.producer("q")
    with pytest.raises(TypeError, match="not JSON-serializable") as info:
        await producer.send(object())
    assert isinstance(info.value, QueueTypeError)
    with pytest.raises(QueueTypeError, match="not JSON-serializable"):
        await producer.sendBatch([{"body": 1}, {"body": {1, 2}}])
    with pytest.raises(QueueTypeError, match="not JSON-serializable"):
        await producer.send(2**70)  # a BigInt in JavaScript: JSON.stringify throws too
    with pytest.raises(QueueTypeError, match="function object could not be cloned"):
        await producer.send(lambda: 1, contentType="v8")
    assert depth(h) == 0


async def test_sendbatch_accepts_any_iterable_of_mappings(h: Harness) -> None:
    rec = Recorder(h)
    h.consume("q", rec, max_batch_timeout=0)
    await h.broker.producer("q").sendBatch(JsDict(body=i) for i in range(3))
    await h.drain()
    assert rec.bodies == [0, 1, 2]


# --- limits --------------------------------------------------------------------------------
#: Before queue_expose_error_codes (2026-03-12) errors read "Queue send failed: <cause>".
BEFORE_ERROR_CODES = resolve("2026-03-11")


def json_string_of_size(n: int) -> str:
    return "x" * (n - 2)  # the JSON encoding adds two quotes


async def test_message_size_limit_is_on_the_serialized_size(h: Harness) -> None:
    producer = h.broker.producer("q", compat=BEFORE_ERROR_CODES)
    await producer.send(json_string_of_size(128_000))  # exactly at the limit: accepted
    await producer.send("y" * 128_000, contentType="text")
    with pytest.raises(QueueSendError) as info:
        await producer.send(json_string_of_size(128_001))
    assert str(info.value) == (
        "Queue send failed: message length of 128001 bytes exceeds limit of 128000"
    )
    assert info.value.status == 413
    with pytest.raises(QueueSendError, match="message length of 128004 bytes"):
        await producer.send("é" * 64_002, contentType="text")  # 2 bytes per character in UTF-8
    assert depth(h) == 2


async def test_batch_count_limit(h: Harness) -> None:
    producer = h.broker.producer("q", compat=BEFORE_ERROR_CODES)
    await producer.sendBatch([{"body": i} for i in range(100)])
    with pytest.raises(QueueSendError) as info:
        await producer.sendBatch([{"body": i} for i in range(101)])
    assert (
        str(info.value) == "Queue sendBatch failed: batch message count of 101 exceeds limit of 100"
    )
    assert depth(h) == 100


async def test_batch_count_limit_looks_at_no_more_than_101_messages(h: Harness) -> None:
    producer = h.broker.producer("q", compat=BEFORE_ERROR_CODES)
    looked_at = 0

    class Unserializable:  # a message that would fail to serialize, were it reached
        pass

    def million() -> Any:
        nonlocal looked_at
        for i in range(1_000_000):
            looked_at += 1
            yield {"body": i if i < 150 else Unserializable()}

    with pytest.raises(QueueSendError) as info:
        await producer.sendBatch(million())
    assert str(info.value) == (
        "Queue sendBatch failed: batch message count of at least 101 exceeds limit of 100"
    )
    assert info.value.status == 413
    assert looked_at == 101
    # A sized collection reports its real count, and nothing of it is serialized.
    with pytest.raises(QueueSendError, match="count of 500 exceeds"):
        await producer.sendBatch([{"body": Unserializable()}] * 500)
    assert depth(h) == 0


async def test_message_in_batch_size_limit(h: Harness) -> None:
    producer = h.broker.producer("q", compat=BEFORE_ERROR_CODES)
    with pytest.raises(QueueSendError) as info:
        await producer.sendBatch([{"body": 1}, {"body": json_string_of_size(128_001)}])
    assert str(info.value) == (
        "Queue sendBatch failed: message in batch has length 128001 bytes which exceeds "
        "single message size limit of 128000"
    )
    assert depth(h) == 0


async def test_batch_total_size_limit(h: Harness) -> None:
    producer = h.broker.producer("q", compat=BEFORE_ERROR_CODES)
    await producer.sendBatch([{"body": json_string_of_size(128_000)}] * 2)  # 256000: accepted
    with pytest.raises(QueueSendError) as info:
        await producer.sendBatch(
            [{"body": json_string_of_size(128_000)}] * 2 + [{"body": 1}]  # 256001
        )
    assert str(info.value) == (
        "Queue sendBatch failed: batch size of 256001 bytes exceeds limit of 256000"
    )
    assert depth(h) == 2


@pytest.mark.parametrize("bad", [-1, 43_201, 1.5, float("nan")])
async def test_delay_out_of_range(h: Harness, bad: float) -> None:
    producer = h.broker.producer("q", compat=BEFORE_ERROR_CODES)
    with pytest.raises(QueueSendError) as info:
        await producer.send(1, delaySeconds=bad)  # type: ignore[arg-type]
    assert str(info.value) == (
        f"Queue send failed: message delay {bad} is invalid: delaySeconds must be an integer "
        "between 0 and 43200"
    )
    with pytest.raises(QueueSendError, match=r"^Queue sendBatch failed: message delay"):
        await producer.sendBatch([{"body": 1}], delaySeconds=bad)  # type: ignore[arg-type]
    with pytest.raises(QueueSendError, match=r"^Queue sendBatch failed: message delay"):
        await producer.sendBatch([{"body": 1}, {"body": 2, "delaySeconds": bad}])
    with pytest.raises(QueueTypeError, match="received: str"):
        await producer.send(1, delaySeconds="5")  # type: ignore[arg-type]
    assert depth(h) == 0


async def test_delay_bounds_are_accepted(h: Harness) -> None:
    producer = h.broker.producer("q")
    await producer.send(1, delaySeconds=0)
    await producer.send(2, delaySeconds=43_200)
    await producer.send(3, delaySeconds=10.0)  # type: ignore[arg-type]  # JS numbers
    view = h.broker.queues["q"]
    assert [m.body for m in view.ready()] == [1]
    assert [m.body for m in view.delayed()] == [3, 2]


# --- send delays: per message > sendBatch option > producer delivery_delay > 0 ---------------
async def test_send_delay_precedence(h: Harness) -> None:
    rec = Recorder(h)
    h.consume("q", rec, max_batch_size=1, max_batch_timeout=0)
    producer = h.broker.producer("q", delivery_delay=30)
    start = h.clock.now()
    await producer.send("producer default")  # 30
    await producer.send("explicit zero", delaySeconds=0)  # 0 overrides the default
    await producer.send("send option", delaySeconds=10)
    await producer.sendBatch(
        [
            {"body": "batch option"},  # 20
            {"body": "per message", "delaySeconds": 5},
            {"body": "per message zero", "delaySeconds": 0},
        ],
        delaySeconds=20,
    )
    await producer.sendBatch([{"body": "batch without option"}])  # 30
    await h.drain()
    seen = {body: t - start for (((body, _),), t) in zip(rec.batches, rec.times, strict=True)}
    assert seen == {
        "explicit zero": 0,
        "per message zero": 0,
        "per message": 5,
        "send option": 10,
        "batch option": 20,
        "producer default": 30,
        "batch without option": 30,
    }


async def test_no_producer_default_means_no_delay(h: Harness) -> None:
    await h.broker.producer("q").send(1)
    assert [m.body for m in h.broker.queues["q"].ready()] == [1]


async def test_invalid_producer_delivery_delay(h: Harness) -> None:
    with pytest.raises(ValueError, match="delivery_delay must be between 0 and 43200"):
        h.broker.producer("q", delivery_delay=50_000)


# --- messages: id, timestamp -----------------------------------------------------------------
async def test_ids_are_32_hex_and_timestamps_are_aware_utc_from_the_clock(h: Harness) -> None:
    got: list[tuple[str, datetime]] = []

    async def handler(batch: MessageBatch) -> None:
        got.extend((m.id, m.timestamp) for m in batch.messages)

    h.consume("q", handler, max_batch_timeout=0)
    await h.advance(1.5)
    sent_at = h.clock.utcnow()
    await h.broker.producer("q").send("a")
    await h.broker.producer("q").sendBatch([{"body": "b"}, {"body": "c"}])
    await h.drain()
    assert len({i for i, _ in got}) == 3
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i, _ in got)
    assert all(ts == sent_at and ts.tzinfo is UTC for _, ts in got)


# --- metrics ---------------------------------------------------------------------------------
async def test_metrics_of_an_empty_queue(h: Harness) -> None:
    metrics = await h.broker.producer("q").metrics()
    assert isinstance(metrics, JsDict)
    assert metrics == {"backlogCount": 0, "backlogBytes": 0, "oldestMessageTimestamp": None}


async def test_metrics_count_ready_delayed_and_in_flight(h: Harness) -> None:
    producer = h.broker.producer("q")
    first = h.clock.utcnow()
    await producer.send("abc", contentType="text")  # 3 bytes
    await h.advance(2)
    await producer.send(b"12345", contentType="bytes", delaySeconds=60)  # 5 bytes
    await producer.send({"a": 1})  # '{"a":1}' = 7 bytes
    metrics = await producer.metrics()
    assert metrics.backlogCount == 3
    assert metrics.backlogBytes == 15
    assert metrics.oldestMessageTimestamp == first
    # In-flight messages still count; acked ones leave the backlog.
    gate = Recorder(h, action=lambda batch: h.clock.sleep(10))
    h.consume("q", gate, max_batch_timeout=0)
    await h.run_tasks()
    assert h.broker.queues["q"].stats().in_flight == 2
    assert (await producer.metrics()).backlogCount == 3
    await h.drain()
    assert await producer.metrics() == {
        "backlogCount": 0,
        "backlogBytes": 0,
        "oldestMessageTimestamp": None,
    }


async def test_metrics_oldest_moves_on_as_messages_are_acked(h: Harness) -> None:
    producer = h.broker.producer("q")
    stamps = []
    for i in range(3):
        stamps.append(h.clock.utcnow())
        await producer.send(i)
        await h.advance(1)
    rec = Recorder(h, action=lambda batch: h.clock.sleep(1))  # one message per second
    h.consume("q", rec, max_batch_size=1, max_batch_timeout=0)
    await h.run_tasks()
    assert (await producer.metrics()).oldestMessageTimestamp == stamps[0]  # in flight
    await h.advance(1)  # message 0 acked, message 1 in flight
    assert (await producer.metrics()).oldestMessageTimestamp == stamps[1]
    await h.drain()
    assert (await producer.metrics()).oldestMessageTimestamp is None


async def test_batch_metadata_reports_the_backlog(h: Harness) -> None:
    seen: list[JsDict] = []

    async def handler(batch: MessageBatch) -> None:
        seen.append(batch.metadata)

    await h.broker.producer("q").sendBatch([{"body": i} for i in range(3)])
    h.consume("q", handler, max_batch_size=2, max_batch_timeout=0)
    await h.run_tasks()
    assert seen[0].metrics.backlogCount == 3
    assert seen[0].metrics.oldestMessageTimestamp == h.clock.utcnow()


# --- fault injection -------------------------------------------------------------------------
async def test_injected_send_fault_enqueues_nothing_and_is_counted(h: Harness) -> None:
    h.faults.add(FaultRule("queue.send", "q", lambda: QueueSendError("boom"), times=2))
    producer = h.broker.producer("q")
    with pytest.raises(QueueSendError, match="boom"):
        await producer.send(1)
    with pytest.raises(QueueSendError, match="boom"):
        await producer.sendBatch([{"body": 2}, {"body": 3}])
    await producer.send(4)
    stats = h.broker.queues["q"].stats()
    assert (stats.depth, stats.sent, stats.faults) == (1, 1, 2)


async def test_argument_errors_take_precedence_over_injected_faults(h: Harness) -> None:
    h.faults.add(FaultRule("queue.send", None, lambda: QueueError("boom"), times=1))
    with pytest.raises(QueueTypeError):
        await h.broker.producer("q").send(None)
    assert h.broker.queues["q"].stats().faults == 0


async def test_v8_bodies_are_stored_as_data_and_delivered_as_copies(h: Harness) -> None:
    rec = Recorder(h)
    value = {"nested": [1, {2, 3}]}
    await h.broker.producer("q").send(value, contentType="v8")
    stored = h.broker.queues["q"].ready()[0]
    assert stored.size == len(_v8.dumps(value))
    assert stored.content_type == "v8"
    h.consume("q", rec, max_batch_timeout=0)
    await h.drain()
    assert rec.bodies == [value]
    assert rec.bodies[0] is not value


async def test_a_positional_options_dict_works_as_on_python_workers(h: Harness) -> None:
    # Python Workers hand a positional dict to JS as the options object:
    # send(body, {"contentType": "text"}) is send(body, contentType="text").
    producer = h.broker.producer("q")
    await producer.send("hi", {"contentType": "text", "delaySeconds": 30, "unknown": 1})
    await producer.sendBatch([{"body": 1}], {"delaySeconds": 60})
    assert [(m.content_type, m.due is not None) for m in h.broker.queues["q"].delayed()] == [
        ("text", True),
        ("json", True),
    ]
    [first, second] = h.broker.queues["q"].delayed()
    assert first.due is not None and second.due is not None
    assert (second.due - first.due).total_seconds() == 30
    with pytest.raises(QueueSendError, match="message delay 43201 is invalid"):
        await producer.send("x", {"delaySeconds": 43201})

    async def retry_with_options(batch: MessageBatch) -> None:
        if batch.messages[0].attempts == 1:
            batch.messages[0].retry({"delaySeconds": 7})
            batch.retryAll({"delaySeconds": 9})

    h.consume("r", retry_with_options, max_batch_timeout=0)
    await h.broker.producer("r").sendBatch([{"body": 1}, {"body": 2}])
    await h.run_tasks()
    delays = [m.due.timestamp() - h.clock.now() for m in h.broker.queues["r"].delayed() if m.due]
    assert delays == [7, 9]
