"""``cfemu dev``'s HTTP/1.1 protocol (cfemu.cli._http_protocol) under a real uvicorn server on
loopback, spoken to in raw bytes: keep-alive, pipelining, request bodies, 100-continue, HEAD,
chunked responses, errors, timeouts, graceful shutdown; and one write per response."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
import uvicorn

from cfemu.cli._http_protocol import DevHttpProtocol, protocol_class
from cfemu.cli._http_server import HttpOptions, uvicorn_config
from cfemu.runtime._wire import RESPOND
from tests.listening_server import ListeningServer

pytestmark = pytest.mark.anyio

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


@asynccontextmanager
async def serving(
    app: Any, *, header_timeout: float = 10.0, keep_alive: float = 5.0
) -> AsyncIterator[tuple[int, ListeningServer]]:
    """``app`` served by uvicorn with cfemu's protocol on a free loopback port."""
    config = uvicorn_config(
        app, host="127.0.0.1", port=0, options=HttpOptions(header_timeout=header_timeout)
    )
    config.timeout_keep_alive = keep_alive  # type: ignore[assignment]
    server = ListeningServer(config)
    task = asyncio.create_task(server.serve())
    try:
        with anyio.fail_after(10):
            await server.ready.wait()
        yield server.servers[0].sockets[0].getsockname()[1], server
    finally:
        server.should_exit = True
        with anyio.fail_after(10):
            await task


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[bytes, bytes], bytes]:
    """One response: status, headers (lowercased names), body (content-length or chunked)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head[:-4].split(b"\r\n")
    status = int(lines[0].split(b" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    if b"content-length" in headers:
        body = await reader.readexactly(int(headers[b"content-length"]))
    elif headers.get(b"transfer-encoding") == b"chunked":
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n"))[:-2], 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            body += chunk[:-2]
    else:
        body = b""
    return status, headers, body


async def text_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers ``METHOD path?query body-length`` with a content-length."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    text = f"{scope['method']} {scope['path']}?{scope['query_string'].decode()} {len(body)}"
    payload = text.encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"text/plain"),
                (b"content-length", b"%d" % len(payload)),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


@asynccontextmanager
async def connection(port: int) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        yield reader, writer
    finally:
        writer.close()


async def test_keep_alive_answers_requests_in_turn_on_one_connection() -> None:
    async with serving(text_app) as (port, _), connection(port) as (reader, writer):
        for path in (b"/a", b"/b%20c?x=1", b"/"):
            writer.write(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path)
            with anyio.fail_after(5):
                status, headers, body = await read_response(reader)
            assert status == 200 and headers[b"content-type"] == b"text/plain"
            assert b"date" in headers and b"connection" not in headers
        assert body == b"GET /? 0"
    # the percent-decoded path and the query reached the app
    async with serving(text_app) as (port, _), connection(port) as (reader, writer):
        writer.write(b"GET /b%20c?x=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await read_response(reader))[2] == b"GET /b c?x=1 0"


async def test_pipelined_requests_are_answered_in_order() -> None:
    order: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] == "/slow":
            await asyncio.sleep(0)  # lets the next requests be parsed meanwhile
            await asyncio.sleep(0)
        order.append(scope["path"])
        await text_app(scope, receive, send)

    async with serving(app) as (port, _), connection(port) as (reader, writer):
        writer.write(
            b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"
            b"POST /post HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
            b"GET /last HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        with anyio.fail_after(5):
            bodies = [(await read_response(reader))[2] for _ in range(3)]
    assert bodies == [b"GET /slow? 0", b"POST /post? 3", b"GET /last? 0"]
    assert order == ["/slow", "/post", "/last"]


async def test_request_bodies_stream_in_chunks_and_in_full() -> None:
    big = b"x" * 300_000  # over the 64 KiB high-water mark: reading pauses and resumes
    async with serving(text_app) as (port, _), connection(port) as (reader, writer):
        writer.write(b"POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(big))
        writer.write(big)
        writer.write(
            b"POST /chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
        )
        with anyio.fail_after(10):
            first = await read_response(reader)
            second = await read_response(reader)
    assert first[2] == b"POST /big? 300000"
    assert second[2] == b"POST /chunked? 11"


async def test_expect_100_continue_is_answered_when_the_app_reads_the_body() -> None:
    async with serving(text_app) as (port, _), connection(port) as (reader, writer):
        writer.write(
            b"PUT /up HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"
        )
        with anyio.fail_after(5):
            interim = await reader.readuntil(b"\r\n\r\n")
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        writer.write(b"data")
        with anyio.fail_after(5):
            assert (await read_response(reader))[2] == b"PUT /up? 4"


async def test_head_has_the_length_but_no_body_and_the_connection_stays_usable() -> None:
    async with serving(text_app) as (port, _), connection(port) as (reader, writer):
        writer.write(b"HEAD /h HTTP/1.1\r\nHost: x\r\n\r\nGET /g HTTP/1.1\r\nHost: x\r\n\r\n")
        with anyio.fail_after(5):
            head = await reader.readuntil(b"\r\n\r\n")
            after = await read_response(reader)
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and b"content-length: 10\r\n" in head
    assert after[2] == b"GET /g? 0"


async def test_a_response_without_length_is_chunked_as_the_app_streams_it() -> None:
    release = asyncio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"first ", "more_body": True})
        await release.wait()
        await send({"type": "http.response.body", "body": b"second", "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    async with serving(app) as (port, _), connection(port) as (reader, writer):
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        with anyio.fail_after(5):
            head = await reader.readuntil(b"\r\n\r\n")  # sent before the stream ends
            first = await reader.readuntil(b"first \r\n")
        assert b"transfer-encoding: chunked" in head and first == b"6\r\nfirst \r\n"
        release.set()
        with anyio.fail_after(5):
            rest = await reader.readuntil(b"0\r\n\r\n")
    assert rest == b"6\r\nsecond\r\n0\r\n\r\n"


@pytest.mark.parametrize(
    ("request_bytes", "why"),
    [
        (b"GET / HTTP/1.0\r\n\r\n", "HTTP/1.0 without keep-alive"),
        (b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "the client's close"),
        (
            b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
            "an Upgrade cfemu does not perform",
        ),
    ],
)
async def test_the_connection_closes_after_the_response_when(
    request_bytes: bytes, why: str
) -> None:
    async with serving(text_app) as (port, _), connection(port) as (reader, writer):
        writer.write(request_bytes)
        with anyio.fail_after(5):
            status, headers, _ = await read_response(reader)
            rest = await reader.read()
    assert status == 200, why
    assert headers[b"connection"] == b"close" and rest == b"", why


async def test_the_apps_connection_close_closes_the_connection() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"Content-Length", b"2"), (b"Connection", b"keep-alive, Close")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"ok"})

    async with serving(app) as (port, _), connection(port) as (reader, writer):
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        with anyio.fail_after(5):
            assert (await read_response(reader))[2] == b"ok"
            assert await reader.read() == b""


async def _answer(app: Any, request: bytes) -> bytes:
    async with serving(app) as (port, _), connection(port) as (reader, writer):
        writer.write(request)
        with anyio.fail_after(5):
            return await reader.read()


async def test_an_app_that_fails_or_never_answers_gives_a_500_and_a_close() -> None:
    async def raises(scope: Scope, receive: Receive, send: Send) -> None:
        raise ValueError("the app's own bug")

    async def silent(scope: Scope, receive: Receive, send: Send) -> None:
        return None

    async def bad_header(scope: Scope, receive: Receive, send: Send) -> None:
        injected = [(b"content-length", b"2"), (b"x-a", b"1\r\nset-cookie: stolen=1")]
        await send({"type": "http.response.start", "status": 200, "headers": injected})

    async def fails_after_start(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-length", b"2")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        raise ValueError("failed before the body")  # nothing was written yet: still a 500

    request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    for app in (raises, silent, bad_header, fails_after_start):
        answer = await _answer(app, request)
        assert answer.startswith(b"HTTP/1.1 500 Internal Server Error\r\n"), app
        assert b"connection: close\r\n" in answer and b"stolen" not in answer


async def test_a_response_shorter_or_longer_than_its_length_closes_the_connection() -> None:
    def app_sending(body: bytes) -> Any:
        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            headers = [(b"content-length", b"4")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        return app

    request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"
    for body in (b"ab", b"abcdef"):
        answer = await _answer(app_sending(body), request)
        # at most the one broken answer, never a second response on that connection
        assert answer.count(b"HTTP/1.1 ") <= 1, answer


async def test_an_unparsable_request_is_a_400() -> None:
    answer = await _answer(text_app, b"NOT HTTP AT ALL\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert answer.endswith(b"\r\n\r\nInvalid HTTP request received.")


async def test_garbage_after_a_request_in_flight_is_a_400_after_its_response() -> None:
    release = asyncio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await release.wait()
        await text_app(scope, receive, send)

    async with serving(app) as (port, _), connection(port) as (reader, writer):
        writer.write(b"GET /first HTTP/1.1\r\nHost: x\r\n\r\nNOT HTTP\r\n\r\n")
        await writer.drain()
        release.set()
        with anyio.fail_after(5):
            first = await read_response(reader)
            rest = await reader.read()
    assert first[2] == b"GET /first? 0"
    assert rest.startswith(b"HTTP/1.1 400 Bad Request\r\n")


async def test_a_client_leaving_mid_body_is_a_disconnect_for_the_app() -> None:
    seen: list[Any] = []
    first = asyncio.Event()
    done = asyncio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            while True:
                message = await receive()
                seen.append(message["type"])
                first.set()
                if message["type"] == "http.disconnect":
                    return
        finally:
            done.set()

    async with serving(app) as (port, _):
        async with connection(port) as (_reader, writer):
            writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
            await writer.drain()
            with anyio.fail_after(5):
                await first.wait()
        with anyio.fail_after(5):
            await done.wait()
    assert seen == ["http.request", "http.disconnect"]


async def test_an_idle_keep_alive_connection_is_closed_at_the_keep_alive_timeout() -> None:
    loop = asyncio.get_running_loop()
    async with serving(text_app, keep_alive=0.2) as (port, _), connection(port) as (r, w):
        w.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        with anyio.fail_after(5):
            await read_response(r)
            answered = loop.time()
            assert await r.read() == b""
        assert loop.time() - answered < 4  # the keep-alive timeout, not a later one


async def test_headers_not_complete_in_time_get_a_408() -> None:
    async with serving(text_app, header_timeout=0.2) as (port, _), connection(port) as (r, w):
        w.write(b"GET / HTTP/1.1\r\nHost: x\r\n")
        with anyio.fail_after(5):
            answer = await r.read()
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n")


async def test_shutdown_lets_the_response_in_progress_finish_then_closes() -> None:
    entered = asyncio.Event()
    release = asyncio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        entered.set()
        await release.wait()
        await text_app(scope, receive, send)

    async with serving(app) as (port, server), connection(port) as (reader, writer):
        writer.write(b"GET /last HTTP/1.1\r\nHost: x\r\n\r\n")
        with anyio.fail_after(5):
            await entered.wait()
        for open_connection in list(server.server_state.connections):
            open_connection.shutdown()  # what uvicorn's graceful shutdown calls
        release.set()
        with anyio.fail_after(5):
            status, headers, body = await read_response(reader)
            assert await reader.read() == b""
    assert (status, body, headers[b"connection"]) == (200, b"GET /last? 0", b"close")


# --- one write per response, on a fake transport ---------------------------------------
class _Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5000), "sockname": ("127.0.0.1", 8787)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def _protocol(app: Any) -> tuple[DevHttpProtocol, _Transport]:
    config = uvicorn.Config(app, lifespan="off", http=protocol_class(10.0))
    config.load()
    state = uvicorn.server.ServerState()
    protocol = config.http_protocol_class(config=config, server_state=state, app_state={})
    transport = _Transport()
    protocol.connection_made(transport)
    return protocol, transport


async def test_a_fixed_length_response_is_one_write() -> None:
    protocol, transport = _protocol(text_app)
    protocol.data_received(b"GET /one HTTP/1.1\r\nHost: x\r\n\r\n")
    with anyio.fail_after(5):
        while not transport.writes:
            await asyncio.sleep(0)
        for _ in range(3):  # nothing else follows
            await asyncio.sleep(0)
    assert len(transport.writes) == 1
    assert re.match(rb"HTTP/1\.1 200 OK\r\n.*\r\n\r\nGET /one\? 0$", transport.writes[0], re.S)


async def test_send_waits_while_the_transport_is_over_its_high_water_mark() -> None:
    sent = asyncio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"x", "more_body": True})
        await send({"type": "http.response.body", "body": b"y"})
        sent.set()

    protocol, transport = _protocol(app)
    protocol.pause_writing()
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    for _ in range(10):
        await asyncio.sleep(0)
    assert not sent.is_set() and transport.writes == []
    protocol.resume_writing()
    with anyio.fail_after(5):
        await sent.wait()
    assert b"".join(transport.writes).endswith(b"1\r\nx\r\n1\r\ny\r\n0\r\n\r\n")


def _respond_app(status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> Any:
    """An app that answers through the scope's ``respond`` when it can, else as ASGI
    messages; what ``respond`` said is recorded in ``app.said``."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        done = scope[RESPOND](status, headers, body)
        app.said.append(done)  # type: ignore[attr-defined]
        if not done:
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})

    app.said = []  # type: ignore[attr-defined]
    return app


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_respond_writes_a_whole_response_at_once_and_keeps_the_connection() -> None:
    app = _respond_app(201, [(b"x-kind", b"whole"), (b"content-length", b"5")], b"hello")
    protocol, transport = _protocol(app)
    protocol.data_received(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nHEAD /b HTTP/1.1\r\nHost: x\r\n\r\n")
    await _settle()
    assert app.said == [True, True] and not transport.closed
    get, head = transport.writes  # one write each
    assert re.match(rb"HTTP/1\.1 201 Created\r\nx-kind: whole\r\ncontent-length: 5\r\n", get)
    assert get.endswith(b"\r\n\r\nhello") and b"connection" not in get
    assert head.endswith(b"\r\n\r\n") and b"content-length: 5\r\n" in head  # no body
    # a response that closes the connection is still written whole, then closes
    app = _respond_app(200, [(b"content-length", b"2"), (b"connection", b"close")], b"ok")
    protocol, transport = _protocol(app)
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await _settle()
    assert app.said == [True] and transport.closed
    assert transport.writes[0].endswith(b"connection: close\r\n\r\nok")


async def test_respond_declines_what_it_cannot_write_at_once_and_send_takes_over() -> None:
    # over the high-water mark: nothing is written until the transport drains
    app = _respond_app(200, [(b"content-length", b"2")], b"ok")
    protocol, transport = _protocol(app)
    protocol.pause_writing()
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await _settle()
    assert app.said == [False] and transport.writes == []
    protocol.resume_writing()
    await _settle()
    assert len(transport.writes) == 1 and transport.writes[0].endswith(b"\r\n\r\nok")
    # a body shorter than its content-length: declined, and send() writes what there is
    # and closes the connection, as it does for any response cut short
    app = _respond_app(200, [(b"content-length", b"5")], b"ok")
    protocol, transport = _protocol(app)
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await _settle()
    assert app.said == [False] and transport.closed
    # no content-length (a chunked response): declined, and send() streams it
    app = _respond_app(200, [(b"content-type", b"text/plain")], b"ok")
    protocol, transport = _protocol(app)
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await _settle()
    assert app.said == [False]
    written = b"".join(transport.writes)
    assert b"transfer-encoding: chunked\r\n" in written
    assert written.endswith(b"\r\n\r\n2\r\nok\r\n0\r\n\r\n") and not transport.closed


async def test_a_date_or_server_header_of_the_response_replaces_the_servers_own() -> None:
    own = [(b"Date", b"Tue, 01 Dec 2026 00:00:00 GMT"), (b"content-length", b"0")]

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        headers = own if scope["path"] == "/own" else [(b"content-length", b"0")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    protocol, transport = _protocol(app)
    server_date = b"Thu, 03 Dec 2026 12:00:00 GMT"
    protocol.server_state.default_headers = [(b"date", server_date), (b"server", b"uvicorn")]
    protocol.data_received(b"GET /own HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await _settle()
    mine, servers = (write.lower() for write in transport.writes)
    # the response's own Date, once; the server's other default header still there
    assert mine.count(b"\r\ndate: ") == 1 and b"date: tue, 01 dec 2026" in mine
    assert mine.count(b"\r\nserver: ") == 1
    # a response without one gets the server's
    assert servers.count(b"\r\ndate: ") == 1 and server_date.lower() in servers
