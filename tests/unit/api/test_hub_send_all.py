"""``send_all``: the hub's fan-out send, over real sockets through uvicorn as the server runs it.

The hub sends a fan-out's frames without a task per frame: each send runs to its first
suspension in place, and only a send that must wait for its socket is retried in a task. That
relies on the ASGI server waiting for the socket to be writable before it writes anything, so
this drives uvicorn's WebSocket protocols (the server's, and wsproto, which the benchmark can
choose) with an agent that stops reading.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
from websockets.asyncio.client import ClientConnection, connect
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, BytesMessage, Request

from fleetdeck.api.agent.hub import AgentConn, send_all
from fleetdeck.cli.server import WS_IMPL
from tests.waiting import async_wait_for

BIG = b"x" * (1 << 20)


class _App:
    """Accepts WebSockets at ``/{n}`` and keeps an AgentConn for each until it closes."""

    def __init__(self) -> None:
        self.conns: dict[int, AgentConn] = {}
        self.gone: set[int] = set()  # connections whose close the server has seen
        self.joined = asyncio.Condition()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        cid = int(scope["path"].strip("/"))

        async def send_frame(frame: bytes) -> None:
            await send({"type": "websocket.send", "bytes": frame})

        async def close(code: int, reason: str) -> None:
            await send({"type": "websocket.close", "code": code, "reason": reason})

        async with self.joined:
            self.conns[cid] = AgentConn(cid, f"pc-{cid}", "127.0.0.1", send_frame, close)
            self.joined.notify_all()
        while (await receive())["type"] != "websocket.disconnect":
            pass
        self.gone.add(cid)


@contextlib.asynccontextmanager
async def _server(app: _App, ws: str) -> AsyncIterator[tuple[int, uvicorn.Server]]:
    config = uvicorn.Config(app, host="127.0.0.1", port=0, ws=ws, log_config=None, lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    await async_wait_for(lambda: server.started, what="uvicorn to listen")
    try:
        yield server.servers[0].sockets[0].getsockname()[1], server
    finally:
        server.should_exit = True
        await task


async def _connect(app: _App, port: int, cid: int, **kwargs: Any) -> ClientConnection:
    ws = await connect(f"ws://127.0.0.1:{port}/{cid}", max_size=None, **kwargs)
    async with app.joined:
        await app.joined.wait_for(lambda: cid in app.conns)
    return ws


class _SilentAgent:
    """A WebSocket client that stops reading after the handshake, as a hung agent does."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.ws = WSConnection(ConnectionType.CLIENT)

    @classmethod
    async def connect(cls, app: _App, port: int, cid: int) -> _SilentAgent:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        agent = cls(*await asyncio.open_connection(sock=sock))
        agent.writer.write(agent.ws.send(Request(host="127.0.0.1", target=f"/{cid}")))
        while not any(isinstance(e, AcceptConnection) for e in agent.ws.events()):
            agent.ws.receive_data(await agent.reader.read(65536))
        async with app.joined:
            await app.joined.wait_for(lambda: cid in app.conns)
        return agent

    async def drain(self, count: int) -> list[bytes]:
        """Read until ``count`` messages have arrived."""
        messages: list[bytes] = []
        buffer = bytearray()
        while len(messages) < count:
            self.ws.receive_data(await self.reader.read(1 << 20))
            for event in self.ws.events():
                if isinstance(event, BytesMessage):
                    buffer += event.data
                    if event.message_finished:
                        messages.append(bytes(buffer))
                        buffer.clear()
        return messages

    def close(self) -> None:
        self.writer.close()


def _socket_full(server: uvicorn.Server) -> bool:
    """True when the kernel took no more of some connection's data and asyncio holds the rest:
    the point where uvicorn's send waits for the socket to drain."""
    return any(conn.transport.get_write_buffer_size() > 0 for conn in server.server_state.connections)


IMPLS = pytest.mark.parametrize("ws", sorted({WS_IMPL, "wsproto"}))


@IMPLS
def test_a_fan_out_is_not_held_up_by_an_agent_that_does_not_read(ws: str) -> None:
    async def scenario() -> None:
        app = _App()
        async with _server(app, ws) as (port, server):
            ok = [await _connect(app, port, cid) for cid in (0, 2)]
            stuck = await _SilentAgent.connect(app, port, 1)
            conns = app.conns
            tasks = [asyncio.ensure_future(send_all((conns[1], BIG) for _ in range(16)))]
            await async_wait_for(lambda: _socket_full(server), what="agent 1's socket to fill up")
            assert not tasks[0].done()  # agent 1's socket is full: uvicorn's send now waits

            tasks.append(asyncio.ensure_future(send_all((conns[cid], b"run-%d" % cid) for cid in (0, 1, 2))))
            assert await asyncio.wait_for(ok[0].recv(), 5) == b"run-0"
            assert await asyncio.wait_for(ok[1].recv(), 5) == b"run-2"
            # send_all ran every in-place send before agents 0 and 2 could read theirs: were
            # agent 1's frame not waiting in a task, send_all would be finished by now
            assert not tasks[1].done()  # only agent 1's frame waits, in a task of its own

            frames = await asyncio.wait_for(stuck.drain(17), 10)
            await asyncio.wait_for(asyncio.gather(*tasks), 5)
            assert frames.count(b"run-1") == 1 and frames.count(BIG) == 16  # each frame once
            stuck.close()
            for client in ok:
                await client.close()

    asyncio.run(scenario())


@IMPLS
def test_a_gone_agent_is_skipped_quietly(ws: str) -> None:
    async def scenario() -> None:
        app = _App()
        async with _server(app, ws) as (port, _):
            gone, here = await _connect(app, port, 0), await _connect(app, port, 1)
            await gone.close()
            await async_wait_for(lambda: 0 in app.gone, what="the server to see agent 0 go")
            await send_all((app.conns[cid], b"x") for cid in (0, 1))
            assert await asyncio.wait_for(here.recv(), 5) == b"x"
            await here.close()

    asyncio.run(scenario())
