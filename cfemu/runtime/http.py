"""``Request`` and ``Response`` with the Python Workers SDK's API, held in Python bytes.

The shapes follow Cloudflare's SDK (spec: workers-and-config.md §2.5, Appendix A):
``Response(body, status, status_text, headers)`` takes ``str``/``bytes``/``FormData``/``None``
and raises ``TypeError: Unsupported type in Response: <type>`` otherwise;
``Response.json(data)`` builds a JSON response while ``await response.json()`` reads one;
``.headers`` is an ``http.client.HTTPMessage`` (repeated headers kept); a body can be read
once, a second read raises ``OSError("Body already used")``.

Headers are :class:`~cfemu.runtime.headers.Headers`, validated as workerd validates them:
every way a header enters (``Headers``, ``Request``/``Response`` ``headers=``, the
transports) goes through it, so no Worker can put a line break on the wire.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterable, Mapping
from http import HTTPMethod, HTTPStatus
from typing import Any, TypeAlias

from cfemu._js import JsDict, to_js_dict
from cfemu.runtime.body import ArrayBuffer, Blob, FormData, decode_form, encode_form
from cfemu.runtime.headers import Headers, HeadersInit

__all__ = [
    "BODY_USED",
    "Body",
    "FetchResponse",
    "Headers",
    "HeadersInit",
    "Request",
    "Response",
]

#: A body the SDK accepts for a Request or Response.
Body: TypeAlias = "str | bytes | FormData"

_Bytes = bytes  # ``bytes`` is shadowed by the ``bytes()`` methods inside the classes below

#: The message of the ``OSError`` a second read of a body raises (spec §2.5).
BODY_USED = "Body already used"

_NULL_BODY_STATUSES = frozenset({101, 204, 205, 304})
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_TEXT_PLAIN = "text/plain;charset=UTF-8"


def _status_code(status: HTTPStatus | int | None) -> int:
    if not status:
        return 200
    code = int(status)
    if not 200 <= code <= 599 and code != 101:
        raise ValueError(
            "Responses may only be constructed with status codes in the range 200 to 599, "
            f"inclusive (got {code})."
        )
    return code


def _encode_body(body: object, headers: Headers, kind: str) -> bytes | None:
    """Bytes of a SDK body value, setting the content type JavaScript would set."""
    if body is None:
        return None
    if isinstance(body, str):
        headers._default("content-type", _TEXT_PLAIN)
        return body.encode()
    if isinstance(body, bytes):
        return body
    data: bytes | None
    content_type: str | None
    if isinstance(body, FormData):
        data, content_type = encode_form(body)
    elif _is_js_body(body):  # a js.ArrayBuffer, Uint8Array, URLSearchParams, ReadableStream
        from cfemu.runtime.js_module.web import js_body

        data, content_type = js_body(body)
    else:
        raise TypeError(f"Unsupported type in {kind}: {type(body).__name__}")
    if content_type and not headers.has("content-type"):
        headers.set("content-type", content_type)
    return data


def _is_js_body(body: object) -> bool:
    """Whether ``body`` is one of cfemu's JavaScript body values (``js.Uint8Array``...)."""
    return getattr(type(body), "__cfemu_body__", False) is True


