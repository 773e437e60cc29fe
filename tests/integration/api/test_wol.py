"""POST /computers/{id}/wake: real magic packets, captured on 127.0.0.1."""

from __future__ import annotations

import socket

import pytest

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from fleetdeck.core.errors import Reason, ValidationFailed
from fleetdeck.core.ports import Waker
from fleetdeck.core.query import Query
from tests.conftest import computer
from tests.integration.api.conftest import Api, assert_error


def receive(sock: socket.socket, n: int) -> list[bytes]:
    return sorted(sock.recvfrom(1024)[0] for _ in range(n))


def test_wake_sends_one_packet_per_mac(
    admin_api: Api, runtime: Runtime, admin: Actor, listener: socket.socket
) -> None:
    cid = computer(
        runtime, admin, "pc-1", "aa:bb:cc:dd:ee:01", "AA-BB-CC-DD-EE-02", "-", "", "00:00:00:00:00:00"
    )
    r = admin_api.post(f"/computers/{cid}/wake")
    assert r.status_code == 200, r.text
    assert r.json() == {"data": {"packets_sent": 2}}
    packets = receive(listener, 2)
    for packet, mac in zip(packets, ("aabbccddee01", "aabbccddee02"), strict=True):
        assert len(packet) == 102
        assert packet == b"\xff" * 6 + bytes.fromhex(mac) * 16
    record = next(r for r in runtime.services.audit.find(admin, Query()).items if r.action == "computer.wake")
    assert record.detail == {"computer_ids": [cid], "packets_sent": 2}


def test_computer_without_mac(
    admin_api: Api, runtime: Runtime, admin: Actor, listener: socket.socket
) -> None:
    cid = computer(runtime, admin, "pc-2", "?", "")
    error = assert_error(admin_api.post(f"/computers/{cid}/wake"), 422, "validation_failed")
    assert error["detail"]["reason"] == Reason.NO_MAC_ADDRESS
    assert_error(admin_api.post("/computers/999999/wake"), 404)
    with pytest.raises(ValidationFailed):
        runtime.services.wol.wake_computers(admin, [cid])


def test_viewer_may_not_wake(
    admin_api: Api, viewer_api: Api, runtime: Runtime, admin: Actor, listener: socket.socket
) -> None:
    cid = computer(runtime, admin, "pc-3", "aa:bb:cc:dd:ee:03")
    assert_error(viewer_api.post(f"/computers/{cid}/wake"), 403, "permission_denied")
    # Loopback UDP is queued at send time: had the refused request sent a packet, it would be
    # waiting ahead of the admin's, and the socket would hold two.
    assert admin_api.post(f"/computers/{cid}/wake").json() == {"data": {"packets_sent": 1}}
    assert receive(listener, 1) == [b"\xff" * 6 + bytes.fromhex("aabbccddee03") * 16]
    listener.setblocking(False)
    with pytest.raises(BlockingIOError):
        listener.recvfrom(1024)


def test_waker_port(runtime: Runtime, admin: Actor, listener: socket.socket) -> None:
    """``wake`` is the ``core.ports.Waker`` deployments use: no actor, skips computers without MAC."""
    waker: Waker = runtime.services.wol
    with_mac = computer(runtime, admin, "pc-4", "aa:bb:cc:dd:ee:04")
    without = computer(runtime, admin, "pc-5")
    assert waker.wake([with_mac, without, 424242]) == 1
    assert receive(listener, 1) == [b"\xff" * 6 + bytes.fromhex("aabbccddee04") * 16]
