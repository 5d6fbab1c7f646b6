"""``request.url`` is built from a validated Host and the request target only; forwarding
headers count only when trusted (spec: the front end answers 400 to a bad Host)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cfemu._tasks import TaskTracker
from cfemu.clock import VirtualClock
from cfemu.runtime import Worker, WorkerTransport, asgi_app
from cfemu.runtime.frontend import BadRequestError, parse_host, request_url
from cfemu.runtime.transport import with_body_timeout

URL_WORKER = """
from workers import Response, WorkerEntrypoint

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        self.env.SEEN.append(request.url)
        return Response(request.url)
"""


@pytest.fixture
def worker(tmp_path: Path) -> Worker:
    path = tmp_path / "url.py"
    path.write_text(URL_WORKER)
    return Worker.load(
        path, name="url", env={"SEEN": []}, clock=VirtualClock(), tracker=TaskTracker()
    )


def _url(target: str, *headers: tuple[str, str], trust: bool = False) -> str:
    return request_url(
        "http", target, headers, default_host="127.0.0.1:8787", trust_forwarded=trust
    )


@pytest.mark.parametrize(
    "host",
    [
        "evil.example/../admin?",
        "evil.example/admin",
        "a@b",
        "a b",
        "evil.example#x",
        "evil.example?x",
        "evil.example\\x",
        "",
        "host:",
        "host:99999",
        "host:0",
        "host:8080:1",
        "[::1",
        "%2e%2e",
    ],
)
def test_an_invalid_host_is_a_bad_request(host: str) -> None:
    with pytest.raises(BadRequestError, match="Host"):
        _url("/x", ("host", host))


@pytest.mark.parametrize(
    ("host", "authority"),
    [
        ("Example.COM", "example.com"),
        ("example.com:80", "example.com"),
        ("example.com:8787", "example.com:8787"),
        ("127.0.0.1:8080", "127.0.0.1:8080"),
        ("[::1]:8787", "[::1]:8787"),
        ("my_host.local", "my_host.local"),
    ],
)
def test_a_valid_host_becomes_the_urls_authority(host: str, authority: str) -> None:
    assert _url("/a?b=1", ("host", host)) == f"http://{authority}/a?b=1"


def test_two_host_headers_are_a_bad_request() -> None:
    with pytest.raises(BadRequestError, match="more than one Host"):
        _url("/", ("host", "a.example"), ("Host", "b.example"))


def test_no_host_uses_the_servers_address() -> None:
    assert _url("/p") == "http://127.0.0.1:8787/p"


def test_an_absolute_target_names_the_host() -> None:
    assert _url("http://other.example/p?q", ("host", "a.example")) == "http://other.example/p?q"
    assert _url("http://other.example", ("host", "a.example")) == "http://other.example/"
    for target in ("*", "p", "http://x.example@y/", "http://bad host/"):
        with pytest.raises(BadRequestError):
            _url(target, ("host", "a.example"))


def test_forwarding_headers_change_nothing_unless_trusted() -> None:
    headers = [
        ("host", "127.0.0.1:8787"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "app.example"),
    ]
    assert _url("/p", *headers) == "http://127.0.0.1:8787/p"
    assert _url("/p", *headers, trust=True) == "https://app.example/p"


def test_trusted_forwarded_wins_over_x_forwarded_and_takes_the_first_hop() -> None:
    headers = [
        ("host", "local:8787"),
        ("forwarded", 'for=1.2.3.4;proto=https;host="site.example", for=5.6.7.8;proto=http'),
        ("x-forwarded-proto", "http"),
        ("x-forwarded-host", "ignored.example"),
    ]
    assert _url("/p", *headers, trust=True) == "https://site.example/p"
    first_hop = [("host", "h"), ("x-forwarded-proto", "https, http")]
    assert _url("/p", *first_hop, trust=True) == "https://h/p"


def test_trusted_forwarding_headers_are_validated_too() -> None:
    with pytest.raises(BadRequestError, match="Host"):
        _url("/p", ("x-forwarded-host", "evil.example/../admin?"), trust=True)
    with pytest.raises(BadRequestError, match="protocol"):
        _url("/p", ("x-forwarded-proto", "javascript"), trust=True)


_HOST_CHARS = st.sampled_from(list("ab.-:/?#@[]\\%0 9_~!$&'()*+,;=\t\u00e9"))


@given(
    host=st.text(_HOST_CHARS, max_size=20),
    path=st.text(st.sampled_from(list("ab/.%-_~")), max_size=10),
    query=st.text(st.sampled_from(list("ab=&/?.")), max_size=8),
)
def test_no_host_can_change_the_path_or_query_the_worker_sees(
    host: str, path: str, query: str
) -> None:
    target = "/" + path + ("?" + query if query else "")
    try:
        url = _url(target, ("host", host))
    except BadRequestError:
        return
    parts = urlsplit(url)
    assert parts.path == "/" + path
    assert parts.query == query
    assert parts.netloc == parse_host(host.strip(" \t"))
    assert parts.fragment == "" and parts.username is None


# --- through the transports -----------------------------------------------------------------


async def _asgi(
    app: Any, headers: list[tuple[bytes, bytes]], path: str = "/p"
) -> tuple[int, bytes]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": headers,
        "server": ("127.0.0.1", 8787),
    }
    await app(scope, receive, send)
    return sent[0]["status"], sent[1]["body"]


@pytest.mark.anyio
async def test_asgi_answers_400_to_a_bad_host_without_running_the_worker(worker: Worker) -> None:
    app = asgi_app(worker)
    status, body = await _asgi(app, [(b"host", b"evil.example/../admin?")])
    assert status == 400 and b"invalid Host" in body
    status, body = await _asgi(app, [(b"host", b"a.example"), (b"x-forwarded-proto", b"https")])
    assert (status, body) == (200, b"http://a.example/p")
    trusting = asgi_app(worker, trust_forwarded=True)
    status, body = await _asgi(
        trusting, [(b"host", b"a.example"), (b"x-forwarded-proto", b"https")]
    )
    assert (status, body) == (200, b"https://a.example/p")
    assert worker.env.SEEN == ["http://a.example/p", "https://a.example/p"]


@pytest.mark.anyio
async def test_the_in_process_client_checks_the_host_too(worker: Worker) -> None:
    async with httpx.AsyncClient(transport=WorkerTransport(worker), base_url="http://w") as http:
        bad = await http.get("/p", headers={"host": "evil.example/../admin?"})
        named = await http.get("/p?q=1", headers={"host": "site.example"})
        plain = await http.get("/p", headers={"x-forwarded-host": "x.example"})
    assert bad.status_code == 400
    assert named.text == "http://site.example/p?q=1"
    assert plain.text == "http://w/p"
    trusting = WorkerTransport(worker, trust_forwarded=True)
    async with httpx.AsyncClient(transport=trusting, base_url="http://w") as http:
        forwarded = await http.get("/p", headers={"x-forwarded-host": "x.example"})
    assert forwarded.text == "http://x.example/p"
    assert worker.env.SEEN == [
        "http://site.example/p?q=1",
        "http://w/p",
        "http://x.example/p",
    ]


# --- a stalled request body ------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_stalled_body_gets_408_after_the_body_timeout_on_the_workers_clock(
    worker: Worker,
) -> None:
    clock = worker.clock
    assert isinstance(clock, VirtualClock)
    app = asgi_app(worker, body_timeout=5)
    chunks: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "scheme": "http",
        "path": "/p",
        "raw_path": b"/p",
        "query_string": b"",
        "headers": [(b"host", b"a.example")],
        "server": ("127.0.0.1", 8787),
    }

    async def armed_until(deadline: float) -> None:
        for _ in range(1000):
            if clock.next_deadline() == deadline:
                return
            await asyncio.sleep(0)
        raise AssertionError(f"no timer armed for {deadline}")

    serving = asyncio.create_task(app(scope, chunks.get, send))
    await chunks.put({"type": "http.request", "body": b"a", "more_body": True})
    await armed_until(clock.now() + 5)
    clock.advance(4.9)  # a slow client, but each chunk comes within the timeout
    await chunks.put({"type": "http.request", "body": b"b", "more_body": True})
    await armed_until(clock.now() + 5)
    clock.advance(4.9)
    assert not sent and not serving.done()
    clock.advance(0.2)  # then nothing for 5 s
    with anyio.fail_after(5):
        await serving
    assert sent[0]["status"] == 408 and (b"connection", b"close") in sent[0]["headers"]
    assert worker.env.SEEN == []  # the Worker never ran for a truncated request
    assert clock.pending_timers == 0


@pytest.mark.anyio
async def test_a_body_within_the_timeout_reaches_the_worker(worker: Worker) -> None:
    app = asgi_app(worker, body_timeout=5)
    status, body = await _asgi(app, [(b"host", b"a.example")])
    assert (status, body) == (200, b"http://a.example/p")
    assert isinstance(worker.clock, VirtualClock) and worker.clock.pending_timers == 0


async def _call_timed(app: Any, clock: VirtualClock) -> tuple[list[dict[str, Any]], Any]:
    timed = with_body_timeout(app, clock, 5)
    sent: list[dict[str, Any]] = []
    never: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()

    async def receive() -> dict[str, Any]:
        return await never

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/", "headers": []}
    return sent, asyncio.create_task(timed(scope, receive, send))


@pytest.mark.anyio
async def test_the_body_timeout_answers_408_even_for_an_app_that_catches_exceptions() -> None:
    clock = VirtualClock()
    caught: list[BaseException] = []

    async def careful_app(scope: Any, receive: Any, send: Any) -> None:
        try:
            await receive()
        except Exception as exc:  # like the REST API's catch-all
            caught.append(exc)
            await send({"type": "http.response.start", "status": 500, "headers": []})

    sent, task = await _call_timed(careful_app, clock)
    for _ in range(100):
        if clock.pending_timers:
            break
        await asyncio.sleep(0)
    clock.advance(5)
    with anyio.fail_after(5):
        await task
    assert caught == [] and sent[0]["status"] == 408
    assert clock.pending_timers == 0


@pytest.mark.anyio
async def test_a_cancellation_that_is_not_the_deadline_goes_through() -> None:
    clock = VirtualClock()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()

    sent, task = await _call_timed(app, clock)
    for _ in range(100):
        if clock.pending_timers:
            break
        await asyncio.sleep(0)
    task.cancel()  # e.g. the server shutting down
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sent == [] and clock.pending_timers == 0


@pytest.mark.anyio
async def test_without_a_host_the_url_names_the_servers_address_ipv6_bracketed(
    worker: Worker,
) -> None:
    app = asgi_app(worker)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    servers = ((("::1", 8787), b"http://[::1]:8787/p"), (("10.0.0.1", 80), b"http://10.0.0.1/p"))
    for server, expected in servers:
        scope = {
            "type": "http",
            "method": "GET",
            "scheme": "http",
            "path": "/p",
            "raw_path": b"/p",
            "query_string": b"",
            "headers": [],  # HTTP/1.0 without Host
            "server": server,
        }
        sent.clear()
        await app(scope, receive, send)
        assert sent[1]["body"] == expected


@pytest.mark.anyio
async def test_the_emulators_client_and_asgi_take_the_options(tmp_path: Path) -> None:
    from cfemu import Emulator

    (tmp_path / "url.py").write_text(URL_WORKER.replace("self.env.SEEN.append(request.url)", ""))
    (tmp_path / "wrangler.toml").write_text(
        'name = "url"\nmain = "url.py"\ncompatibility_date = "2026-01-01"\n'
    )
    forwarded = {"x-forwarded-proto": "https", "x-forwarded-host": "app.example"}
    async with Emulator.from_config(tmp_path / "wrangler.toml") as emulator:
        async with emulator.client() as plain, emulator.client(trust_forwarded=True) as trusting:
            assert (await plain.get("/p", headers=forwarded)).text == "http://localhost/p"
            assert (await trusting.get("/p", headers=forwarded)).text == "https://app.example/p"
        app = emulator.asgi(trust_forwarded=True, body_timeout=5)
        status, body = await _asgi(app, [(b"host", b"h.example"), (b"x-forwarded-proto", b"https")])
        assert (status, body) == (200, b"https://h.example/p")


# --- requests that cannot have a body ------------------------------------------------------

BODY_WORKER = """
from workers import Response, WorkerEntrypoint

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return Response(await request.text())
"""


async def _http1(app: Any, headers: list[tuple[bytes, bytes]], chunks: list[bytes]) -> Any:
    """One HTTP/1.1 POST through ``app``; returns (status, body, receive() calls)."""
    sent: list[dict[str, Any]] = []
    calls = 0

    async def receive() -> dict[str, Any]:
        nonlocal calls
        calls += 1
        body = chunks[calls - 1] if calls <= len(chunks) else b""
        return {"type": "http.request", "body": body, "more_body": calls < len(chunks)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "headers": [(b"host", b"a.example"), *headers],
        "server": ("127.0.0.1", 8787),
    }
    await app(scope, receive, send)
    return sent[0]["status"], sent[1]["body"], calls


@pytest.mark.anyio
async def test_an_http1_request_without_length_or_chunking_is_served_without_reading(
    tmp_path: Path,
) -> None:
    """RFC 9112 §6.3: an HTTP/1.x request with neither Content-Length nor Transfer-Encoding
    has no body, so the app answers without waiting on ``receive()``; with either header the
    body is read and reaches the Worker."""
    path = tmp_path / "body.py"
    path.write_text(BODY_WORKER)
    worker = Worker.load(path, name="body", env={}, clock=VirtualClock(), tracker=TaskTracker())
    app = asgi_app(worker)
    assert await _http1(app, [], []) == (200, b"", 0)
    assert await _http1(app, [(b"content-length", b"0")], []) == (200, b"", 0)
    sized = await _http1(app, [(b"content-length", b"5")], [b"he", b"llo"])
    assert sized == (200, b"hello", 2)
    chunked = await _http1(app, [(b"transfer-encoding", b"chunked")], [b"abc"])
    assert chunked == (200, b"abc", 1)
