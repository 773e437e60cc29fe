"""The relay of browser terminals between server processes (``bus/terminals.py``) over each
bus backend: frames in order, a duplicate dropped, a lost frame or a silent peer ending the
session with a reason, and the viewer holding at most one window of output and of input.
(The whole path, two server processes, a real agent and a browser socket:
tests/e2e/test_terminal_relay_e2e.py.)"""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from fleetdeck.bus import terminals as relay
from fleetdeck.bus.base import Bus
from fleetdeck.protocol.messages import TERM_FRAME_BYTES, TERM_WINDOW_BYTES
from tests.buses import BACKENDS, make_bus, namespace

SID = "0123456789abcdef"


async def _pair(backend: str) -> tuple[Bus, Bus, relay.RelayLink, relay.RelayLink]:
    """A host's link and a viewer's link on two bus connections (one for the local bus)."""
    ns = namespace()
    host_bus = make_bus(backend, ns)
    viewer_bus = host_bus if backend == "local" else make_bus(backend, ns)
    await host_bus.start()
    if viewer_bus is not host_bus:
        await viewer_bus.start()
    viewer_inbox = await viewer_bus.subscribe(relay.to_viewer(SID))
    host_inbox = await host_bus.subscribe(relay.to_host(SID))
    host = relay.RelayLink(host_bus, relay.to_viewer(SID), host_inbox)
    viewer = relay.RelayLink(viewer_bus, relay.to_host(SID), viewer_inbox)
    return host_bus, viewer_bus, host, viewer


async def _close(*buses: Bus) -> None:
    for bus in dict.fromkeys(buses):
        await bus.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_frames_in_order_duplicates_dropped_a_gap_ends_it(backend: str) -> None:
    async def scenario() -> None:
        host_bus, viewer_bus, host, viewer = await _pair(backend)
        try:
            for i in range(200):
                await host.send("data", data=b"%d\n" % i)
                if i % 50 == 0:
                    await host.send("ping")
            got = [await viewer.receive() for _ in range(200)]
            assert [f.data for f in got] == [b"%d\n" % i for i in range(200)]  # pings taken
            # A frame sent twice (a reconnect resends) is read once; a missing one ends it.
            encode = msgspec.msgpack.encode
            topic = relay.to_viewer(SID)
            await host_bus.publish(topic, encode(relay.Frame(100, "data", data=b"again")))
            await host.send("data", data=b"next")  # 205: 200 data and 4 pings before it
            await host_bus.publish(topic, encode(relay.Frame(207, "data", data=b"after a loss")))
            assert (await viewer.receive()).data == b"next"
            with pytest.raises(relay.RelayBroken, match="lost messages"):
                await viewer.receive()
        finally:
            await host.close()
            await viewer.close()
            await _close(host_bus, viewer_bus)

    asyncio.run(scenario())


def test_a_silent_peer_ends_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(relay, "DEAD_SEC", 0.3)

    async def scenario() -> None:
        host_bus, viewer_bus, host, viewer = await _pair("local")
        try:
            with pytest.raises(relay.RelayBroken, match="stopped answering"):
                await asyncio.wait_for(viewer.receive(), 5)
        finally:
            await host.close()
            await viewer.close()
            await _close(host_bus, viewer_bus)

    asyncio.run(scenario())


def test_silence_counts_from_the_opening(monkeypatch: pytest.MonkeyPatch) -> None:
    """The viewer's link exists while the agent takes its time to open the PTY: that wait is
    not the host's silence."""
    monkeypatch.setattr(relay, "DEAD_SEC", 0.6)

    async def scenario() -> None:
        host_bus, viewer_bus, host, viewer = await _pair("local")
        try:
            await asyncio.sleep(0.5)  # the opening
            viewer.started()
            await asyncio.sleep(0.4)
            await host.send("data", data=b"first")
            assert (await asyncio.wait_for(viewer.receive(), 5)).data == b"first"
        finally:
            await host.close()
            await viewer.close()
            await _close(host_bus, viewer_bus)

    asyncio.run(scenario())


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_viewer_holds_one_window_each_way(backend: str) -> None:
    async def scenario() -> None:
        host_bus, viewer_bus, host, viewer_link = await _pair(backend)
        terminal = relay.RelayedTerminal(viewer_link)
        try:
            # Input: without the host's acknowledgement no more than the window is sent.
            typed = b"k" * (3 * TERM_WINDOW_BYTES)
            writing = asyncio.create_task(terminal.write(typed))
            received = 0
            while received < TERM_WINDOW_BYTES:
                frame = await asyncio.wait_for(host.receive(), 10)
                assert frame.kind == "data" and len(frame.data) <= TERM_FRAME_BYTES
                received += len(frame.data)
            await asyncio.sleep(0.3)
            assert not writing.done() and terminal.in_flight == TERM_WINDOW_BYTES == received
            while received < len(typed):  # each acknowledgement lets the next frame go
                await host.send("ack", a=TERM_FRAME_BYTES)
                frame = await asyncio.wait_for(host.receive(), 10)
                received += len(frame.data)
            await asyncio.wait_for(writing, 10)

            # Output: a host sending beyond the window has the session ended, and is told so.
            chunk = b"o" * TERM_FRAME_BYTES
            for _ in range(TERM_WINDOW_BYTES // TERM_FRAME_BYTES + 1):
                await host.send("data", data=chunk)
            while (frame := await asyncio.wait_for(host.receive(), 10)).kind != "close":
                assert frame.kind == "ping"
            assert frame.reason == "the relay sent more than its window"
            assert terminal.reason == "the relay sent more than its window"
        finally:
            await terminal.close()
            await host.close()
            await _close(host_bus, viewer_bus)

    asyncio.run(scenario())


def test_the_end_carries_the_exit_code() -> None:
    async def scenario() -> None:
        host_bus, viewer_bus, host, viewer_link = await _pair("local")
        terminal = relay.RelayedTerminal(viewer_link)
        try:
            await host.send("data", data=b"bye\n")
            await host.send("end", reason="exited", code=7)
            assert await asyncio.wait_for(terminal.read(), 5) == b"bye\n"
            assert await asyncio.wait_for(terminal.read(), 5) is None
            assert (terminal.reason, terminal.exit_code) == ("exited", 7)
        finally:
            await terminal.close()
            await host.close()
            await _close(host_bus, viewer_bus)

    asyncio.run(scenario())
