"""Queues over the Cloudflare API: ``/accounts/{account_id}/queues...`` (spec: rest-api.md §3).

Everything runs on the broker the Workers use: a message pushed here reaches the Worker
consumer, a message a Worker sends can be pulled here.
"""

from __future__ import annotations

import base64
from typing import Any

from cfemu.api._http import ApiError, ApiRequest, ApiResponse, Router, envelope, ok
from cfemu.errors import QueueError, QueueSendError, QueueTypeError
from cfemu.queues.admin import QueueAdmin
from cfemu.queues.pull import DeliveryPausedError, PulledMessage, PullSettings
from cfemu.queues.registry import QueueRecord, now_iso
from cfemu.queues.service import QueueService

__all__ = ["add_routes", "message_content_type", "send_error"]

_BASE = "/accounts/{account_id}/queues"
_QUEUE = _BASE + "/{queue_id}"


def add_routes(router: Router, service: QueueService) -> None:
    """Route the Queues endpoints to ``service``."""

    def admin() -> QueueAdmin:
        if service.admin is None:
            raise ApiError(503, 15000, "the emulator is not started", retry=True)
        return service.admin

    def found(request: ApiRequest) -> QueueRecord:
        ident = request.params["queue_id"]
        record = admin().registry.find(ident)
        if record is None:
            raise ApiError(404, 10104, f"Queue {ident} does not exist")
        return record

    def describe(record: QueueRecord) -> dict[str, Any]:
        consumers = admin().consumers(record)
        producers = [
            {"type": "worker", "script": config.name}
            for config in admin().configs
            if any(p.queue == record.queue_name for p in config.queues.producers)
        ]
        return {
            "queue_id": record.queue_id,
            "queue_name": record.queue_name,
            "created_on": record.created_on,
            "modified_on": record.modified_on,
            "producers": producers,
            "producers_total_count": len(producers),
            "consumers": consumers,
            "consumers_total_count": len(consumers),
            "settings": {
                "delivery_delay": record.delivery_delay,
                "delivery_paused": record.paused,
                "message_retention_period": record.message_retention_period,
            },
        }

    def metrics(record: QueueRecord) -> dict[str, Any]:
        m = admin().broker.queues[record.queue_name].metrics()
        oldest = m["oldestMessageTimestamp"]
        return {
            "backlog_count": m["backlogCount"],
            "backlog_bytes": m["backlogBytes"],
            "oldest_message_timestamp_ms": (
                None if oldest is None else int(oldest.timestamp() * 1000)
            ),
        }

    async def list_queues(request: ApiRequest) -> ApiResponse:
        name = request.query_value("name")
        records = [
            r for r in admin().registry.queues.values() if name is None or r.queue_name == name
        ]
        result = [describe(r) for r in records]
        return ok(result, {"page": 1, "per_page": len(result), "count": len(result)})

    async def create_queue(request: ApiRequest) -> ApiResponse:
        name = request.json_object().get("queue_name")
        if not isinstance(name, str) or not name:
            raise ApiError(400, 10001, "queue_name: a queue name is required")
        try:
            record = admin().create(name)
        except QueueError as exc:
            raise ApiError(409, 11009, str(exc)) from None
        return ok(describe(record))

    async def get_queue(request: ApiRequest) -> ApiResponse:
        return ok(describe(found(request)))

    async def update_queue(request: ApiRequest) -> ApiResponse:
        record = found(request)
        body = request.json_object()
        new_name = body.get("queue_name")
        if new_name is not None and new_name != record.queue_name:
            raise ApiError(400, 10001, "queue_name: renaming a queue is not emulated")
        settings = body.get("settings") or {}
        if not isinstance(settings, dict):
            raise ApiError(400, 10001, "settings: expected an object")
        admin().update_settings(record, settings)
        return ok(describe(record))

    async def delete_queue(request: ApiRequest) -> ApiResponse:
        try:
            admin().delete(found(request))
        except QueueError as exc:
            raise ApiError(400, 10001, str(exc)) from None
        return ok(None)

    async def get_metrics(request: ApiRequest) -> ApiResponse:
        return ok(metrics(found(request)))

    async def push(request: ApiRequest) -> ApiResponse:
        record = found(request)
        producer = admin().broker.producer(record.queue_name, record.delivery_delay)
        body = request.json_object()
        if "body" not in body:
            raise ApiError(400, 10207, "body: a message body is required")
        try:
            await producer.send(
                body["body"],
                contentType=message_content_type(body),
                delaySeconds=body.get("delay_seconds"),
            )
        except (QueueSendError, QueueTypeError, QueueError, TypeError, ValueError) as exc:
            raise send_error(exc) from None
        return ok({"metadata": {"metrics": metrics(record)}})

    async def push_batch(request: ApiRequest) -> ApiResponse:
        record = found(request)
        producer = admin().broker.producer(record.queue_name, record.delivery_delay)
        body = request.json_object()
        items = body.get("messages")
        if not isinstance(items, list):
            raise ApiError(400, 10207, "messages: expected a list of messages")
        messages = []
        for item in items:
            if not isinstance(item, dict) or "body" not in item:
                raise ApiError(400, 10207, "messages: each message needs a body")
            message: dict[str, Any] = {
                "body": item["body"],
                "contentType": message_content_type(item),
            }
            if item.get("delay_seconds") is not None:
                message["delaySeconds"] = item["delay_seconds"]
            messages.append(message)
        try:
            await producer.sendBatch(messages, delaySeconds=body.get("delay_seconds"))
        except (QueueSendError, QueueTypeError, QueueError, TypeError, ValueError) as exc:
            raise send_error(exc) from None
        return ok({"metadata": {"metrics": metrics(record)}})

    async def pull(request: ApiRequest) -> ApiResponse:
        record = found(request)
        consumer = admin().broker.pull_consumer(record.queue_name)
        if consumer is None:
            raise ApiError(400, 10100, f'Queue "{record.queue_name}" has no http_pull consumer')
        body = request.json_object()
        visibility = body.get("visibility_timeout_ms", body.get("visibility_timeout"))
        try:
            messages = await consumer.pull(body.get("batch_size"), visibility)
        except DeliveryPausedError:
            raise ApiError(409, 10254, "queue_delivery_paused") from None
        except QueueError as exc:
            raise ApiError(400, 10001, str(exc)) from None
        return ok(
            {
                "message_backlog_count": consumer.backlog_count(),
                "messages": [_pulled(m) for m in messages],
                "metadata": {"metrics": metrics(record)},
            }
        )

    async def ack(request: ApiRequest) -> ApiResponse:
        record = found(request)
        consumer = admin().broker.pull_consumer(record.queue_name)
        if consumer is None:
            raise ApiError(400, 10100, f'Queue "{record.queue_name}" has no http_pull consumer')
        body = request.json_object()
        try:
            acks = [str(a["lease_id"]) for a in body.get("acks") or []]
            retries = [
                (str(r["lease_id"]), r.get("delay_seconds")) for r in body.get("retries") or []
            ]
        except (KeyError, TypeError):
            raise ApiError(400, 10207, "acks and retries: each needs a lease_id") from None
        result = consumer.ack(acks, retries)
        return ok(
            {
                "ackCount": result.ack_count,
                "retryCount": result.retry_count,
                "warnings": result.warnings,
            }
        )

    async def purge(request: ApiRequest) -> ApiResponse:
        record = found(request)
        if request.json_object().get("delete_messages_permanently") is not True:
            raise ApiError(400, 10001, "delete_messages_permanently: must be true")
        admin().broker.purge(record.queue_name)
        record.purged_at = now_iso()
        admin().registry.touch(record)
        return ok(describe(record))

    async def purge_status(request: ApiRequest) -> ApiResponse:
        record = found(request)
        # A purge completes at once here: "completed" is its time (Cloudflare's SDK types it
        # as a string; wrangler reads a boolean "complete" - both are given).
        started = record.purged_at
        return ok({"started_at": started, "completed": started, "complete": started is not None})

    async def list_consumers(request: ApiRequest) -> ApiResponse:
        result = admin().consumers(found(request))
        return ok(result, {"page": 1, "per_page": len(result), "count": len(result)})

    async def create_consumer(request: ApiRequest) -> ApiResponse:
        record = found(request)
        body = request.json_object()
        kind = body.get("type", "worker")
        if kind != "http_pull":
            raise ApiError(
                400,
                100127,
                "cfemu takes Worker consumers from the Worker's config ([[queues.consumers]]); "
                "only http_pull consumers can be created over the API",
            )
        raw = body.get("settings") or {}
        if not isinstance(raw, dict):
            raise ApiError(400, 100127, "settings: expected an object")
        try:
            settings = PullSettings(
                **{
                    k: raw[k]
                    for k in ("batch_size", "max_retries", "retry_delay", "visibility_timeout_ms")
                    if raw.get(k) is not None
                },
                dead_letter_queue=body.get("dead_letter_queue") or None,
            )
            return ok(admin().add_pull_consumer(record, settings))
        except QueueError as exc:
            raise ApiError(400, 100127, str(exc)) from None

    async def get_consumer(request: ApiRequest) -> ApiResponse:
        ident = request.params["consumer_id"]
        for consumer in admin().consumers(found(request)):
            if consumer["consumer_id"] == ident:
                return ok(consumer)
        raise ApiError(404, 10104, f"Consumer {ident} does not exist")

    async def delete_consumer(request: ApiRequest) -> ApiResponse:
        try:
            admin().remove_consumer(found(request), request.params["consumer_id"])
        except QueueError as exc:
            status = 404 if "not found" in str(exc) else 400
            raise ApiError(status, 10104 if status == 404 else 10001, str(exc)) from None
        return ApiResponse(200, envelope(None))

    router.add("GET", _BASE, list_queues)
    router.add("POST", _BASE, create_queue)
    router.add("GET", _QUEUE, get_queue)
    router.add("PUT", _QUEUE, update_queue)
    router.add("PATCH", _QUEUE, update_queue)
    router.add("DELETE", _QUEUE, delete_queue)
    router.add("GET", _QUEUE + "/metrics", get_metrics)
    router.add("POST", _QUEUE + "/messages", push)
    router.add("POST", _QUEUE + "/messages/batch", push_batch)
    router.add("POST", _QUEUE + "/messages/pull", pull)
    router.add("POST", _QUEUE + "/messages/ack", ack)
    router.add("POST", _QUEUE + "/purge", purge)
    router.add("GET", _QUEUE + "/purge", purge_status)
    router.add("GET", _QUEUE + "/consumers", list_consumers)
    router.add("POST", _QUEUE + "/consumers", create_consumer)
    router.add("GET", _QUEUE + "/consumers/{consumer_id}", get_consumer)
    router.add("DELETE", _QUEUE + "/consumers/{consumer_id}", delete_consumer)


