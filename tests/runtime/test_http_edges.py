"""HTTP edge cases through both ways in (httpx transport and ASGI), with a Worker written
the way Cloudflare's docs write them."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest

from cfemu._tasks import TaskTracker
from cfemu.clock import VirtualClock
from cfemu.runtime import Worker, WorkerTransport, asgi_app

pytestmark = pytest.mark.anyio

DOCS_STYLE = """
from urllib.parse import urlparse, parse_qs

from workers import Response, WorkerEntrypoint


async def remember(log, line):
    log.append(line)


class Default(WorkerEntrypoint):
    async def fetch(self, request, env, ctx):  # older docs' signature: env/ctx are None
        from workers import env as module_env  # lazily, at call time
        import workers

        url = urlparse(request.url)
        if url.path == "/echo":
            data = await request.bytes()
            return Response(
                data,
                status=200,
                headers=[
                    ("x-method", str(request.method)),
                    ("x-query", repr(parse_qs(url.query))),
                    ("x-first", request.headers.get("x-rep") or ""),
                    ("x-all", ",".join(request.headers.get_all("x-rep") or [])),
                    ("x-args", repr((env, ctx))),
                    ("set-cookie", "a=1"),
                    ("set-cookie", "b=2"),
                ],
            )
        if url.path == "/big":
            return Response(b"\\x00\\xff" * 1_000_000, headers={"content-type": "x/bin"})
        if url.path == "/empty":
            return Response(None, status=204)
        if url.path == "/json":
            body = await request.json()
            self.ctx.waitUntil(remember(module_env.LOG, body["name"]))
            return Response.json({"hi": body["name"]}, status=201, headers={"x-a": "1"})
        if url.path == "/go":
            return workers.Response.redirect("https://example.com/next", 307)
        return Response("ok")
"""


@pytest.fixture
def worker(tmp_path: Path) -> Worker:
    (tmp_path / "entry.py").write_text(textwrap.dedent(DOCS_STYLE))
    return Worker.load(
        tmp_path / "entry.py",
        name="docs",
        env={"LOG": []},
        clock=VirtualClock(),
        tracker=TaskTracker(),
        max_request_body_bytes=16,
    )


def client(worker: Worker) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=WorkerTransport(worker), base_url="http://w.test")


async def asgi(
    worker: Worker,
    method: str,
    path: str,
    *,
    query: bytes = b"",
    parts: list[bytes] | None = None,
    headers: list[tuple[bytes, bytes]] | None = None,
    disconnect_after: int | None = None,
) -> tuple[int, list[tuple[str, str]], bytes] | None:
    """Drive the ASGI app; ``None`` when it sent no response."""
    chunks = [b""] if parts is None else parts
    incoming: list[dict[str, Any]] = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]
    if disconnect_after is not None:
        incoming = incoming[:disconnect_after]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "headers": [(b"host", b"w.test"), *(headers or [])],
        "server": ("127.0.0.1", 8787),
    }
    await asgi_app(worker)(scope, receive, send)
    if not sent:
        return None
    start = sent[0]
    body = b"".join(m.get("body", b"") for m in sent[1:])
    pairs = [(k.decode(), v.decode()) for k, v in start["headers"]]
    return start["status"], pairs, body


async def test_docs_style_worker_through_the_transport(worker: Worker) -> None:
    payload = bytes(range(16))  # binary, exactly at the limit
    async with client(worker) as http:
        echo = await http.post(
            "/echo?a=1&a=2&b=%20x",
            content=payload,
            headers=[("x-rep", "one"), ("x-rep", "two")],
        )
        created = await http.post("/json", json={"name": "Ada"})
        moved = await http.get("/go")
    assert echo.status_code == 200 and echo.content == payload
    assert echo.headers["x-method"] == "POST"
    assert echo.headers["x-query"] == repr({"a": ["1", "2"], "b": [" x"]})
    assert (echo.headers["x-first"], echo.headers["x-all"]) == ("one", "one,two")
    assert echo.headers["x-args"] == "(None, None)"
    assert echo.headers.get_list("set-cookie") == ["a=1", "b=2"]
    assert (created.status_code, created.json(), created.headers["x-a"]) == (
        201,
        {"hi": "Ada"},
        "1",
    )
    assert created.headers["content-type"] == "application/json"
    assert (moved.status_code, moved.headers["location"]) == (307, "https://example.com/next")
    await worker.tracker.wait_idle()
    assert worker.env.LOG == ["Ada"]


async def test_docs_style_worker_through_asgi(worker: Worker) -> None:
    payload = bytes(range(16))
    answer = await asgi(
        worker,
        "POST",
        "/echo",
        query=b"a=1&a=2",
        parts=[payload[:5], payload[5:9], payload[9:]],  # chunked: no content-length
        headers=[(b"x-rep", b"one"), (b"x-rep", b"two")],
    )
    assert answer is not None
    status, headers, body = answer
    assert (status, body) == (200, payload)
    assert ("x-query", repr({"a": ["1", "2"]})) in headers
    assert ("x-all", "one,two") in headers
    assert [v for k, v in headers if k == "set-cookie"] == ["a=1", "b=2"]
    assert ("content-length", "16") in headers


async def test_bodies_just_over_the_limit_are_413_both_ways(worker: Worker) -> None:
    async def seventeen() -> Any:
        for part in (b"x" * 8, b"x" * 8, b"x"):
            yield part

    async with client(worker) as http:
        chunked = await http.post("/echo", content=seventeen())
        declared = await http.post("/echo", content=b"x" * 17)
    assert (chunked.status_code, declared.status_code) == (413, 413)
    answer = await asgi(worker, "POST", "/echo", parts=[b"x" * 8, b"x" * 8, b"x"])
    assert answer is not None and answer[0] == 413


async def test_head_responses_carry_the_length_but_no_body(worker: Worker) -> None:
    async with client(worker) as http:
        head = await http.head("/big")
        get = await http.get("/big")
    assert len(get.content) == 2_000_000 and get.content[:2] == b"\x00\xff"
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == "2000000"
    answer = await asgi(worker, "HEAD", "/big")
    assert answer is not None
    status, headers, body = answer
    assert (status, body) == (200, b"")
    assert ("content-length", "2000000") in headers and ("content-type", "x/bin") in headers


async def test_no_body_statuses_get_no_content_length(worker: Worker) -> None:
    async with client(worker) as http:
        empty = await http.get("/empty")
    assert empty.status_code == 204 and "content-length" not in empty.headers
    answer = await asgi(worker, "GET", "/empty")
    assert answer is not None
    assert answer[0] == 204 and not [k for k, _ in answer[1] if k == "content-length"]


async def test_client_gone_mid_body_never_reaches_fetch(worker: Worker) -> None:
    answer = await asgi(
        worker, "POST", "/json", parts=[b'{"name": ', b'"Ada"}'], disconnect_after=1
    )
    assert answer is None
    await worker.tracker.wait_idle()
    assert worker.env.LOG == []


@pytest.mark.anyio
async def test_text_and_json_drop_a_leading_utf8_bom_as_javascript_does() -> None:
    from cfemu.runtime import Request

    body = b'\xef\xbb\xbf{"a": "\xc3\xa9"}'
    assert await Request("http://x/", method="POST", body=body).json() == {"a": "é"}
    assert await Request("http://x/", method="POST", body=body).text() == '{"a": "é"}'
