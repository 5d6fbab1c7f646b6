"""``Headers`` validates names and values as workerd does, in every way a header is set."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import uvicorn
from hypothesis import given
from hypothesis import strategies as st

import cfemu.runtime.js_module as js
from cfemu._tasks import TaskTracker
from cfemu.clock import VirtualClock
from cfemu.runtime import Headers, Request, Response, Worker, WorkerTransport, asgi_app
from cfemu.runtime.js_module.proxy import JsException
from tests.listening_server import ListeningServer

# An oracle written from RFC 9110 §5.6.2 (tchar), independent of cfemu's regex.
TCHARS = set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")

BAD_NAMES = ["", "a b", "a:b", "x\r\ny", "naïve", "a\x00", "(x)", "a/b", "a\tb"]
BAD_VALUES = ["a\r\nSet-Cookie: x=1", "a\nb", "a\rb", "a\x00b"]

SETTERS: dict[str, Callable[[str, str], object]] = {
    "Headers(dict)": lambda n, v: Headers({n: v}),
    "Headers(list)": lambda n, v: Headers([(n, v)]),
    "Headers.append": lambda n, v: Headers().append(n, v),
    "Headers.set": lambda n, v: Headers().set(n, v),
    "Response(headers=dict)": lambda n, v: Response("x", headers={n: v}),
    "Response(headers=list)": lambda n, v: Response("x", headers=[(n, v)]),
    "Response.json(headers=)": lambda n, v: Response.json({}, headers={n: v}),
    "Request(headers=)": lambda n, v: Request("https://example.com/", headers={n: v}),
}


@pytest.mark.parametrize("setter", list(SETTERS.values()), ids=list(SETTERS))
@pytest.mark.parametrize("name", BAD_NAMES)
def test_an_invalid_header_name_is_a_type_error_everywhere(
    setter: Callable[[str, str], object], name: str
) -> None:
    with pytest.raises(TypeError, match=r"^Invalid header name\.$"):
        setter(name, "v")


@pytest.mark.parametrize("setter", list(SETTERS.values()), ids=list(SETTERS))
@pytest.mark.parametrize("value", BAD_VALUES)
def test_cr_lf_or_nul_in_a_value_is_a_type_error_everywhere(
    setter: Callable[[str, str], object], value: str
) -> None:
    with pytest.raises(TypeError, match=r"^Invalid header value\.$"):
        setter("x-ok", value)


def test_lookups_validate_the_name_too() -> None:
    headers = Headers({"a": "1"})
    for lookup in (headers.get, headers.has, headers.delete):
        with pytest.raises(TypeError, match="Invalid header name"):
            lookup("a b")
    assert "a b" not in headers and "a" in headers


def test_a_redirect_to_a_url_with_a_line_break_is_refused() -> None:
    with pytest.raises(TypeError, match="Invalid header value"):
        Response.redirect("https://example.com/\r\nSet-Cookie: admin=1")


def test_values_are_trimmed_of_http_whitespace_only() -> None:
    headers = Headers({"a": " \t v \r\n", "b": "\u00a0x\u00a0", "c": "€ ok"})
    assert headers.get("a") == "v"
    assert headers.get("b") == "\u00a0x\u00a0"  # not HTTP whitespace: kept, as in JavaScript
    assert headers.get("c") == "€ ok"  # non-ASCII is allowed (workerd sends UTF-8)


def test_a_pair_that_is_not_a_pair_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="each inner sequence must have exactly two elements"):
        Headers([("a", "1", "2")])  # type: ignore[list-item]


@given(st.text(max_size=12))
def test_a_name_is_accepted_exactly_when_it_is_a_token(name: str) -> None:
    valid = name != "" and all(c in TCHARS for c in name)
    try:
        headers = Headers([(name, "v")])
    except TypeError as exc:
        assert str(exc) == "Invalid header name."
        assert not valid
    else:
        assert valid and headers.get(name) == "v" and headers.items() == [(name.lower(), "v")]


@given(st.text(max_size=12))
def test_a_value_is_accepted_exactly_when_trimmed_it_has_no_cr_lf_nul(value: str) -> None:
    trimmed = value.strip(" \t\r\n")
    valid = not any(c in trimmed for c in "\r\n\x00")
    try:
        headers = Headers({"x": value})
    except TypeError as exc:
        assert str(exc) == "Invalid header value."
        assert not valid
    else:
        assert valid and headers.get("x") == trimmed


# --- a Worker setting a bad header: TypeError in the Worker, 500 on the wire ------------------

BAD_HEADER_WORKER = """
from workers import Response, WorkerEntrypoint

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        separator = {"/crlf": chr(13) + chr(10), "/nul": chr(0), "/tab": chr(9)}
        path = "/" + request.url.rsplit("/", 1)[1]
        if path == "/unicode":
            return Response("ok", headers={"x-name": "Zoë €"})
        value = "a" + separator.get(path, separator["/crlf"]) + "Set-Cookie: admin=1"
        if path == "/caught":
            try:
                return Response("no", headers={"x-user": value})
            except TypeError as exc:
                return Response(f"caught: {exc}", status=400)
        return Response("sent", headers={"x-user": value})
