"""Queues in the Local Explorer API: cfemu's own routes (Cloudflare's explorer has none).

Shapes follow Cloudflare's REST API (spec §3) where it has them. Every route asks the
queue service's views (:class:`~cfemu.queues.admin.QueueAdmin`, ``broker.queues``):

- ``GET /queues``: every queue with its gauges, counters, consumers, DLQ and settings.
- ``GET /queues/{queue}``: one of them (by name or queue id).
- ``GET /queues/{queue}/messages?state=&page=&per_page=``: peek a page (nothing is consumed).
- ``GET /queues/{queue}/rates``: the counters' rates over the last minutes
  (:mod:`cfemu.explorer.queue_rates`).
- ``POST /queues/{queue}/messages``: send a test message ``{body, content_type?, delay_seconds?}``.
- ``POST /queues/{queue}/purge``, ``/pause``, ``/resume``.
- ``POST /queues/{queue}/redrive`` ``{to?, message_ids?}``: a DLQ's messages back to their queue.
"""

from __future__ import annotations

from typing import Any

import orjson

from cfemu.api._http import ApiError, ApiRequest, ApiResponse, Router, ok
from cfemu.api.queues import message_content_type, send_error
from cfemu.errors import CfemuError, QueueError, QueueSendError, QueueTypeError
from cfemu.explorer.queue_rates import rate_history
from cfemu.queues.admin import QueueAdmin
from cfemu.queues.redrive import redrive, redrive_target
from cfemu.queues.registry import QueueRecord, now_iso
from cfemu.queues.service import QueueService
from cfemu.queues.views import QueuedMessage, QueueView

__all__ = ["MAX_PER_PAGE", "PREVIEW_CHARS", "add_routes", "preview"]

#: How much of a body a message list shows.
PREVIEW_CHARS = 200
#: The most messages one page of a message list holds.
MAX_PER_PAGE = 1000
_STATES = ("in_flight", "ready", "delayed")


def preview(message: QueuedMessage) -> str:
    """A short text of ``message``'s body: text as it is, JSON as JSON, bytes by size."""
    body = message.body
    if isinstance(body, str):
        text = body
    elif isinstance(body, (bytes, bytearray, memoryview)):
        text = f"<{len(bytes(body))} bytes>"
    else:
        try:
            text = orjson.dumps(body, default=repr).decode()
        except TypeError:
            text = repr(body)
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"


def _ms(value: Any) -> int | None:
    return None if value is None else int(value.timestamp() * 1000)


