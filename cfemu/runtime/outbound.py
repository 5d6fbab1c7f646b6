"""``workers.fetch``: outbound HTTP from a Worker, made with httpx.

The transport is the Worker's ``outbound`` (``Worker.load(..., outbound=...)``): tests pass
an ``httpx.MockTransport`` or a :class:`~cfemu.runtime.transport.WorkerTransport` to
another Worker; by default requests go to the network. Failures surface as ``OSError``, as
Pyodide's ``pyfetch`` raises them.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from http import HTTPMethod
from typing import Any

import httpx

from cfemu.runtime._scope import before_send, current
from cfemu.runtime.http import Body, FetchResponse, Headers, HeadersInit, Request, Response

__all__ = ["fetch"]

_BODY_FRAMING = frozenset({"content-length", "content-encoding", "transfer-encoding"})

Fetcher = Callable[[Request], Awaitable[FetchResponse] | FetchResponse]


async def fetch(
    resource: str | Request,
    *,
    method: HTTPMethod | str | None = None,
    headers: HeadersInit | None = None,
    body: Body | None = None,
    redirect: str | None = None,
    cf: Mapping[str, Any] | None = None,
    fetcher: Fetcher | None = None,
) -> Response:
    """Fetch ``resource`` (a URL or a :class:`Request`) and return the whole response.

    ``redirect`` is ``"follow"`` (default), ``"manual"`` or ``"error"``; ``cf`` is accepted
    and ignored (it tunes Cloudflare's cache); ``fetcher`` replaces the network with a
    callable taking a :class:`Request` (what service bindings do).
    """
    request = Request(resource, method=method, headers=headers, body=body, redirect=redirect)
    del cf
    gate = before_send.get()
    if gate is not None:
        gate()  # a Durable Object's output gate: its writes are durable before we send
    if fetcher is not None:
        result = fetcher(request)
        if inspect.isawaitable(result):
            result = await result
        if not isinstance(result, FetchResponse):
            raise TypeError(f"fetcher returned {type(result).__name__}, not a Response")
        return result if isinstance(result, Response) else result.clone()
    state = current.get()
    transport = state.outbound if state is not None else None
    mode = request.redirect
    try:
        async with httpx.AsyncClient(
            transport=transport, follow_redirects=mode == "follow"
        ) as client:
            reply = await client.request(
                request._method,
                request.url,
                headers=request._headers.items(),
                content=request.raw_body(),
            )
    except httpx.HTTPError as exc:
        raise OSError(f"fetch to {request.url} failed: {exc}") from exc
    if mode == "error" and reply.is_redirect:
        raise OSError(f"fetch to {request.url} failed: unexpected redirect (redirect: 'error')")
    # httpx hands over the decoded body: its length and encoding headers no longer apply.
    kept = [(k, v) for k, v in reply.headers.multi_items() if k.lower() not in _BODY_FRAMING]
    return FetchResponse._build(
        reply.status_code,
        Headers(kept),
        reply.content,
        status_text=reply.reason_phrase,
        url=str(reply.url),
        redirected=bool(reply.history),
    )