def message_content_type(message: dict[str, Any]) -> str:
    """A pushed message's ``content_type``: ``text`` or ``json`` (the default)."""
    kind = message.get("content_type", "json")
    if kind not in ("text", "json"):
        raise ApiError(400, 10203, f"content_type must be 'text' or 'json', got {kind!r}")
    return str(kind)


def send_error(exc: Exception) -> ApiError:
    """The API error for a refused send (rate, storage and size limits have their own
    Cloudflare codes; anything else is a bad message, 10203)."""
    text = str(exc)
    if "Too Many Requests" in text:
        return ApiError(429, 10250, text, retry=True)
    if "Storage" in text:
        return ApiError(429, 10251, text, retry=True)
    if "exceeds" in text or "size" in text.lower():
        return ApiError(400, 10204, text)
    return ApiError(400, 10203, text)


def _pulled(message: PulledMessage) -> dict[str, Any]:
    """A leased message as a pull returns it: text as it is, other types base64-encoded."""
    payload = message.payload
    if message.content_type == "text":
        body = payload if isinstance(payload, str) else payload.decode("utf-8", "replace")
    else:
        raw = payload.encode("utf-8") if isinstance(payload, str) else payload
        body = base64.b64encode(raw).decode("ascii")
    return {
        "id": message.id,
        "body": body,
        "attempts": message.attempts,
        "lease_id": message.lease_id,
        "timestamp_ms": message.timestamp_ms,
        "metadata": {"CF-sourceMessageSource": "api", "CF-Content-Type": message.content_type},
    }
