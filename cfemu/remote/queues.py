"""A queue producer whose messages go to Cloudflare, through the REST API's ``messages``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from cfemu._js import JsDict, to_js_dict
from cfemu.errors import QueueSendError, QueueTypeError
from cfemu.remote.client import RemoteApi, RemoteApiError

__all__ = ["RemoteQueueProducer"]

_CONTENT_TYPES = ("json", "text")


def _content_type(value: Any) -> str:
    kind = "json" if value is None else str(value).lower()
    if kind not in _CONTENT_TYPES:
        raise QueueTypeError(
            f"Unsupported queue message content type for a remote queue: {value} "
            "(Cloudflare's REST API carries only json and text)"
        )
    return kind


class RemoteQueueProducer:
    """``env.Q`` for a ``[[queues.producers]]`` entry with ``remote = true``."""

    def __init__(self, api: RemoteApi, queue: str) -> None:
        self._api = api
        self.queue = queue
        self._queue_id: str | None = None

    def __repr__(self) -> str:
        return f"<RemoteQueueProducer {self.queue} at {self._api.base_url}>"

    async def _id(self) -> str:
        if self._queue_id is None:
            found = await self._call("GET", "", None, {"name": self.queue})
            matches = [q for q in found or [] if q.get("queue_name") == self.queue]
            if not matches:
                raise QueueSendError(f'Queue send failed: queue "{self.queue}" does not exist')
            self._queue_id = str(matches[0]["queue_id"])
        return self._queue_id

    async def _call(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        try:
            return await self._api.call(method, f"/queues{path}", body, params)
        except RemoteApiError as exc:
            raise QueueSendError(f"Queue send failed: {exc.message}", status=exc.status) from exc

    async def send(
        self,
        body: Any,
        contentType: str | None = None,
        delaySeconds: int | None = None,
    ) -> JsDict:
        """Send one message to the remote queue."""
        message: dict[str, Any] = {"body": body, "content_type": _content_type(contentType)}
        if delaySeconds is not None:
            message["delay_seconds"] = delaySeconds
        result = await self._call("POST", f"/{await self._id()}/messages", message)
        return _metadata(result)

    async def sendBatch(
        self, messages: Iterable[Mapping[str, Any]], delaySeconds: int | None = None
    ) -> JsDict:
        """Send several messages (``{"body", "contentType", "delaySeconds"}``) at once."""
        items = []
        for msg in messages:
            item: dict[str, Any] = {
                "body": msg["body"],
                "content_type": _content_type(msg.get("contentType")),
            }
            if msg.get("delaySeconds") is not None:
                item["delay_seconds"] = msg["delaySeconds"]
            items.append(item)
        body: dict[str, Any] = {"messages": items}
        if delaySeconds is not None:
            body["delay_seconds"] = delaySeconds
        result = await self._call("POST", f"/{await self._id()}/messages/batch", body)
        return _metadata(result)


def _metadata(result: Any) -> JsDict:
    metrics = (result or {}).get("metadata", {}).get("metrics", {})
    answer: JsDict = to_js_dict(
        {
            "metadata": {
                "metrics": {
                    "backlogCount": metrics.get("backlog_count"),
                    "backlogBytes": metrics.get("backlog_bytes"),
                    "oldestMessageTimestamp": metrics.get("oldest_message_timestamp_ms"),
                }
            }
        }
    )
    return answer
