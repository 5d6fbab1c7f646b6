"""``cfemu dev``'s request line, in process: the direct write of :class:`DevLogHandler` makes
the same line a ``LogRecord`` would, keeps the output's order, is flushed on the next loop
turn, and gives way to a ``LogRecord`` whenever anything else listens to the requests."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from cfemu.cli.logs import DevLogFormatter, log_requests
from tests.cli.devlog import Stream, dev_logging

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def still_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every request takes 0 ms: the lines below are compared whole, and a loaded machine
    could otherwise make one take a millisecond."""
    monkeypatch.setattr("cfemu.cli.logs.time", SimpleNamespace(perf_counter=lambda: 0.0))


@pytest.fixture
def stream() -> Iterator[Stream]:
    with dev_logging() as out:
        yield out


def _app(status: int) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    return app


async def _request(app: Any, path: str = "/a", query: bytes = b"", method: str = "GET") -> None:
    scope = {"type": "http", "method": method, "path": path, "query_string": query}
    sent: list[Any] = []

    async def receive() -> Any:
        raise AssertionError("no body is read")

    async def send(message: Any) -> None:
        sent.append(message)

    await log_requests(app)(scope, receive, send)
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]


def _record(message: str, status: int) -> logging.LogRecord:
    record = logging.LogRecord("cfemu.requests", logging.INFO, "", 0, message, None, None)
    record.status = status
    return record


async def test_the_direct_line_is_the_formatters_line_flushed_on_the_next_loop_turn() -> None:
    with dev_logging() as stream:
        await _request(_app(404), "/x", b"q=1", "POST")
        line = "[cfemu:inf] POST /x?q=1 404 Not Found (0ms)\n"
        assert stream.getvalue() == ""  # not written yet: once per loop turn
        await asyncio.sleep(0)  # one loop turn, no waiting on time
        assert stream.getvalue() == line
        assert stream.flushed == [line]
        assert DevLogFormatter(colour=False).format(_record(line[12:-1], 404)) + "\n" == line


async def test_lines_of_one_loop_turn_are_flushed_once_and_in_order() -> None:
    with dev_logging() as stream:
        await asyncio.gather(*(_request(_app(200), f"/{n}") for n in range(5)))
        logging.getLogger("cfemu.runtime").warning("after the requests")
        lines = stream.getvalue().splitlines()
        assert lines == [f"[cfemu:inf] GET /{n} 200 OK (0ms)" for n in range(5)] + [
            "[cfemu:wrn] after the requests"
        ]
        # the five requests ran in one loop turn; one deferred flush took their lines
        requests = "".join(line + "\n" for line in lines[:5])
        assert stream.flushed == [requests, stream.getvalue()]


async def test_coloured_direct_line_matches_the_formatter() -> None:
    with dev_logging(colour=True) as out:
        await _request(_app(503), "/c")
    record = _record("GET /c 503 Service Unavailable (0ms)", 503)
    assert out.getvalue() == DevLogFormatter(colour=True).format(record) + "\n"
    assert "\x1b[31m503\x1b[0m" in out.getvalue()


async def test_a_remembered_line_start_gives_the_formatters_line_each_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Durations of 0, 7 and 1234 ms for the same request: the start of its line is
    # remembered, the duration is each request's own. The path holds " 200 ", which the
    # formatter's colouring must skip in favour of the status... as it does for a whole line.
    ticks = iter([0.0, 0.0, 1.0, 1.007, 2.0, 3.234, 4.0, 4.0])
    monkeypatch.setattr("cfemu.cli.logs.time", SimpleNamespace(perf_counter=lambda: next(ticks)))
    for colour in (False, True):
        ticks = iter([0.0, 0.0, 1.0, 1.007, 2.0, 3.234, 4.0, 4.0])
        with dev_logging(colour=colour) as out:
            for _ in range(3):
                await _request(_app(200), "/a 200 b", b"x=1")
            await _request(_app(404), "/a 200 b", b"x=1")
        expected = [
            DevLogFormatter(colour=colour).format(_record(f"GET /a 200 b?x=1 {message}", status))
            for message, status in [
                ("200 OK (0ms)", 200),
                ("200 OK (7ms)", 200),
                ("200 OK (1234ms)", 200),
                ("404 Not Found (0ms)", 404),
            ]
        ]
        assert out.getvalue().splitlines() == expected


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def test_another_handler_gets_a_record_and_the_dev_stream_its_line(stream: Stream) -> None:
    # A handler of its own on cfemu.requests (not caplog: how pytest's caplog.at_level
    # reaches a logger that does not propagate differs between pytest versions).
    other = _Records()
    requests = logging.getLogger("cfemu.requests")
    requests.addHandler(other)
    try:
        await _request(_app(201), "/r")
    finally:
        requests.removeHandler(other)
    assert [(r.name, r.getMessage(), r.status) for r in other.records] == [  # type: ignore[attr-defined]
        ("cfemu.requests", "GET /r 201 Created (0ms)", 201)
    ]
    assert stream.getvalue() == "[cfemu:inf] GET /r 201 Created (0ms)\n"
    assert stream.flushed  # the record path flushes at once, as StreamHandler does


async def test_a_filter_on_the_dev_handler_still_applies(stream: Stream) -> None:
    handler = logging.getLogger("cfemu").handlers[0]

    def no_201(record: logging.LogRecord) -> bool:
        return getattr(record, "status", None) != 201

    handler.addFilter(no_201)
    try:
        await _request(_app(201), "/hidden")
        await _request(_app(200), "/shown")
    finally:
        handler.removeFilter(no_201)
    assert stream.getvalue() == "[cfemu:inf] GET /shown 200 OK (0ms)\n"


async def test_log_level_warn_writes_no_request_line() -> None:
    with dev_logging("warn") as out:
        await _request(_app(200))
    assert out.getvalue() == ""


def test_a_request_line_outside_a_loop_is_flushed_at_once(stream: Stream) -> None:
    handler = logging.getLogger("cfemu").handlers[0]
    handler.write_request("GET / 200 OK (1ms)", 200)  # type: ignore[attr-defined]
    assert stream.flushed == ["[cfemu:inf] GET / 200 OK (1ms)\n"]
