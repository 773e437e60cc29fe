"""The agent's WebSocket client (wsproto driven by asyncio) against an independent
implementation (the websockets library's server, as the real server's uvicorn stack speaks
the same RFC 6455) and, for what a well-behaved server never does, a raw TCP server on
127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed as ServerSideClosed
from websockets.http11 import Request, Response

from fleetdeck.agent.wsclient import (
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidHandshake,
    InvalidStatus,
    connect,
)

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455, section 1.3
Handler = Callable[[ServerConnection], Awaitable[None]]


def run(coro: Awaitable[Any]) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(coro, 20)

    return asyncio.run(bounded())


async def _with_server(handler: Handler, client: Callable[[str], Awaitable[Any]], **kw: Any) -> Any:
    async with serve(handler, "127.0.0.1", 0, compression=None, **kw) as srv:
        return await client(f"ws://127.0.0.1:{srv.sockets[0].getsockname()[1]}/agent/v1/ws?x=1")


def test_text_and_binary_round_trip_at_every_length_encoding() -> None:
    seen: list[str] = []

    async def echo(ws: ServerConnection) -> None:
        seen.append(ws.request.path if ws.request else "")
        seen.append(ws.request.headers.get("User-Agent", "") if ws.request else "")
        async for msg in ws:
            await ws.send(msg)

    async def client(url: str) -> list[str | bytes]:
        got = []
        async with connect(url, user_agent_header="fleetdeck-agent/test") as ws:
            # 125/126/65535/65536 bytes: the 7-bit, 16-bit and 64-bit length forms and their edges
            for n in (0, 125, 126, 65535, 65536, 300_000):
                await ws.send("é" * (n // 2) + "x" * (n % 2), text=True)
                got.append(await ws.recv())
            await ws.send(b"\x00\xffbin")
            got.append(await ws.recv())
        return got

    got = run(_with_server(echo, client))
    assert [len(g) for g in got[:-1]] == [n // 2 + n % 2 for n in (0, 125, 126, 65535, 65536, 300_000)]
    assert all(isinstance(g, str) for g in got[:-1])
    assert got[-1] == b"\x00\xffbin"
    assert seen == ["/agent/v1/ws?x=1", "fleetdeck-agent/test"]


def test_fragmented_message_is_reassembled_and_pings_are_answered() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send(["one ", "two ", "three"])  # three frames: text + 2 continuations
        latency = await ws.ping()
        await asyncio.wait_for(latency, 5)  # the client answered the ping with a pong
        await ws.send("after ping")
        await ws.wait_closed()

    async def client(url: str) -> list[str | bytes]:
        async with connect(url) as ws:
            return [await ws.recv(), await ws.recv()]

    assert run(_with_server(handler, client)) == ["one two three", "after ping"]


def test_client_close_handshake_sends_code_and_reason() -> None:
    closed: list[tuple[int | None, str | None]] = []

    async def handler(ws: ServerConnection) -> None:
        try:
            await ws.recv()
        except ServerSideClosed:
            closed.append((ws.close_code, ws.close_reason))

    async def client(url: str) -> tuple[int | None, bool]:
        async with connect(url) as ws:
            await ws.close(1001, "agent stopping")
            with pytest.raises(ConnectionClosedOK):
                await ws.send("too late")
            return ws.close_code, ws.transport.is_closing()

    assert run(_with_server(handler, client)) == (1001, True)
    assert closed == [(1001, "agent stopping")]


def test_orderly_server_close_ends_iteration_an_error_close_raises() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send("a")
        code = 1000 if ws.request and ws.request.path.endswith("ok") else 4001
        await ws.close(code, "bye")

    async def client(url: str) -> tuple[list[str | bytes], int | None, str]:
        async with connect(url) as ws:
            return [msg async for msg in ws], ws.close_code, ws.close_reason

    async def both(url: str) -> tuple[Any, Any]:
        ok = await client(url.replace("?x=1", "ok"))
        with pytest.raises(ConnectionClosedError) as err:
            await client(url)
        return ok, (err.value.code, err.value.reason)

    assert run(_with_server(handler, both)) == ((["a"], 1000, "bye"), (4001, "bye"))


def test_refused_upgrade_is_invalid_status_with_headers() -> None:
    def refuse(conn: ServerConnection, request: Request) -> Response:
        response = conn.respond(429, "slow down\n")
        response.headers["Retry-After"] = "7"
        return response

    async def handler(ws: ServerConnection) -> None:  # never reached
        raise AssertionError

    async def client(url: str) -> InvalidStatus:
        with pytest.raises(InvalidStatus) as err:
            async with connect(url):
                pass
        return err.value

    exc = run(_with_server(handler, client, process_request=refuse))
    assert exc.response.status_code == 429
    assert exc.response.headers.get("Retry-After") == "7"  # case-insensitive, as websockets'


def test_message_over_max_size_closes_with_1009() -> None:
    codes: list[int | None] = []

    async def handler(ws: ServerConnection) -> None:
        await ws.send("x" * 2000)
        await ws.wait_closed()
        codes.append(ws.close_code)

    async def client(url: str) -> int:
        async with connect(url, max_size=1000) as ws:
            with pytest.raises(ConnectionClosedError) as err:
                await ws.recv()
            return err.value.code

    assert run(_with_server(handler, client)) == 1009
    assert codes == [1009]


async def _raw_server(answer: Callable[[str], bytes], then: bytes = b"") -> tuple[asyncio.Server, str]:
    """A TCP server that reads the upgrade request, writes ``answer(key)``, then ``then``, and
    keeps the socket open (it never answers a ping)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        key = next(
            line.split(":", 1)[1].strip()
            for line in head.split("\r\n")
            if line.lower().startswith("sec-websocket-key")
        )
        writer.write(answer(key) + then)
        await writer.drain()
        with contextlib.suppress(OSError):
            while await reader.read(4096):  # until the client closes
                pass
        writer.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    return srv, f"ws://127.0.0.1:{srv.sockets[0].getsockname()[1]}/"


