"""The plumbing of cfemu's Cloudflare API: envelope, errors, routing, auth (spec: rest-api.md §1).

Every answer is Cloudflare's v4 envelope (``success``, ``errors``, ``messages``, ``result``
and, on lists, ``result_info``) as ``application/json``. Every error has a non-2xx status,
because the official SDK never reads ``success``; deterministic errors carry
``x-should-retry: false`` so the SDK does not retry them (it retries 409, 429 and 5xx).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

import orjson

__all__ = [
    "ApiError",
    "ApiRequest",
    "ApiResponse",
    "Handler",
    "Router",
    "envelope",
    "error_response",
    "ok",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
#: An ASGI 3 application (what with_api and with_explorer mount, e.g. in a body timeout).
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class ApiError(Exception):
    """An API failure: its HTTP status, Cloudflare error code and message."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        *,
        retry: bool = False,
        more: Sequence[str] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        #: Whether the official SDK may retry the call (``x-should-retry``).
        self.retry = retry
        #: Further messages with the same code (one error each, after the first).
        self.more = tuple(more)


@dataclass
class ApiRequest:
    """One API call: method, decoded path parameters, query, headers and body."""

    method: str
    path: str
    params: dict[str, str]
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON (``{}`` when empty); 400 / 10207 when malformed."""
        if not self.body.strip():
            return {}
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError:
            raise ApiError(400, 10208, "JSON request body is malformed") from None

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object; 400 / 10207 when it is another JSON value."""
        value = self.json()
        if not isinstance(value, dict):
            raise ApiError(400, 10207, "JSON request body is invalid: expected an object")
        return value

    def query_value(self, name: str, default: str | None = None) -> str | None:
        """The first value of query parameter ``name``."""
        values = self.query.get(name)
        return values[0] if values else default

    def query_int(self, name: str, default: int, low: int, high: int) -> int:
        """An integer query parameter within ``[low, high]``; 400 otherwise."""
        raw = self.query_value(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ApiError(400, 10001, f"{name}: expected an integer, got {raw!r}") from None
        if not low <= value <= high:
            raise ApiError(400, 10001, f"{name}: must be between {low} and {high}, got {value}")
        return value


@dataclass
class ApiResponse:
    """An answer: status, JSON-able body (or raw bytes) and extra headers."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    raw: bool = False


def envelope(result: Any, result_info: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Cloudflare's success envelope around ``result``."""
    body: dict[str, Any] = {"result": result, "success": True, "errors": [], "messages": []}
    if result_info is not None:
        body["result_info"] = dict(result_info)
    return body


def ok(result: Any, result_info: Mapping[str, Any] | None = None) -> ApiResponse:
    """A 200 answer carrying ``result``."""
    return ApiResponse(200, envelope(result, result_info))


def error_response(error: ApiError) -> ApiResponse:
    """The non-2xx answer for ``error``."""
    body = {
        "result": None,
        "success": False,
        "errors": [
            {"code": error.code, "message": message} for message in (error.message, *error.more)
        ],
        "messages": [],
    }
    return ApiResponse(error.status, body, {"x-should-retry": "true" if error.retry else "false"})


Handler = Callable[[ApiRequest], Awaitable[ApiResponse]]
_PARAM = re.compile(r"\{(\w+)(:path)?\}")


class Router:
    """Routes ``METHOD /path/{param}`` patterns to handlers.

    Parameters match one percent-decoded segment (``{id}``) or, with ``{name:path}``, the
    rest of the path, so a model name arrives whole whether the client sent
    ``@cf/meta/x`` or the SDK's ``@cf%2Fmeta%2Fx``.
    """

    def __init__(self) -> None:
        self._routes: list[tuple[re.Pattern[str], dict[str, Handler]]] = []
        self._index: dict[str, int] = {}

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        """Route ``method`` requests on ``pattern`` to ``handler``."""
        index = self._index.get(pattern)
        if index is None:
            regex = "^" + _PARAM.sub(_param_regex, pattern.rstrip("/")) + "/?$"
            self._index[pattern] = len(self._routes)
            self._routes.append((re.compile(regex), {method: handler}))
        else:
            self._routes[index][1][method] = handler

    def resolve(self, method: str, raw_path: str) -> tuple[Handler, dict[str, str]]:
        """The handler and decoded parameters for ``raw_path`` (still percent-encoded)."""
        allowed: set[str] = set()
        for regex, handlers in self._routes:
            found = regex.match(raw_path)
            if found is None:
                continue
            handler = handlers.get(method)
            if handler is None:
                allowed.update(handlers)
                continue
            return handler, {k: unquote(v) for k, v in found.groupdict().items()}
        if allowed:
            raise ApiError(405, 10405, f"Method {method} not allowed on this route")
        raise ApiError(404, 7003, "No route for the URI")


def _param_regex(match: re.Match[str]) -> str:
    name, is_path = match.group(1), match.group(2)
    return f"(?P<{name}>.+)" if is_path else f"(?P<{name}>[^/]+)"


async def read_request(scope: Scope, receive: Receive, limit: int) -> ApiRequest:
    """Read one ASGI HTTP request (its body at most ``limit`` bytes; 413 beyond)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ApiError(400, 10201, "Client disconnected")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise ApiError(413, 10204, f"Request body is larger than {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    raw_path = scope.get("raw_path") or scope["path"].encode()
    path = raw_path.decode("latin-1").split("?", 1)[0]
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    return ApiRequest(scope["method"], path, {}, query, headers, b"".join(chunks))


async def send_response(send: Send, response: ApiResponse) -> None:
    """Write ``response`` to the ASGI ``send`` channel."""
    if response.raw:
        body = response.body if isinstance(response.body, bytes) else str(response.body).encode()
        content_type = response.headers.pop("content-type", "application/octet-stream")
    else:
        body = orjson.dumps(response.body)
        content_type = "application/json"
    headers = [(b"content-type", content_type.encode()), (b"content-length", b"%d" % len(body))]
    headers += [(k.encode(), v.encode()) for k, v in response.headers.items()]
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
