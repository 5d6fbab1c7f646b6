"""``cfemu dev``'s listening socket: accepted connections send without Nagle's delay."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from cfemu.cli.listen import ListenSettings, bind


def test_the_listener_is_a_tcp_socket_so_asyncio_sets_nodelay() -> None:
    sock = bind(ListenSettings("127.0.0.1", 0))
    try:
        assert sock.proto == socket.IPPROTO_TCP
    finally:
        sock.close()


@pytest.mark.anyio
async def test_small_writes_on_an_accepted_connection_are_not_delayed() -> None:
    # Headers and body go out in two writes; with Nagle on, each exchange waits ~40 ms
    # for the client's delayed ACK. Twenty exchanges well under that each: no Nagle.
    sock = bind(ListenSettings("127.0.0.1", 0))

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.readexactly(1):
            writer.write(b"head")
            await writer.drain()
            writer.write(b"body")
            await writer.drain()

    server = await asyncio.start_server(answer, sock=sock)
    port = sock.getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    start = time.perf_counter()
    for _ in range(20):
        writer.write(b"x")
        await reader.readexactly(8)
    took = time.perf_counter() - start
    writer.close()
    server.close()
    assert took < 0.5, f"20 exchanges took {took:.2f} s: Nagle's algorithm is on"
