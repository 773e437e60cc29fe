"""A tiny protocol-speaking websocket server for agent tests (loopback only)."""

from __future__ import annotations

import asyncio
from typing import TypeVar

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from fleetdeck.protocol import messages as m

T = TypeVar("T", bound=m.Message)
RECV_TIMEOUT = 5.0


class Conn:
    """One agent connection, driven step by step from the test."""

    def __init__(self, ws: ServerConnection) -> None:
        self.ws = ws
        self.seen: list[m.AgentMessage] = []

    async def recv(self) -> m.AgentMessage:
        async with asyncio.timeout(RECV_TIMEOUT):
            frame = await self.ws.recv()
        assert isinstance(frame, str), "agent frames are text"
        msg = m.decode_from_agent(frame)
        self.seen.append(msg)
        return msg

    async def expect(self, kind: type[T]) -> T:
        msg = await self.recv()
        assert isinstance(msg, kind), f"expected {kind.__name__}, got {msg!r}"
        return msg

    async def recv_until(self, kind: type[T]) -> tuple[list[m.AgentMessage], T]:
        before: list[m.AgentMessage] = []
        while True:
            msg = await self.recv()
            if isinstance(msg, kind):
                return before, msg
            before.append(msg)

    async def send(self, msg: m.Message) -> None:
        await self.ws.send(m.encode(msg).decode())

    async def frames_until_closed(self) -> list[str | bytes]:
        frames: list[str | bytes] = []
        try:
            async with asyncio.timeout(RECV_TIMEOUT):
                async for frame in self.ws:
                    frames.append(frame)
        except ConnectionClosed:
            pass
        return frames


class FakeServer:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[Conn] = asyncio.Queue()

    async def handler(self, ws: ServerConnection) -> None:
        await self.queue.put(Conn(ws))
        await ws.wait_closed()

    async def next(self) -> Conn:
        async with asyncio.timeout(RECV_TIMEOUT):
            return await self.queue.get()