class _Body:
    """A body read at most once, as the SDK's Request and Response read theirs."""

    __slots__ = ("_body", "_body_used", "_headers")

    _body: _Bytes | None
    _body_used: bool
    _headers: Headers

    @property
    def body_used(self) -> bool:
        """Whether the body was read already (a second read raises ``OSError``)."""
        return self._body_used

    @property
    def body(self) -> Any:
        """The body as a JavaScript ``ReadableStream`` (``None`` without one): pass it to
        ``Response(...)`` to reuse it, as the SDK allows."""
        if self._body is None:
            return None
        from cfemu.runtime.js_module.web import JsReadableStream

        return JsReadableStream(self._body)

    @property
    def headers(self) -> http.client.HTTPMessage:
        """The headers, as an ``http.client.HTTPMessage`` (a fresh copy on each access)."""
        return self._headers.to_message()

    def _raise_if_failed(self) -> None:
        if self._body_used:
            raise OSError(BODY_USED)

    def _take(self) -> _Bytes:
        self._raise_if_failed()
        if self._body is None:
            return b""
        self._body_used = True
        return self._body

    async def bytes(self) -> _Bytes:
        """The body's bytes (marks it used)."""
        return self._take()

    async def buffer(self) -> ArrayBuffer:
        """The body as an :class:`~cfemu.runtime.body.ArrayBuffer` (``.to_bytes()`` works)."""
        return ArrayBuffer(self._take())

    async def text(self) -> str:
        """The body decoded as UTF-8, a leading BOM dropped as JavaScript's ``text()`` does
        (marks it used)."""
        return self._take().decode("utf-8-sig", errors="replace")

    async def _read_json(self, **kwargs: Any) -> Any:
        return json.loads(self._take().decode("utf-8-sig", errors="replace"), **kwargs)

    async def form_data(self) -> FormData:
        """The body parsed as ``multipart/form-data`` or ``x-www-form-urlencoded``."""
        return decode_form(self._take(), self._headers.get("content-type"))

    async def formData(self) -> FormData:
        """JavaScript's name for :meth:`form_data`."""
        return await self.form_data()

    async def blob(self) -> Blob:
        """The body as a :class:`Blob` with the response's content type."""
        return Blob([self._take()], self._headers.get("content-type"))

    def raw_body(self) -> _Bytes | None:
        """The body without reading it (for cfemu's transports), ``None`` if there is none."""
        return self._body


class Request(_Body):
    """An HTTP request, as a Worker's ``fetch(self, request)`` receives it.

    ``Request(url, method=, headers=, body=, redirect=, cf=)`` follows the SDK (its
    ``FetchKwargs``); ``Request(other_request, ...)`` copies ``other_request``.
    """

    # No __slots__: Workers may set attributes on requests, as on Cloudflare.

    _cf: JsDict | None
    _method: str
    _redirect: str
    _url: str

    def __init__(
        self,
        input: Request | str,
        *,
        method: HTTPMethod | str | None = None,
        headers: HeadersInit | None = None,
        body: Body | None = None,
        redirect: str | None = None,
        cf: Mapping[str, Any] | None = None,
    ) -> None:
        if hasattr(input, "__cfemu_request__"):  # a js.Request
            if method or headers is not None or body is not None or redirect or cf is not None:
                raise ValueError("Expected no options when constructing Request from a js.Request")
            input = input.__cfemu_request__()
        if isinstance(input, Request):
            base_method, url, base_headers = input._method, input._url, input._headers
            base_body, base_cf, base_redirect = input._body, input._cf, input._redirect
        else:
            base_method, url, base_headers = "GET", str(input), Headers()
            base_body, base_cf, base_redirect = None, None, "follow"
        self._method = str(method.value if isinstance(method, HTTPMethod) else method or "")
        self._method = self._method.upper() or base_method
        self._url = url
        self._headers = Headers(headers) if headers is not None else Headers(base_headers)
        self._body = base_body if body is None else _encode_body(body, self._headers, "Request")
        if self._body is not None and self._method in ("GET", "HEAD"):
            raise TypeError("Request with a GET or HEAD method cannot have a body.")
        self._cf = to_js_dict(dict(cf)) if cf is not None else base_cf
        self._redirect = redirect or base_redirect
        self._body_used = False

    @classmethod
    def incoming(
        cls,
        method: str,
        url: str,
        headers: Iterable[tuple[str, str]],
        body: _Bytes | None,
        cf: Mapping[str, Any] | None = None,
    ) -> Request:
        """A request as cfemu's transports build it: no copies, no validation of the body."""
        return cls._received(method, url, Headers(list(headers)), body, cf)

    @classmethod
    def _received(
        cls,
        method: str,
        url: str,
        headers: Headers,
        body: _Bytes | None,
        cf: Mapping[str, Any] | None = None,
    ) -> Request:
        """:meth:`incoming` with its headers already made (and so validated)."""
        request = cls.__new__(cls)
        request._method = method.upper()
        request._url = url
        request._headers = headers
        request._body = body if body else None
        request._cf = to_js_dict(dict(cf)) if cf is not None else None
        request._redirect = "follow"
        request._body_used = False
        return request

    @property
    def method(self) -> HTTPMethod | str:
        """The method: an ``http.HTTPMethod`` (a ``str``), or the string for an unusual one."""
        try:
            return HTTPMethod[self._method]
        except KeyError:
            return self._method

    @property
    def url(self) -> str:
        """The full URL."""
        return self._url

    @property
    def cf(self) -> JsDict | None:
        """Cloudflare's ``request.cf`` properties; ``None`` when there are none (locally)."""
        return self._cf

    @property
    def redirect(self) -> str:
        """The redirect mode: ``"follow"``, ``"manual"`` or ``"error"``."""
        return self._redirect

    @property
    def js_object(self) -> Request:
        """The object itself: there is no JavaScript object behind it in cfemu."""
        return self

    async def json(self, **kwargs: Any) -> Any:
        """The body parsed as JSON into Python values (``json.loads``)."""
        return await self._read_json(**kwargs)

    def clone(self) -> Request:
        """A copy with its own unread body; ``OSError`` if this body was read already."""
        self._raise_if_failed()
        return Request.incoming(self._method, self._url, self._headers.items(), self._body)

    def __repr__(self) -> str:
        return f"Request(method={self._method!r}, url={self._url!r})"


