"""What ``env.AI.run`` returns when the answer is not JSON: a ``ReadableStream``.

On Cloudflare the binding hands back the body of a non-JSON answer as a ``ReadableStream``:
the server-sent events of ``stream: true`` (``data: {"response": "<delta>"}`` events, then
``data: [DONE]``; spec: kv-assets-workflows-ai.md §4.4), or the ``image/png`` bytes of a
text-to-image model. A Worker reads it (``async for chunk in stream``, ``getReader()``) or
passes it straight into ``Response(stream, headers=...)``. With ``returnRawResponse`` the
binding answers a ``Response`` instead (§4.1).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from cfemu.runtime.http import Response
from cfemu.runtime.js_module.containers import JsBuffer
from cfemu.runtime.js_module.promise import JsPromise
from cfemu.runtime.js_module.proxy import JsObject
from cfemu.runtime.js_module.web import JsReadableStream, JsResponse

__all__ = ["AiStream", "raw_response", "sse_events", "sse_stream", "stream_of_body"]

#: The SSE event that ends a Workers AI stream.
DONE_EVENT = b"data: [DONE]\n\n"


class AiStream(JsReadableStream):
    """A ``ReadableStream`` that yields its bytes in the given chunks (one per SSE event)."""

    __slots__ = ("_chunks_left", "content_type")

    def __init__(self, chunks: Sequence[bytes], content_type: str) -> None:
        super().__init__(b"".join(chunks))
        self._chunks_left = list(chunks)
        self.content_type = content_type

    def to_bytes(self) -> bytes:
        """Every byte of the stream (not consuming it): what a REST answer carries."""
        return bytes(self._data)

    def _next(self) -> bytes | None:
        if not self._chunks_left:
            self._done = True
            return None
        return self._chunks_left.pop(0)

    def getReader(self) -> JsObject:
        """A reader: each ``await reader.read()`` gives ``{done, value}``, one chunk a time."""

        async def read() -> JsObject:
            chunk = self._next()
            if chunk is None:
                return JsObject(done=True, value=None)
            return JsObject(done=False, value=JsBuffer(bytearray(chunk)))

        async def cancel(reason: Any = None) -> None:
            self._chunks_left.clear()
            self._done = True

        return JsObject(
            read=lambda: JsPromise(read()),
            cancel=lambda reason=None: JsPromise(cancel(reason)),
            releaseLock=lambda: None,
        )

    async def _chunks(self) -> Any:
        while (chunk := self._next()) is not None:
            yield JsBuffer(bytearray(chunk))


def sse_events(text: str, usage: Mapping[str, Any] | None, extra: Mapping[str, Any]) -> list[bytes]:
    """``text`` as Workers AI's SSE events: one ``{"response": delta}`` per word, a last
    event with ``usage`` (and ``extra`` such as ``tool_calls``), then ``[DONE]``."""
    words = text.split(" ")
    deltas = [word if i == 0 else " " + word for i, word in enumerate(words) if word or i == 0]
    events = [_event({"response": delta}) for delta in deltas if delta]
    last: dict[str, Any] = {"response": "", **extra}
    if usage is not None:
        last["usage"] = dict(usage)
    events.append(_event(last))
    events.append(DONE_EVENT)
    return events


def _event(payload: Mapping[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, ensure_ascii=False).encode() + b"\n\n"


def sse_stream(answer: Mapping[str, Any]) -> AiStream:
    """A text-generation ``answer`` (``{response, usage, tool_calls?}``) as an SSE stream."""
    extra = {"tool_calls": answer["tool_calls"]} if answer.get("tool_calls") else {}
    return AiStream(
        sse_events(str(answer.get("response") or ""), answer.get("usage"), extra),
        "text/event-stream",
    )


def stream_of_body(body: bytes, content_type: str) -> AiStream:
    """A REST answer's non-JSON body as the binding returns it: SSE split per event."""
    if content_type.startswith("text/event-stream"):
        events = [event + b"\n\n" for event in body.split(b"\n\n") if event]
        return AiStream(events or [body], "text/event-stream")
    return AiStream([body], content_type)


def raw_response(result: Any) -> JsResponse:
    """``result`` as the raw ``Response`` that ``returnRawResponse`` asks for."""
    if isinstance(result, AiStream):
        body, content_type = result.to_bytes(), result.content_type
    else:
        body = json.dumps(result, ensure_ascii=False).encode()
        content_type = "application/json"
    return JsResponse(Response(body, headers={"content-type": content_type}))
