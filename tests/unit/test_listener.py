"""The server's own listening socket (``cli/server.py bind_listener``), as uvicorn uses it.

Found by the idle-machine benches of 2 December 2026: every call on a kept-alive HTTP connection
took ~45 ms (curl, a new connection each time: 3 ms). The listener was created with protocol 0,
accepted sockets inherited it, and asyncio only sets ``TCP_NODELAY`` where ``proto`` is TCP: the
second write of an answer waited for the client's delayed ACK. This checks the option on a
connection accepted through ``loop.create_server(sock=...)``, which is how uvicorn serves it.
"""

from __future__ import annotations

import asyncio
import socket

import pytest
import uvicorn

from fleetdeck.cli.server import bind_listener


def test_accepted_connections_have_nagle_switched_off() -> None:
    async def body() -> int:
        sock = bind_listener(uvicorn.Config(app=None, host="127.0.0.1", port=0))
        port = sock.getsockname()[1]
        seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                accepted = transport.get_extra_info("socket")
                seen.set_result(accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                transport.close()

        server = await asyncio.get_running_loop().create_server(Probe, sock=sock)
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            value = await asyncio.wait_for(seen, 10)
            writer.close()
            return value
        finally:
            server.close()
            await server.wait_closed()

    assert asyncio.run(body()) != 0


def test_a_taken_port_is_a_clear_exit() -> None:
    first = bind_listener(uvicorn.Config(app=None, host="127.0.0.1", port=0))
    try:
        port = first.getsockname()[1]
        with pytest.raises(SystemExit) as exited:
            bind_listener(uvicorn.Config(app=None, host="127.0.0.1", port=port))
        assert f"cannot listen on 127.0.0.1:{port}" in str(exited.value.code)
    finally:
        first.close()
