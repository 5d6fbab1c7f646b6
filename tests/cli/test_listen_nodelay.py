"""``cfemu dev``'s listening socket: accepted connections send without Nagle's delay."""

from __future__ import annotations

import asyncio
import socket

import pytest

from cfemu.cli.listen import ListenSettings, bind


def test_the_listener_is_a_tcp_socket_so_asyncio_sets_nodelay() -> None:
    sock = bind(ListenSettings("127.0.0.1", 0))
    try:
        assert sock.proto == socket.IPPROTO_TCP
    finally:
        sock.close()


@pytest.mark.anyio
async def test_accepted_connections_have_nagle_off() -> None:
    # With Nagle on, a response's headers and body (two writes) wait ~40 ms for the
    # client's delayed ACK. asyncio sets TCP_NODELAY only on sockets that say they are TCP.
    sock = bind(ListenSettings("127.0.0.1", 0))
    seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted = writer.get_extra_info("socket")
        seen.set_result(accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()

    server = await asyncio.start_server(accept, sock=sock)
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", sock.getsockname()[1])
        async with asyncio.timeout(10):
            assert await seen != 0
        writer.close()
    finally:
        server.close()