class _JsonAccessor:
    """``Response.json``: builds a response on the class, reads the body on an instance."""

    def __get__(self, obj: FetchResponse | None, objtype: type[FetchResponse]) -> Any:
        if obj is None:
            return objtype.from_json
        return obj._read_json


class FetchResponse(_Body):
    """A response as ``workers.fetch`` returns it (Pyodide's ``FetchResponse`` API)."""

    __slots__ = ("_redirected", "_status", "_status_text", "_url")

    _status: int
    _status_text: str
    _url: str
    _redirected: bool

    @classmethod
    def _build(
        cls,
        status: int,
        headers: Headers,
        body: _Bytes | None,
        *,
        status_text: str = "",
        url: str = "",
        redirected: bool = False,
    ) -> Response:
        response = Response.__new__(Response)
        response._status = status
        response._status_text = status_text
        response._headers = headers
        response._body = body if body else None
        response._body_used = False
        response._url = url
        response._redirected = redirected
        return response

    @property
    def status(self) -> int:
        """The HTTP status code."""
        return self._status

    @property
    def status_text(self) -> str:
        """The status message (``""`` unless given)."""
        return self._status_text

    @property
    def ok(self) -> bool:
        """Whether the status is 200-299."""
        return 200 <= self._status <= 299

    @property
    def url(self) -> str:
        """The URL the response came from (``""`` for a constructed response)."""
        return self._url

    @property
    def redirected(self) -> bool:
        """Whether ``fetch`` followed a redirect to get this response."""
        return self._redirected

    @property
    def type(self) -> str:
        """The response type: ``"default"`` (constructed) or ``"basic"`` (fetched)."""
        return "basic" if self._url else "default"

    @property
    def js_object(self) -> FetchResponse:
        """The object itself: there is no JavaScript object behind it in cfemu."""
        return self

    json = _JsonAccessor()

    async def string(self) -> str:
        """Pyodide's older name for :meth:`text`."""
        return await self.text()

    async def memoryview(self) -> memoryview:
        """The body as a ``memoryview``."""
        return memoryview(self._take())

    def raise_for_status(self) -> None:
        """Raise ``OSError`` for a 4xx or 5xx status (as Pyodide does)."""
        if 400 <= self._status < 600:
            kind = "Client" if self._status < 500 else "Server"
            raise OSError(f"{self._status} {kind} Error: {self._status_text} for url: {self._url}")

    def clone(self) -> Response:
        """A copy with its own unread body; ``OSError`` if this body was read already."""
        self._raise_if_failed()
        return FetchResponse._build(
            self._status,
            Headers(self._headers),
            self._body,
            status_text=self._status_text,
            url=self._url,
            redirected=self._redirected,
        )

    def replace_body(self, body: Body | None) -> Response:
        """A new response with the same status and headers and another body."""
        headers = Headers(self._headers)
        return FetchResponse._build(
            self._status,
            headers,
            _encode_body(body, headers, "Response"),
            status_text=self._status_text,
        )

    @staticmethod
    def from_json(
        data: Any,
        status: HTTPStatus | int = HTTPStatus.OK,
        status_text: str = "",
        headers: HeadersInit | None = None,
    ) -> Response:
        """A JSON response: ``json.dumps(data)`` with ``content-type: application/json``."""
        response = Response(json.dumps(data), status, status_text, headers)
        if not (headers is not None and Headers(headers).has("content-type")):
            response._headers.set("content-type", "application/json")
        return response

    @staticmethod
    def redirect(url: str, status: HTTPStatus | int = HTTPStatus.FOUND) -> Response:
        """A redirect to ``url`` (status 301, 302, 303, 307 or 308)."""
        code = int(status)
        if code not in _REDIRECT_STATUSES:
            raise ValueError(f"Invalid redirect status: {code}")
        return FetchResponse._build(code, Headers([("location", url)]), None)

    def __repr__(self) -> str:
        parts = [f"status={self._status}"]
        if self._status_text:
            parts.append(f"status_text={self._status_text!r}")
        content_type = self._headers.get("content-type")
        if content_type:
            parts.append(f"content_type={content_type!r}")
        if self._url:
            parts.append(f"url={self._url!r}")
        return f"{type(self).__name__}({', '.join(parts)})"


