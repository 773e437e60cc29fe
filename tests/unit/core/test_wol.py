"""Wake-on-LAN through core: which packets go where. Packets go to 127.0.0.1 only, where the
``listener`` fixture receives them."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.errors import NotFound, PermissionDenied, Reason, ValidationFailed
from fleetdeck.core.query import Cond, Op, Query
from fleetdeck.core.wol.service import NO_MAC
from fleetdeck.storage.tables import ComputerInterface
from fleetdeck.storage.uow import UnitOfWork

VIEWER = Actor(user_id=None, username="v", role=Role.VIEWER)
OPERATOR = Actor(user_id=None, username="op", role=Role.OPERATOR)


def pc(runtime: Runtime, admin: Actor, name: str, *interfaces: tuple[str, list[dict[str, Any]]]) -> int:
    cid = runtime.services.computers.create(admin, name).id
    with UnitOfWork(runtime.db) as uow:
        for n, (mac, addresses) in enumerate(interfaces):
            uow.session.add(ComputerInterface(computer_id=cid, name=f"eth{n}", mac=mac, addresses=addresses))
    return cid


def receive(sock: socket.socket, n: int) -> list[bytes]:
    got = sorted(sock.recvfrom(1024)[0] for _ in range(n))
    sock.settimeout(0.2)
    with pytest.raises(TimeoutError):
        sock.recvfrom(1024)  # and not one more
    sock.settimeout(2)
    return got


def magic(mac: str) -> bytes:
    return b"\xff" * 6 + bytes.fromhex(mac) * 16


def test_one_packet_per_distinct_mac_and_address(
    runtime: Runtime, admin: Actor, listener: socket.socket
) -> None:
    port = listener.getsockname()[1]
    runtime.services.settings.set(admin, "wol.broadcast_addresses", ["", "127.0.0.1"])
    a = pc(runtime, admin, "a", ("aa:bb:cc:dd:ee:01", []), ("AA-BB-CC-DD-EE-01", []), ("-", []))
    b = pc(runtime, admin, "b", ("aa:bb:cc:dd:ee:02", []), ("aabb.ccdd.ee03", []))
    assert runtime.services.wol.wake_computers(OPERATOR, [b, a, a]) == 3
    assert receive(listener, 3) == sorted(magic(m) for m in ("aabbccddee01", "aabbccddee02", "aabbccddee03"))
    page = runtime.services.audit.find(admin, Query(where=(Cond("action", Op.EQ, "computer.wake"),)))
    (entry,) = page.items
    assert (entry.object_type, entry.object_id) == ("computer", "")  # several computers: no single id
    assert entry.detail == {"computer_ids": [a, b], "packets_sent": 3}
    assert runtime.services.wol.wake_computers(admin, [a]) == 1
    receive(listener, 1)
    assert runtime.services.audit.find(admin, Query()).items[0].object_id == str(a)
    assert port == runtime.services.settings.value("wol.port")


def test_without_configured_addresses_the_inventoried_broadcasts_are_used(
    runtime: Runtime, admin: Actor, listener: socket.socket
) -> None:
    runtime.services.settings.set(admin, "wol.broadcast_addresses", [])
    # The broadcast address an interface reports is used as it is (here: loopback, for the test).
    net = [{"address": "10.9.8.7", "family": "ipv4", "netmask": "255.255.255.0", "broadcast": "127.0.0.1"}]
    a = pc(runtime, admin, "a", ("aa:bb:cc:dd:ee:01", net), ("aa:bb:cc:dd:ee:02", net))
    assert runtime.services.wol.wake_computers(admin, [a]) == 2
    assert receive(listener, 2) == [magic("aabbccddee01"), magic("aabbccddee02")]


def test_computers_that_cannot_be_woken(runtime: Runtime, admin: Actor, listener: socket.socket) -> None:
    wol = runtime.services.wol
    good = pc(runtime, admin, "good", ("aa:bb:cc:dd:ee:01", []))
    nomac = pc(runtime, admin, "nomac", ("00:00:00:00:00:00", []), ("?", []))
    with pytest.raises(ValidationFailed) as err:
        wol.wake_computers(admin, [good, nomac])
    assert err.value.message == NO_MAC
    assert err.value.detail == {"reason": Reason.NO_MAC_ADDRESS, "computer_id": nomac}
    with pytest.raises(NotFound) as missing:
        wol.wake_computers(admin, [good, 4242])
    assert (missing.value.object_type, missing.value.object_id) == ("computer", 4242)
    with pytest.raises(PermissionDenied):
        wol.wake_computers(VIEWER, [good])
    listener.settimeout(0.2)
    with pytest.raises(TimeoutError):
        listener.recvfrom(1024)  # nothing was sent for any refused request
    # The port for other services wakes what it can and says how many packets went out.
    assert wol.wake([good, nomac, 4242]) == 1
    listener.settimeout(2)
    assert listener.recvfrom(1024)[0] == magic("aabbccddee01")
    assert wol.wake([nomac]) == 0
