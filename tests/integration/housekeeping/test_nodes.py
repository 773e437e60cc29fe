"""Node identity on the database under test (a fake clock moves time): a live process's node name
cannot be claimed by another; only a name whose lease ran out is cleaned up, by its next claimer
or the sweep; a process that lost its name while stalled takes a new one and its hub re-marks
its connections online under it."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import pytest

from fleetdeck.api.agent.hub import AgentConn, AgentHub, HubConfig
from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from fleetdeck.core.computers.entities import Presence
from fleetdeck.core.housekeeping import Housekeeping
from fleetdeck.core.leases import LeaseService
from fleetdeck.core.nodes import NodeService, lease_name
from tests.waiting import async_wait_for

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def _node_of(runtime: Runtime, admin: Actor, cid: int) -> tuple[bool, str | None]:
    c = runtime.services.computers.get(admin, cid).summary
    address = runtime.services.computers.agent_addresses([cid]).get(cid)
    return c.online, address.node_id if address else None


def test_a_live_nodes_name_cannot_be_claimed_and_only_dead_nodes_are_cleaned_up(
    runtime: Runtime, admin: Actor, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    nodes = NodeService(runtime.db, clock, lease_sec=30)
    a, b = (runtime.services.computers.create(admin, f"pc{i}").id for i in range(2))

    assert nodes.claim("local", "process-1") == "local"
    runtime.services.computers.set_presence([Presence(a, "10.0.0.1", "1")], [], node_id="local")

    # A second process with the same configured name: another name, and the first's computer stays
    second = nodes.claim("local", "process-2")
    assert second.startswith("local-") and second != "local"
    assert _node_of(runtime, admin, a) == (True, "local")
    runtime.services.computers.set_presence([Presence(b, "10.0.0.2", "1")], [], node_id=second)

    # Both renew; the sweep touches neither
    clock.now = T0 + timedelta(seconds=20)
    assert nodes.renew("local", "process-1") and nodes.renew(second, "process-2")
    clock.now = T0 + timedelta(seconds=45)
    assert nodes.sweep() == 0
    assert _node_of(runtime, admin, a) == (True, "local")
    assert _node_of(runtime, admin, b) == (True, second)
    assert not nodes.renew("local", "process-2")  # nobody renews a name it does not hold

    # process-1 dies (stops renewing); once its lease runs out, the sweep takes its computers offline
    clock.now = T0 + timedelta(seconds=51)
    assert nodes.renew(second, "process-2")
    with caplog.at_level(logging.INFO, logger="fleetdeck.nodes"):
        assert nodes.sweep() == 1
    assert "node local stopped renewing its lease; marked its 1 computers offline" in caplog.messages
    assert _node_of(runtime, admin, a) == (False, None)
    assert _node_of(runtime, admin, b) == (True, second)
    assert LeaseService(runtime.db, clock).get(lease_name("local")) is None
    assert not nodes.renew("local", "process-1")  # a stalled process-1 learns it lost its name

    # A restart of "local" after a crash, before any sweep: the claim cleans up what it held
    runtime.services.computers.set_presence([Presence(a, "10.0.0.1", "1")], [], node_id="local")
    nodes.claim("local", "process-3")
    clock.now = T0 + timedelta(seconds=200)  # process-3 is killed in turn
    assert nodes.claim("local", "process-4") == "local"
    assert _node_of(runtime, admin, a) == (False, None)
    assert _node_of(runtime, admin, b) == (True, second)  # still not touched

    # A clean stop frees the name at once
    nodes.release(second, "process-2")
    assert LeaseService(runtime.db, clock).get(lease_name(second)) is None


def test_a_process_that_lost_its_name_moves_its_connections_to_a_new_one(
    runtime: Runtime, admin: Actor
) -> None:
    cid = runtime.services.computers.create(admin, "pc").id
    clock = Clock()
    nodes = NodeService(runtime.db, clock, lease_sec=30)

    async def _nothing(*_: object) -> None:
        return None

    async def scenario() -> None:
        hub = AgentHub(runtime.services, runtime.bus, HubConfig(node_id="local", flush_interval=0.01))
        keeper = Housekeeping(runtime.services.leases, [], "process-1", nodes=nodes, node_renew_sec=3600)
        hub.node_id = await keeper.claim_node("local", hub.moved)
        await hub.start()
        try:
            conn = AgentConn(
                computer_id=cid, hostname="pc", remote="127.0.0.7", send=_nothing, close=_nothing
            )
            await hub.attach(conn)
            hub.came_online(conn, "1.0")
            await async_wait_for(lambda: _node_of(runtime, admin, cid) == (True, "local"), what="online")

            # The process stalls past its lease; another process's sweep marks it offline
            clock.now = T0 + timedelta(seconds=31)
            assert nodes.sweep() == 1
            assert _node_of(runtime, admin, cid) == (False, None)

            await keeper.renew_node()  # it wakes up: the lease is gone
            assert keeper.node is not None and hub.node_id == keeper.node
            await async_wait_for(
                lambda: _node_of(runtime, admin, cid) == (True, keeper.node), what="online again, new name"
            )
        finally:
            await hub.stop()
            await keeper.release_node()
        assert _node_of(runtime, admin, cid) == (False, None)

    asyncio.run(scenario())


def test_a_stalled_process_whose_name_was_taken_says_so_and_takes_another(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    """``renew_node`` of a process whose lease ran out and whose name another process took
    meanwhile: a warning names the lost name (what an operator searches the log for), the
    process claims a derived name and tells the hub (``moved``) about it."""
    clock = Clock()
    nodes = NodeService(runtime.db, clock, lease_sec=30)
    moved: list[str] = []

    async def record(node: str) -> None:
        moved.append(node)

    async def scenario() -> None:
        keeper = Housekeeping(runtime.services.leases, [], "process-1", nodes=nodes, node_renew_sec=3600)
        assert await keeper.claim_node("local", record) == "local"
        clock.now = T0 + timedelta(seconds=10)
        await keeper.renew_node()  # in time: nothing to say or do
        assert (keeper.node, moved) == ("local", [])
        clock.now = T0 + timedelta(seconds=41)  # stalled past the lease; another process takes the name
        assert nodes.claim("local", "process-2") == "local"
        with caplog.at_level(logging.WARNING, logger="fleetdeck.housekeeping"):
            await keeper.renew_node()
        assert keeper.node is not None and keeper.node.startswith("local-")
        assert moved == [keeper.node]
        await keeper.release_node()

    asyncio.run(scenario())
    assert [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "fleetdeck.housekeeping"] == [
        (logging.WARNING, "node local lost its lease (this process stalled?); claiming a name again")
    ]
