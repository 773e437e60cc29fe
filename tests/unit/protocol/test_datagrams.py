"""UDP tunnels' frames and the bounded outbox (``protocol/datagrams.py``), and the agent's flows
(``agent/udp.py``) against a real UDP echo socket on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator

import msgspec
import pytest

from fleetdeck.agent import udp
from fleetdeck.agent.udp import Datagrams
from fleetdeck.protocol import messages as m
from fleetdeck.protocol.datagrams import Outbox


def test_frames_round_trip_and_directions() -> None:
    for msg in (
        m.UdpOpen(flow=7, host="10.0.0.5", port=53, idle_sec=30.0),
        m.UdpData(flow=7, data=bytes(range(256))),
        m.UdpClose(flow=7, error="idle"),
    ):
        assert m.decode_from_server(m.encode(msg)) == msg
    assert m.decode_from_agent(m.encode(m.UdpData(flow=1, data=b"\x00"))) == m.UdpData(flow=1, data=b"\x00")
    with pytest.raises(msgspec.ValidationError):  # the agent never opens flows
        m.decode_from_agent(m.encode(m.UdpOpen(flow=1, host="h", port=1)))
    with pytest.raises(msgspec.ValidationError):  # data that is not base64
        m.decode_from_agent(b'{"type":"udp_data","flow":1,"data":"%%%"}')
    assert m.FEATURE_UDP == "udp" and "udp_open" in m.SERVER_TYPES and "udp_open" not in m.AGENT_TYPES


def test_outbox_bounds_drops_and_keeps_order() -> None:
    async def scenario() -> None:
        sent: list[m.Message] = []
        gate = asyncio.Event()

        async def send(msg: m.Message) -> None:
            await gate.wait()  # a WebSocket that does not drain yet
            sent.append(msg)

        box = Outbox(send, limit=10)
        box.control(m.UdpOpen(flow=1, host="h", port=1))
        assert box.data(1, b"12345") and box.data(1, b"67890")
        assert not box.data(1, b"x")  # 11 bytes would wait: dropped, counted
        box.control(m.UdpClose(flow=1))  # never dropped
        assert (box.dropped, box.queued_bytes) == (1, 10)
        gate.set()
        await box.flush(5)
        assert [type(x).__name__ for x in sent] == ["UdpOpen", "UdpData", "UdpData", "UdpClose"]
        assert (box.sent, box.queued_bytes) == (2, 0)
        assert box.data(2, b"again")  # room again
        await box.flush(5)
        box.close()
        assert not box.data(2, b"closed")

    asyncio.run(scenario())


@pytest.fixture
def echo_port() -> Iterator[int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                data, addr = sock.recvfrom(65535)
            except TimeoutError:
                continue
            sock.sendto(data.upper(), addr)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield sock.getsockname()[1]
    stop.set()
    thread.join(5)
    sock.close()


def test_agent_flows(echo_port: int) -> None:
    async def scenario() -> None:
        got: asyncio.Queue[m.Message] = asyncio.Queue()

        async def send(msg: m.Message) -> None:
            got.put_nowait(msg)

        agent = Datagrams(send, max_flows=2)
        # data right behind the open waits for the socket, and is not lost
        agent.handle(m.UdpOpen(flow=1, host="127.0.0.1", port=echo_port))
        agent.handle(m.UdpData(flow=1, data=b"first"))
        agent.handle(m.UdpData(flow=1, data=b"second"))
        replies = [await asyncio.wait_for(got.get(), 5) for _ in range(2)]
        assert replies == [m.UdpData(flow=1, data=b"FIRST"), m.UdpData(flow=1, data=b"SECOND")]
        agent.handle(m.UdpData(flow=99, data=b"nobody's"))  # an unknown flow: dropped
        # the bound: a third flow is refused, saying so
        agent.handle(m.UdpOpen(flow=2, host="127.0.0.1", port=echo_port))
        agent.handle(m.UdpOpen(flow=3, host="127.0.0.1", port=echo_port))
        refused = await asyncio.wait_for(got.get(), 5)
        assert refused == m.UdpClose(flow=3, error="too many UDP flows on the agent")
        # a name that does not resolve: the flow ends, the server is told why
        agent.handle(m.UdpClose(flow=2))
        agent.handle(m.UdpOpen(flow=4, host="no-such-host.invalid", port=53))
        failed = await asyncio.wait_for(got.get(), 15)
        assert isinstance(failed, m.UdpClose) and failed.flow == 4 and failed.error
        assert agent.flows == 1
        agent.close_all()
        assert agent.flows == 0
        assert got.empty()

    asyncio.run(scenario())


def test_agent_check() -> None:
    async def scenario() -> None:
        assert await udp.check({"host": "127.0.0.1", "port": 9, "protocol": "udp"}) == {"open": True}
        bad = await udp.check({"host": "no-such-host.invalid", "port": 53, "protocol": "udp"})
        assert bad["open"] is False and bad["error"]

    asyncio.run(scenario())


def test_agent_ends_a_flow_the_server_forgot(echo_port: int) -> None:
    """Twice the server's idle time without a datagram: the agent ends the flow and says so."""

    async def scenario() -> None:
        got: asyncio.Queue[m.Message] = asyncio.Queue()

        async def send(msg: m.Message) -> None:
            got.put_nowait(msg)

        agent = Datagrams(send)
        agent.handle(m.UdpOpen(flow=5, host="127.0.0.1", port=echo_port, idle_sec=1.0))
        agent.handle(m.UdpData(flow=5, data=b"hi"))
        assert await asyncio.wait_for(got.get(), 5) == m.UdpData(flow=5, data=b"HI")
        assert await asyncio.wait_for(got.get(), 10) == m.UdpClose(flow=5, error="idle")
        assert agent.flows == 0
        agent.close_all()

    asyncio.run(scenario())
