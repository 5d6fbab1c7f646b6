"""The Fetch API as ``js`` shows it: ``Headers``, ``Request``, ``Response``, ``URL``,
``URLSearchParams``, as JavaScript objects (camelCase, promises) over cfemu's Python
``Request``/``Response``.

A ``js.Response`` wraps a :class:`~cfemu.runtime.http.Response`; ``workers.Response(js_resp)``
and a ``fetch`` handler returning one both accept it (``__cfemu_response__``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import Message
from typing import Any

from cfemu.runtime.body import Blob, FormData
from cfemu.runtime.http import FetchResponse, Headers, Request
from cfemu.runtime.js_module.containers import JsArray, JsBuffer, JsMap
from cfemu.runtime.js_module.convert import from_json_value, js_stringify
from cfemu.runtime.js_module.promise import JsPromise
from cfemu.runtime.js_module.proxy import JsException, JsNull, JsObject, JsProxy, js_null, jsnull
from cfemu.runtime.js_module.url import JsURL, JsURLSearchParams

__all__ = [
    "JsHeaders",
    "JsRequest",
    "JsResponse",
    "header_pairs",
    "init_dict",
    "js_body",
    "js_headers",
]


def init_dict(init: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """An options object (``{status: 201}``) as a dict: Pyodide packs keyword arguments
    into one trailing object, so ``Response.new(body, status=201)`` works too."""
    if init is None or isinstance(init, JsNull):
        out: dict[str, Any] = {}
    elif isinstance(init, JsObject):
        out = dict(init._props())
    elif isinstance(init, JsMap | dict):
        out = dict(init.items())
    else:
        raise JsException("TypeError", "The provided value is not of type 'ResponseInit'.")
    out.update(kwargs)
    return out


@contextmanager
def _js_type_errors() -> Iterator[None]:
    """An invalid header (a Python ``TypeError`` from :class:`Headers`) as JavaScript's
    ``TypeError``, which Pyodide raises as a ``JsException``."""
    try:
        yield
    except TypeError as exc:
        raise JsException("TypeError", str(exc)) from None


def js_headers(init: Any) -> Headers:
    """:class:`Headers` from a headers-like init, an invalid header a ``JsException``."""
    with _js_type_errors():
        return Headers(header_pairs(init))


def header_pairs(init: Any) -> list[tuple[str, str]]:
    """``(name, value)`` pairs of a headers-like init: an object, a map, pairs, Headers."""
    if init is None or isinstance(init, JsNull):
        return []
    if isinstance(init, JsHeaders):
        return init._h.items()
    if isinstance(init, Message):
        return [(str(k), str(v)) for k, v in init.items()]
    if isinstance(init, Headers):
        return init.items()
    if isinstance(init, JsObject):
        return [(k, str(v)) for k, v in init._props().items()]
    if isinstance(init, JsMap | dict):
        return [(str(k), str(v)) for k, v in init.items()]
    pairs = []
    for pair in init:
        items = list(pair)
        if len(items) != 2:
            raise JsException("TypeError", "Invalid header: each entry needs a name and a value.")
        pairs.append((str(items[0]), str(items[1])))
    return pairs


class JsHeaders(JsProxy):
    """JavaScript ``Headers`` (``get``/``set``/``append``/``has``/``delete``; iterating
    gives ``[name, value]`` arrays)."""

    __slots__ = ("_h",)
    js_class = "Headers"

    def __init__(self, headers: Headers) -> None:
        self._h = headers

    def __cfemu_headers__(self) -> Headers:
        return self._h

    def __getitem__(self, name: str) -> str | JsNull:
        return self.get(name)  # a Map-like proxy subscripts with get(), as Pyodide does

    def __setitem__(self, name: str, value: Any) -> None:
        self.set(name, value)

    def __delitem__(self, name: str) -> None:
        self.delete(name)

    @classmethod
    def new(cls, init: Any = None) -> JsHeaders:
        """``new Headers(init)``: a dict, an object, pairs or another ``Headers``."""
        return cls(js_headers(init))

    def get(self, name: str) -> str | JsNull:
        """Every value of ``name`` joined by ``", "``, or ``null``."""
        with _js_type_errors():
            value = self._h.get(name)
        return js_null() if value is None else value

    def set(self, name: str, value: Any) -> None:
        """Replace the values of ``name``."""
        with _js_type_errors():
            self._h.set(name, str(value))

    def append(self, name: str, value: Any) -> None:
        """Add a value to ``name``."""
        with _js_type_errors():
            self._h.append(name, str(value))

    def has(self, name: str) -> bool:
        """Whether ``name`` has a value."""
        with _js_type_errors():
            return self._h.has(name)

    def delete(self, name: str) -> None:
        """Remove ``name``."""
        with _js_type_errors():
            self._h.delete(name)

    def getSetCookie(self) -> JsArray:
        """Every ``Set-Cookie`` value."""
        return JsArray(self._h.getSetCookie())

    def _combined(self) -> list[tuple[str, str]]:
        names = sorted({k for k, _ in self._h.items()})
        return [(n, self._h.get(n) or "") for n in names]

    def entries(self) -> Iterator[JsArray]:
        """``[name, value]`` arrays, names sorted, repeated values joined."""
        return iter([JsArray(p) for p in self._combined()])

    def keys(self) -> Iterator[str]:
        """The header names, sorted."""
        return iter([k for k, _ in self._combined()])

    def values(self) -> Iterator[str]:
        """The values, in name order."""
        return iter([v for _, v in self._combined()])

    def forEach(self, callback: Any) -> None:
        """Call ``callback(value, name)`` for each header."""
        for name, value in self._combined():
            callback(value, name)

    def __iter__(self) -> Iterator[JsArray]:
        return self.entries()

    def __contains__(self, name: object) -> bool:
        try:
            return isinstance(name, str) and self._h.has(name)
        except TypeError:  # not a header name, so not a header
            return False


def js_body(body: Any) -> tuple[bytes | None, str | None]:
    """Bytes and implied content type of a body given to ``new Response``/``new Request``."""
    if body is None or isinstance(body, JsNull):
        return None, None
    if isinstance(body, str):
        return body.encode(), "text/plain;charset=UTF-8"
    if isinstance(body, JsBuffer):
        return body.to_bytes(), None
    if isinstance(body, bytes | bytearray | memoryview):
        return bytes(body), None
    if isinstance(body, JsURLSearchParams):
        return body.toString().encode(), "application/x-www-form-urlencoded;charset=UTF-8"
    if isinstance(body, Blob):
        return body._data, body.content_type or None
    if isinstance(body, FormData) or getattr(body, "js_class", None) == "FormData":
        from cfemu.runtime.body import encode_form

        return encode_form(body if isinstance(body, FormData) else body.js_object)
    if isinstance(body, JsReadableStream):
        return body._data, None
    if isinstance(body, JsProxy):
        return body.toString().encode(), "text/plain;charset=UTF-8"
    return str(body).encode(), "text/plain;charset=UTF-8"


class JsReadableStream(JsProxy):
    """A ``ReadableStream`` over bytes already in memory (``response.body``)."""

    __slots__ = ("_data", "_done")
    js_class = "ReadableStream"
    __cfemu_body__ = True

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._done = False

    def getReader(self) -> JsObject:
        """A reader: ``await reader.read()`` gives ``{done, value}``."""

        async def read() -> JsObject:
            if self._done or not self._data:
                self._done = True
                return JsObject(done=True, value=None)
            self._done = True
            return JsObject(done=False, value=JsBuffer(bytearray(self._data)))

        async def cancel(reason: Any = None) -> None:
            self._done = True

        return JsObject(
            read=lambda: JsPromise(read()),
            cancel=lambda reason=None: JsPromise(cancel(reason)),
            releaseLock=lambda: None,
        )

    def __aiter__(self) -> Any:
        return self._chunks()

    async def _chunks(self) -> Any:
        if not self._done and self._data:
            self._done = True
            yield JsBuffer(bytearray(self._data))


class _JsBody(JsProxy):
    """The body-reading methods shared by ``js.Request`` and ``js.Response``."""

    __slots__ = ()

    def _target(self) -> Request | FetchResponse:
        raise NotImplementedError

    def _read(self) -> bytes:
        target = self._target()
        if target.body_used:
            raise JsException("TypeError", "Body has already been used. It can only be used once.")
        return target._take()

    @property
    def headers(self) -> JsHeaders:
        """The headers (live: changing them changes the message)."""
        return JsHeaders(self._target()._headers)

    @property
    def bodyUsed(self) -> bool:
        """Whether the body was read."""
        return self._target().body_used

    @property
    def body(self) -> JsReadableStream | JsNull:
        """The body as a ``ReadableStream``, or ``null``."""
        raw = self._target().raw_body()
        return js_null() if raw is None else JsReadableStream(raw)

    def text(self) -> JsPromise:
        """A promise of the body as text."""
        return JsPromise.resolve(self._read().decode("utf-8-sig", errors="replace"))

    def json(self) -> JsPromise:
        """A promise of the body parsed as JSON, into JavaScript values."""
        text = self._read().decode("utf-8-sig", errors="replace")
        try:
            return JsPromise.resolve(from_json_value(json.loads(text)))
        except ValueError as exc:
            raise JsException("SyntaxError", f"Unexpected token in JSON: {exc}") from None

    def arrayBuffer(self) -> JsPromise:
        """A promise of the body as an ``ArrayBuffer``."""
        return JsPromise.resolve(JsBuffer(bytearray(self._read()), "ArrayBuffer"))

    def bytes(self) -> JsPromise:
        """A promise of the body as a ``Uint8Array``."""
        return JsPromise.resolve(JsBuffer(bytearray(self._read())))

    def formData(self) -> JsPromise:
        """A promise of the body parsed as a form."""
        from cfemu.runtime.body import decode_form
        from cfemu.runtime.js_module.formdata import JsFormData

        target = self._target()
        form = decode_form(self._read(), target._headers.get("content-type"))
        return JsPromise.resolve(JsFormData(form))


class JsResponse(_JsBody):
    """JavaScript ``Response``: ``status``, ``statusText``, ``ok``, ``headers`` and promise
    methods; ``to_py()`` keeps it; a Worker may return it from ``fetch``."""

    __slots__ = ("_r",)
    js_class = "Response"

    def __init__(self, response: FetchResponse) -> None:
        self._r = response

    def __cfemu_response__(self) -> FetchResponse:
        return self._r

    def _target(self) -> FetchResponse:
        return self._r

    @property
    def js_response(self) -> JsResponse:
        """The object itself (what Pyodide's ``FetchResponse.js_response`` holds)."""
        return self

    @property
    def status(self) -> int:
        """The status code."""
        return self._r.status

    @property
    def statusText(self) -> str:
        """The status message."""
        return self._r.status_text

    @property
    def ok(self) -> bool:
        """Whether the status is 200-299."""
        return self._r.ok

    @property
    def url(self) -> str:
        """The URL it was fetched from (``""`` if constructed)."""
        return self._r.url

    @property
    def redirected(self) -> bool:
        """Whether a redirect was followed."""
        return self._r.redirected

    @property
    def type(self) -> str:
        """``"default"``, ``"basic"`` or ``"error"``."""
        return "error" if self._r.status == 0 else self._r.type

    def clone(self) -> JsResponse:
        """A copy with its own unread body."""
        return JsResponse(self._r.clone())


class JsRequest(_JsBody):
    """JavaScript ``Request``: ``url``, ``method``, ``headers``, ``cf`` and promise methods."""

    __slots__ = ("_r",)
    js_class = "Request"

    def __init__(self, request: Request) -> None:
        self._r = request

    def __cfemu_request__(self) -> Request:
        return self._r

    def _target(self) -> Request:
        return self._r

    @property
    def url(self) -> str:
        """The full URL."""
        return self._r.url

    @property
    def method(self) -> str:
        """The method, upper case."""
        return self._r._method

    @property
    def redirect(self) -> str:
        """The redirect mode."""
        return self._r.redirect

    @property
    def cf(self) -> Any:
        """Cloudflare's request properties (``undefined`` locally)."""
        cf = self._r.cf
        return None if cf is None else JsObject(dict(cf))

    def clone(self) -> JsRequest:
        """A copy with its own unread body."""
        return JsRequest(self._r.clone())


def new_response(body: Any = None, init: Any = None, **kwargs: Any) -> JsResponse:
    """``new Response(body, init)``."""
    options = init_dict(init, kwargs)
    if options.get("webSocket") not in (None, jsnull):
        from cfemu.errors import NotEmulatedError

        raise NotEmulatedError("js.Response.new(webSocket=...): cfemu does not emulate WebSockets")
    status = int(options.get("status", 200) or 200)
    if not 200 <= status <= 599 and status != 101:
        raise JsException(
            "RangeError",
            "Responses may only be constructed with status codes in the range 200 to 599, "
            f"inclusive (got {status}).",
        )
    headers = js_headers(options.get("headers"))
    data, content_type = js_body(body)
    if content_type and not headers.has("content-type"):
        headers.set("content-type", content_type)
    if data is not None and status in (101, 204, 205, 304):
        raise JsException(
            "TypeError", f"Response with null body status ({status}) cannot have a body."
        )
    text = str(options.get("statusText", "") or "")
    return JsResponse(FetchResponse._build(status, headers, data, status_text=text))


def response_json(data: Any, init: Any = None, **kwargs: Any) -> JsResponse:
    """``Response.json(data, init)``."""
    text = js_stringify(data)
    if text is None:
        raise JsException("TypeError", "Value is not JSON serializable")
    options = init_dict(init, kwargs)
    headers = js_headers(options.get("headers"))
    if not headers.has("content-type"):
        headers.set("content-type", "application/json")
    options["headers"] = headers
    return new_response(text, options)


def response_redirect(url: str, status: int = 302) -> JsResponse:
    """``Response.redirect(url, status)``."""
    if int(status) not in (301, 302, 303, 307, 308):
        raise JsException("RangeError", f"Invalid status code: {status}")
    location = js_headers([("location", str(url))])
    return JsResponse(FetchResponse._build(int(status), location, None))


def response_error() -> JsResponse:
    """``Response.error()``: a network-error response (status 0)."""
    return JsResponse(FetchResponse._build(0, Headers(), None))


def new_request(input: Any, init: Any = None, **kwargs: Any) -> JsRequest:
    """``new Request(input, init)``."""
    options = init_dict(init, kwargs)
    base = input._r if isinstance(input, JsRequest) else input
    if isinstance(base, JsURL):
        base = base.href
    data, content_type = js_body(options.get("body"))
    headers = js_headers(options["headers"]) if "headers" in options else None
    try:
        request = Request(
            base if isinstance(base, Request) else str(base),
            method=options.get("method"),
            headers=headers,
            redirect=options.get("redirect"),
        )
    except TypeError as exc:
        raise JsException("TypeError", str(exc)) from None
    if data is not None:
        if request._method in ("GET", "HEAD"):
            raise JsException("TypeError", "Request with a GET or HEAD method cannot have a body.")
        request._body = data
        if content_type and not request._headers.has("content-type"):
            request._headers.set("content-type", content_type)
    return JsRequest(request)