def _upgrade(key: str, accept: str | None = None) -> bytes:
    if accept is None:
        accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
    return (
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept}\r\n\r\n"
    ).encode()


def test_wrong_accept_key_is_refused() -> None:
    async def main() -> None:
        srv, url = await _raw_server(lambda key: _upgrade(key, accept="bm9wZQ=="))
        async with srv:
            with pytest.raises(InvalidHandshake, match="accept token"):
                async with connect(url):
                    pass

    run(main())


def test_no_pong_closes_the_connection_after_the_ping_timeout() -> None:
    async def main() -> tuple[int, float]:
        srv, url = await _raw_server(_upgrade)
        async with srv, connect(url, ping_interval=0.2, ping_timeout=0.3, close_timeout=0.5) as ws:
            t0 = asyncio.get_running_loop().time()
            with pytest.raises(ConnectionClosedError) as err:
                await ws.recv()
            return err.value.code, asyncio.get_running_loop().time() - t0

    code, waited = run(main())
    assert code == 1011
    assert waited >= 0.5  # one interval, then the whole timeout without a pong


def test_masked_or_reserved_frames_from_the_server_are_protocol_errors() -> None:
    async def main(frame: bytes) -> int:
        srv, url = await _raw_server(_upgrade, then=frame)
        async with srv, connect(url, close_timeout=0.5) as ws:
            with pytest.raises(ConnectionClosedError) as err:
                await ws.recv()
            return err.value.code

    assert run(main(b"\x81\x81abcd\x00")) == 1002  # masked by the server
    assert run(main(b"\xc1\x01x")) == 1002  # RSV1: compression that was never negotiated
    assert run(main(b"\x80\x01x")) == 1002  # a continuation with nothing to continue
    assert run(main(b"\x81\x02\xff\xfe")) == 1007  # a text frame that is not UTF-8


def test_dropped_connection_is_1006() -> None:
    async def handler(ws: ServerConnection) -> None:
        ws.transport.abort()

    async def client(url: str) -> int:
        async with connect(url) as ws:
            with pytest.raises(ConnectionClosedError) as err:
                await ws.recv()
            return err.value.code

    assert run(_with_server(handler, client)) == 1006


def test_keepalive_pings_are_answered_by_a_real_server() -> None:
    async def echo(ws: ServerConnection) -> None:
        async for msg in ws:
            await ws.send(msg)

    async def client(url: str) -> tuple[str | bytes, int | None]:
        async with connect(url, ping_interval=0.05, ping_timeout=0.5) as ws:
            await asyncio.sleep(0.6)  # ~12 pings, each answered well within its timeout
            await ws.send("still open")
            return await ws.recv(), ws.close_code

    assert run(_with_server(echo, client)) == ("still open", None)


def test_a_fast_server_is_held_back_by_the_bounded_queue() -> None:
    """The client holds at most ``max_queue`` unread messages; the rest wait in TCP buffers
    (and the server's), and every one still arrives, in order, once the agent reads."""

    async def flood(ws: ServerConnection) -> None:
        for i in range(200):
            await ws.send(f"{i:04d}" + "x" * 4000)
        await ws.wait_closed()

    async def client(url: str) -> tuple[int, list[int]]:
        async with connect(url, max_queue=4) as ws:
            await asyncio.sleep(0.3)  # the server sends as fast as it can meanwhile
            held = len(ws._messages)
            got = [int(str(await ws.recv())[:4]) for _ in range(200)]
        return held, got

    held, got = run(_with_server(flood, client))
    assert held == 4
    assert got == list(range(200))


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 131077])
def test_own_data_frames_parse_as_masked_client_frames(size: int) -> None:
    """``client_frame`` (what the client sends data messages with instead of wsproto's ``send``)
    against the websockets library's own frame parser, as a server reads it: masked, whole,
    the payload back byte for byte at every length encoding (7-bit, 16-bit, 64-bit)."""
    from websockets.frames import Frame, Opcode
    from websockets.streams import StreamReader

    from fleetdeck.agent.wsclient import OPCODE_BINARY, OPCODE_TEXT, client_frame

    payload = os.urandom(size)
    for opcode, expected in ((OPCODE_BINARY, Opcode.BINARY), (OPCODE_TEXT, Opcode.TEXT)):
        raw = bytes(client_frame(opcode, payload if opcode == OPCODE_BINARY else b"a" * size))
        assert raw[1] & 0x80  # masked, as a client must
        reader = StreamReader()
        reader.feed_data(raw)
        reader.feed_eof()
        parser = Frame.parse(reader.read_exact, mask=True)
        try:
            next(parser)
            while True:
                parser.send(None)
        except StopIteration as done:
            frame = done.value
        assert frame.opcode is expected and frame.fin
        assert frame.data == (payload if opcode == OPCODE_BINARY else b"a" * size)