"""


@pytest.fixture
def worker(tmp_path: Path) -> Worker:
    path = tmp_path / "bad_header.py"
    path.write_text(BAD_HEADER_WORKER)
    return Worker.load(path, name="bad", clock=VirtualClock(), tracker=TaskTracker())


async def _three_ways(http: httpx.AsyncClient) -> dict[str, httpx.Response]:
    return {path: await http.get(path) for path in ("/caught", "/crlf", "/nul", "/tab", "/unicode")}


def _check(replies: dict[str, httpx.Response], log: str) -> None:
    assert (replies["/caught"].status_code, replies["/caught"].text) == (
        400,
        "caught: Invalid header value.",
    )
    assert replies["/crlf"].status_code == 500 and "set-cookie" not in replies["/crlf"].headers
    assert replies["/nul"].status_code == 500
    assert "Invalid header value." in log
    # A tab inside a value is allowed and goes out intact; so does non-ASCII, as UTF-8.
    assert replies["/tab"].headers["x-user"] == "a\tSet-Cookie: admin=1"
    assert replies["/unicode"].headers["x-name"] == "Zoë €"


@pytest.mark.anyio
async def test_a_worker_setting_a_line_break_gets_a_type_error_through_the_client(
    worker: Worker, caplog: pytest.LogCaptureFixture
) -> None:
    transport = WorkerTransport(worker)
    async with httpx.AsyncClient(transport=transport, base_url="http://w") as http:
        replies = await _three_ways(http)
    _check(replies, caplog.text)


@pytest.mark.anyio
async def test_a_worker_setting_a_line_break_gets_a_500_on_the_wire_not_an_empty_reply(
    worker: Worker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    config = uvicorn.Config(asgi_app(worker), host="127.0.0.1", port=0, log_level="warning")
    server = ListeningServer(config)
    serving = asyncio.create_task(server.serve())
    try:
        with anyio.fail_after(10):
            await server.ready.wait()
        port = server.servers[0].sockets[0].getsockname()[1]
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            replies = await _three_ways(http)
    finally:
        server.should_exit = True
        with anyio.fail_after(10):
            await serving
    _check(replies, caplog.text)


@pytest.mark.anyio
async def test_a_request_header_with_a_line_break_is_a_400_before_the_worker(
    worker: Worker,
) -> None:
    # h11 refuses such a header on the wire; an ASGI server that passes one on gets a 400.
    app = asgi_app(worker)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "scheme": "http",
        "path": "/unicode",
        "raw_path": b"/unicode",
        "query_string": b"",
        "headers": [(b"host", b"example.test"), (b"x-sep", b"a\r\nb")],
        "server": ("127.0.0.1", 8787),
    }
    await app(scope, receive, send)
    assert sent[0]["status"] == 400
    assert sent[1]["body"] == b"400 Bad Request: Invalid header value."


@pytest.mark.anyio
async def test_the_in_process_client_refuses_a_request_header_with_a_line_break(
    worker: Worker,
) -> None:
    transport = WorkerTransport(worker)
    async with httpx.AsyncClient(transport=transport, base_url="http://w") as http:
        reply = await http.get("/unicode", headers={"x-sep": "a\nb"})
    assert reply.status_code == 400 and "Invalid header value." in reply.text


# --- the js module: JavaScript's TypeError, raised as Pyodide's JsException -----------------

JS_SETTERS: dict[str, Callable[[str, str], object]] = {
    "js.Headers.new(dict)": lambda n, v: js.Headers.new({n: v}),
    "js.Headers.new(pairs)": lambda n, v: js.Headers.new([[n, v]]),
    "Headers.set": lambda n, v: js.Headers.new().set(n, v),
    "Headers.append": lambda n, v: js.Headers.new().append(n, v),
    "js.Response.new(headers=)": lambda n, v: js.Response.new("x", headers={n: v}),
    "js.Response.json(headers=)": lambda n, v: js.Response.json({}, headers={n: v}),
    "js.Request.new(headers=)": lambda n, v: js.Request.new("https://a.example/", headers={n: v}),
}


@pytest.mark.parametrize("setter", list(JS_SETTERS.values()), ids=list(JS_SETTERS))
def test_the_js_module_raises_javascripts_type_error_as_a_js_exception(
    setter: Callable[[str, str], object],
) -> None:
    with pytest.raises(JsException) as bad_value:
        setter("x-user", "a\r\nSet-Cookie: admin=1")
    assert (bad_value.value.name, bad_value.value.message) == ("TypeError", "Invalid header value.")
    with pytest.raises(JsException, match=r"^TypeError: Invalid header name\.$"):
        setter("bad name", "v")


def test_js_headers_lookups_and_redirects_validate_too() -> None:
    headers = js.Headers.new({"a": "1"})
    for lookup in (headers.get, headers.has, headers.delete):
        with pytest.raises(JsException, match="Invalid header name"):
            lookup("a b")
    assert "a b" not in headers
    with pytest.raises(JsException, match="Invalid header value"):
        js.Response.redirect("https://a.example/\nx", 302)


ASGI_IN_WORKER = """
from workers import asgi

async def app(scope, receive, send):
    await receive()
    name = dict(scope["headers"]).get(b"x-name", b"")
    headers = [(b"x-echo", name)]
    if scope["path"] == "/crlf":
        headers.append((b"x-bad", b"a\\r\\nb"))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": name})

Default = asgi.entrypoint(app)
"""


@pytest.mark.anyio
async def test_an_asgi_app_in_a_worker_gets_and_gives_utf8_headers_and_no_line_breaks(
    tmp_path: Path,
) -> None:
    path = tmp_path / "asgi_app.py"
    path.write_text(ASGI_IN_WORKER)
    worker = Worker.load(path, name="asgi", clock=VirtualClock(), tracker=TaskTracker())
    request = Request("http://w/u", headers={"x-name": "Zoë €"})
    response = await worker.fetch(request)
    assert await response.bytes() == "Zoë €".encode()
    assert response.headers["x-echo"] == "Zoë €"
    broken = await worker.fetch(Request("http://w/crlf"))
    assert broken.status == 500  # the app's CR/LF header is a TypeError in the Worker
