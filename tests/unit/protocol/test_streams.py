"""``protocol.streams.StreamPump``: two pumps joined frame by frame (as the WebSocket joins the
server and the agent), each on a real loopback socket pair: bytes arrive whole and in order, a
slow reader holds its sender within one window, a sender beyond its credit ends the stream, and
a close lets queued bytes out first. Also the agent's dialer and the ACL and duration rules."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Awaitable, Callable

import pytest

from fleetdeck.agent.tunnels import Tunnels, check
from fleetdeck.api.dialects.rport.methods.tunnels import parse_duration
from fleetdeck.core.errors import ValidationFailed
from fleetdeck.core.tunnels.service import acl_allows, parse_acl, parse_ranges
from fleetdeck.protocol import binary
from fleetdeck.protocol import messages as m
from fleetdeck.protocol.streams import StreamPump

WINDOW = 64 * 1024


async def _pair() -> tuple[asyncio.StreamReader, asyncio.StreamWriter, socket.socket]:
    """A stream (reader, writer) for a pump, and the other end as a plain socket."""
    ours, theirs = socket.socketpair()
    theirs.setblocking(False)
    reader, writer = await asyncio.open_connection(sock=ours)
    return reader, writer, theirs


class Wire:
    """Frames from one pump to the other, through the codec, counting what is in flight."""

    def __init__(self, binary_frames: bool = False) -> None:
        self.binary = binary_frames  # TunnelData/TunnelAck as binary frames (protocol.binary)
        self.frames = {"data": 0, "ack": 0}
        self.a: StreamPump | None = None
        self.b: StreamPump | None = None
        self.max_unacked = {"a": 0, "b": 0}
        self.unacked = {"a": 0, "b": 0}

    def sender(self, side: str) -> Callable[[m.Message], Awaitable[None]]:
        async def send(msg: m.Message) -> None:
            raw, is_binary = binary.encode_frame(msg, self.binary)
            assert is_binary == (self.binary and isinstance(msg, m.TunnelData | m.TunnelAck))
            frame = binary.decode(raw) if is_binary else m.decode(raw)
            target = self.b if side == "a" else self.a
            assert target is not None
            if isinstance(frame, m.TunnelData):
                self.frames["data"] += 1
                self.unacked[side] += len(frame.data)
                self.max_unacked[side] = max(self.max_unacked[side], self.unacked[side])
                target.feed(frame.data)
            elif isinstance(frame, m.TunnelAck):
                self.frames["ack"] += 1
                other = "b" if side == "a" else "a"
                self.unacked[other] -= frame.size
                target.ack(frame.size)
            elif isinstance(frame, m.TunnelClose):
                target.peer_closed()
            await asyncio.sleep(0)

        return send


async def _recv_all(sock: socket.socket, size: int, delay: float = 0.0) -> bytes:
    loop = asyncio.get_running_loop()
    got = bytearray()
    while len(got) < size:
        chunk = await loop.sock_recv(sock, 65536)
        if not chunk:
            break
        got += chunk
        if delay:
            await asyncio.sleep(delay)
    return bytes(got)


@pytest.mark.anyio
@pytest.mark.parametrize("binary_frames", [False, True], ids=["json", "binary"])
async def test_bytes_cross_whole_and_in_order_and_a_slow_reader_bounds_the_sender(
    binary_frames: bool,
) -> None:
    wire = Wire(binary_frames)
    ra, wa, outer_a = await _pair()
    rb, wb, outer_b = await _pair()
    frame = binary.MAX_DATA if binary_frames else m.TUNNEL_FRAME
    wire.a = StreamPump(1, ra, wa, wire.sender("a"), window=WINDOW, peer_window=WINDOW, frame=frame)
    wire.b = StreamPump(1, rb, wb, wire.sender("b"), window=WINDOW, peer_window=WINDOW, frame=frame)
    wire.a.start()
    wire.b.start()
    data = os.urandom(2 * 1024 * 1024)
    loop = asyncio.get_running_loop()
    sending = asyncio.ensure_future(loop.sock_sendall(outer_a, data))
    received = await asyncio.wait_for(_recv_all(outer_b, len(data), delay=0.0005), 60)
    await sending
    assert received == data
    assert 0 < wire.max_unacked["a"] <= WINDOW  # never more than the receiver's window in flight
    for _ in range(500):  # every byte written is acknowledged in the end (no ack held back)
        if wire.unacked["a"] == 0:
            break
        await asyncio.sleep(0.01)
    assert wire.unacked["a"] == 0
    assert 0 < wire.frames["ack"] <= wire.frames["data"]  # acks cover batches, never less than a frame
    # the other way, and a close that lets the queued bytes out before the socket closes
    back = os.urandom(300_000)
    await loop.sock_sendall(outer_b, back)
    outer_b.shutdown(socket.SHUT_WR)
    assert await asyncio.wait_for(_recv_all(outer_a, len(back) + 1), 30) == back
    await asyncio.wait_for(wire.a.done.wait(), 10)
    await asyncio.wait_for(wire.b.done.wait(), 10)
    for s in (outer_a, outer_b):
        s.close()


@pytest.mark.anyio
async def test_a_peer_beyond_its_credit_ends_the_stream() -> None:
    sent: list[m.Message] = []

    async def send(msg: m.Message) -> None:
        sent.append(msg)

    reader, writer, outer = await _pair()
    pump = StreamPump(7, reader, writer, send, window=1024)
    assert pump.feed(b"x" * 1000)  # not started: queued
    assert not pump.feed(b"x" * 100)  # over the window
    await asyncio.sleep(0.01)
    assert pump.done.is_set()
    assert any(isinstance(f, m.TunnelClose) and "window" in f.error for f in sent)
    outer.close()


@pytest.mark.anyio
async def test_the_agent_dials_and_refuses() -> None:
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    assert await check({"host": "127.0.0.1", "port": port}) == {"open": True}
    server.close()
    await server.wait_closed()
    closed = await check({"host": "127.0.0.1", "port": port, "timeout": 1})
    assert closed["open"] is False and closed["error"]

    frames: list[m.Message] = []

    async def send(msg: m.Message) -> None:
        frames.append(msg)

    tunnels = Tunnels(send)
    tunnels.handle(m.TunnelOpen(stream=3, host="127.0.0.1", port=port))
    for _ in range(200):
        if frames:
            break
        await asyncio.sleep(0.01)
    assert isinstance(frames[0], m.TunnelOpened) and frames[0].ok is False
    tunnels.handle(m.TunnelData(stream=99, data=b"late"))  # unknown stream: dropped
    tunnels.close_all()


def test_acl_rules() -> None:
    assert parse_acl(["10.0.0.1", " 192.168.1.7/24", "", "::1", "2001:db8::/32"]) == (
        "10.0.0.1",
        "192.168.1.0/24",
        "::1",
        "2001:db8::/32",
    )
    for bad in ("0.0.0.0", "0.0.0.0/0", "::", "not-an-ip", "10.0.0.300"):
        with pytest.raises(ValidationFailed):
            parse_acl([bad])
    acl = parse_acl(["192.168.1.0/24", "::1"])
    assert acl_allows(acl, "192.168.1.9")
    assert acl_allows(acl, "::ffff:192.168.1.9")  # IPv4 mapped into IPv6
    assert acl_allows(acl, "::1")
    assert not acl_allows(acl, "192.168.2.9")
    assert not acl_allows(acl, "garbage")
    assert acl_allows((), "203.0.113.5")  # no ACL: anyone


def test_port_ranges_and_go_durations() -> None:
    assert parse_ranges(["20000-20002", "7"]) == {7, 20000, 20001, 20002}
    assert parse_ranges(["0-2"]) == {1, 2}
    assert parse_duration("2s") == 2
    assert parse_duration("1h30m") == 5400
    assert parse_duration("1500ms") == 2  # rounded up
    assert parse_duration("0") == 0
    for bad in ("2", "1x", "h", "-1s"):
        with pytest.raises(ValueError, match=bad.replace("-", "")):
            parse_duration(bad)