class Response(FetchResponse):
    """The response a Worker's ``fetch`` returns.

    ``Response(body=None, status=None, status_text="", headers=None, web_socket=None)``:
    the body is ``str`` (sent as ``text/plain;charset=UTF-8`` unless a content type is
    given), ``bytes``, ``FormData`` (multipart) or ``None``; the status defaults to 200.
    ``Response.json(data, status=200, status_text="", headers=None)`` (also ``from_json``)
    and ``Response.redirect(url, status=302)`` build the common kinds.
    """

    def __init__(
        self,
        body: Body | None = None,
        status: HTTPStatus | int | None = None,
        status_text: str = "",
        headers: HeadersInit | None = None,
        web_socket: object | None = None,
    ) -> None:
        if (
            type(body) is str
            and headers is None
            and web_socket is None
            and (status is None or (type(status) is int and 200 <= status <= 599))
            and status not in _NULL_BODY_STATUSES
        ):
            # The usual Response("text") or Response("text", 404): what the general path
            # below does for it, without its checks for other kinds of body and options.
            self._status = status or 200
            self._status_text = status_text
            self._headers = Headers._valid([("content-type", _TEXT_PLAIN)])
            self._body = body.encode()
            self._body_used = False
            self._url = ""
            self._redirected = False
            return
        unwrap = (
            None if isinstance(body, str | bytes) else getattr(body, "__cfemu_response__", None)
        )
        if unwrap is not None:  # a js.Response is wrapped as it is
            if status or status_text or headers is not None:
                raise ValueError(
                    "Expected no options when constructing Response from a js.Response"
                )
            inner = unwrap()
            for slot in ("_status", "_status_text", "_headers", "_body", "_body_used", "_url"):
                setattr(self, slot, getattr(inner, slot))
            self._redirected = inner._redirected
            return
        value: object = body
        if not (value is None or isinstance(value, str | bytes | FormData) or _is_js_body(value)):
            raise TypeError(f"Unsupported type in Response: {type(body).__name__}")
        if web_socket is not None:
            from cfemu.errors import NotEmulatedError

            raise NotEmulatedError("Response(web_socket=...): cfemu does not emulate WebSockets")
        self._status = _status_code(status)
        self._status_text = status_text
        self._headers = Headers(headers)
        self._body = _encode_body(body, self._headers, "Response")
        if self._body is not None and self._status in _NULL_BODY_STATUSES:
            raise TypeError(f"Response with null body status ({self._status}) cannot have a body.")
        self._body_used = False
        self._url = ""
        self._redirected = False