def add_routes(router: Router, service: QueueService) -> None:
    """Route the explorer's ``/queues`` endpoints to ``service``."""

    def admin() -> QueueAdmin:
        if service.admin is None:
            raise ApiError(503, 10000, "the emulator is not started")
        return service.admin

    def found(request: ApiRequest) -> tuple[QueueRecord, QueueView]:
        ident = request.params["queue"]
        record = admin().registry.find(ident)
        view = admin().broker.queues.get(record.queue_name if record else ident)
        if view is None:
            raise ApiError(404, 10104, f"Queue {ident} does not exist")
        if record is None:
            record = admin().registry.ensure(view.name)
        return record, view

    def dlqs() -> dict[str, str | None]:
        broker = admin().broker
        return {
            name: view.consumer.dead_letter_queue
            for name, view in broker.queues.items()
            if view.consumer is not None
        }

    def describe(record: QueueRecord, view: QueueView) -> dict[str, Any]:
        metrics = view.metrics()
        oldest = _ms(metrics["oldestMessageTimestamp"])
        now_ms = admin().broker.clock.now_ms()
        dlq = view.dead_letter_queue
        return {
            "queue_id": record.queue_id,
            "queue_name": view.name,
            "created_on": record.created_on,
            "modified_on": record.modified_on,
            "consumers": admin().consumers(record),
            "dead_letter_queue": None if dlq is None else dlq.name,
            "dead_letter_queue_of": sorted(q for q, d in dlqs().items() if d == view.name),
            "settings": {
                "delivery_delay": record.delivery_delay,
                "delivery_paused": view.paused,
                "message_retention_period": record.message_retention_period,
            },
            "metrics": {
                "backlog_count": metrics["backlogCount"],
                "backlog_bytes": metrics["backlogBytes"],
                "oldest_message_timestamp_ms": oldest,
                "oldest_message_age_ms": None if oldest is None else max(0, now_ms - oldest),
            },
            "stats": view.stats().as_dict(),
        }

    history = rate_history(service)

    def sample() -> None:
        broker = admin().broker
        history.sample(broker.clock.now(), broker.queues)

    async def list_queues(request: ApiRequest) -> ApiResponse:
        sample()
        names = sorted(admin().broker.queues)
        result = []
        for name in names:
            request.params["queue"] = name
            result.append(describe(*found(request)))
        return ok(result, {"count": len(result)})

    async def get_queue(request: ApiRequest) -> ApiResponse:
        return ok(describe(*found(request)))

    async def peek(request: ApiRequest) -> ApiResponse:
        _, view = found(request)
        state = request.query_value("state")
        if state is not None and state not in _STATES:
            raise ApiError(400, 10001, f"state: expected one of {', '.join(_STATES)}")
        per_page = request.query_int("limit", 100, 1, MAX_PER_PAGE)
        per_page = request.query_int("per_page", per_page, 1, MAX_PER_PAGE)
        page = request.query_int("page", 1, 1, 1 << 31)
        states = (state,) if state else _STATES
        stats = view.stats()
        counts = {"in_flight": stats.in_flight, "ready": stats.depth, "delayed": stats.delayed}
        total = sum(counts[s] for s in states)
        messages = view.peek(states, offset=(page - 1) * per_page, limit=per_page)
        result = [
            {
                "id": m.id,
                "timestamp_ms": _ms(m.timestamp),
                "attempts": m.attempts,
                "content_type": m.content_type,
                "size": m.size,
                "state": m.state,
                "visible_at_ms": _ms(m.due),
                "body_preview": preview(m),
            }
            for m in messages
        ]
        info = {
            "page": page,
            "per_page": per_page,
            "count": len(result),
            "total_count": total,
            "total_pages": -(-total // per_page),
        }
        return ok(result, info)

    async def rates(request: ApiRequest) -> ApiResponse:
        _, view = found(request)
        sample()
        return ok(
            {
                "queue_name": view.name,
                "window_seconds": history.window,
                "points": history.points(view.name),
            }
        )

    async def send(request: ApiRequest) -> ApiResponse:
        record, view = found(request)
        body = request.json_object()
        if "body" not in body:
            raise ApiError(400, 10001, "body: a message body is required")
        producer = admin().broker.producer(view.name, record.delivery_delay)
        try:
            await producer.send(
                body["body"],
                contentType=message_content_type(body),
                delaySeconds=body.get("delay_seconds"),
            )
        except (QueueSendError, QueueTypeError, QueueError, TypeError, ValueError) as exc:
            raise send_error(exc) from None
        return ok(describe(record, view))

    async def purge(request: ApiRequest) -> ApiResponse:
        record, view = found(request)
        deleted = admin().broker.purge(view.name)
        record.purged_at = now_iso()
        admin().registry.touch(record)
        return ok({"deleted": deleted, "queue": describe(record, view)})

    async def pause(request: ApiRequest) -> ApiResponse:
        record, view = found(request)
        admin().set_paused(record, True)
        return ok(describe(record, view))

    async def resume(request: ApiRequest) -> ApiResponse:
        record, view = found(request)
        admin().set_paused(record, False)
        return ok(describe(record, view))

    async def redrive_dlq(request: ApiRequest) -> ApiResponse:
        _, view = found(request)
        body = request.json_object()
        to, ids = body.get("to"), body.get("message_ids")
        if to is not None and not isinstance(to, str):
            raise ApiError(400, 10001, "to: expected a queue name")
        if ids is not None and not (isinstance(ids, list) and all(isinstance(i, str) for i in ids)):
            raise ApiError(400, 10001, "message_ids: expected a list of message ids")
        try:
            target = redrive_target(view.name, to, dlqs())
            if target not in admin().broker.queues:
                raise QueueError(f'Queue "{target}" does not exist')
            moved = redrive(admin().broker, view.name, target, ids)
        except CfemuError as exc:
            raise ApiError(400, 10001, str(exc)) from None
        return ok({"moved": moved, "to": target})

    router.add("GET", "/queues", list_queues)
    router.add("GET", "/queues/{queue}", get_queue)
    router.add("GET", "/queues/{queue}/messages", peek)
    router.add("GET", "/queues/{queue}/rates", rates)
    router.add("POST", "/queues/{queue}/messages", send)
    router.add("POST", "/queues/{queue}/purge", purge)
    router.add("POST", "/queues/{queue}/pause", pause)
    router.add("POST", "/queues/{queue}/resume", resume)
    router.add("POST", "/queues/{queue}/redrive", redrive_dlq)
