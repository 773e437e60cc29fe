"""``ComputerService.refresh_updates_status`` called directly (rport's updates-status, until now
tested only through the dialect): what the agent is asked, how its summary is bounded and
checked, what is kept and audited, and the refusals."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pytest

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, Role, system_actor
from fleetdeck.core.errors import AgentUnreachable, NotFound, PermissionDenied
from fleetdeck.core.ports import AgentAddress, NullGateway
from fleetdeck.core.query import Cond, Op, Query
from fleetdeck.core.services import CoreConfig, Services, build_services
from fleetdeck.protocol.messages import UPDATES_STATUS
from fleetdeck.settings import Settings
from tests import factories
from tests.conftest import SECRET
from tests.factories import ManualClock
from tests.unit.core.conftest import T0

ADMIN = system_actor("test")


class Agent(NullGateway):
    def __init__(self) -> None:
        self.asked: list[tuple[AgentAddress, str, dict[str, Any], float]] = []
        self.answer: dict[str, Any] = {}

    def request(self, to: AgentAddress, kind: str, body: Mapping[str, Any], timeout: float) -> dict[str, Any]:
        self.asked.append((to, kind, dict(body), timeout))
        return self.answer


@pytest.fixture
def agent() -> Agent:
    return Agent()


@pytest.fixture
def svc(runtime: Runtime, settings: Settings, clock: ManualClock, agent: Agent) -> Services:
    return build_services(
        runtime.db, SECRET, CoreConfig(payload_dir=settings.data_dir / "payloads"), clock=clock, gateway=agent
    )


def stored(svc: Services, admin: Actor, cid: int) -> Any:
    [row] = svc.computers.find_detailed(admin, Query(where=(Cond("id", Op.EQ, cid),))).items
    return json.loads(row.updates_status)


def test_an_agents_summary_is_bounded_kept_and_audited(
    svc: Services, admin: Actor, agent: Agent, clock: ManualClock
) -> None:
    cid = factories.computer(svc, ADMIN, "pc-1")
    uid = svc.computers.get(admin, cid).summary.uid
    svc.computers.set_online(cid, node_id="n1", remote_address="10.0.0.1", agent_version="1")
    clock.now = T0 + timedelta(microseconds=500)
    agent.answer = {
        "updates_available": 3,
        "security_updates_available": 1,
        "update_summaries": [
            {
                "title": "t" * 300,
                "description": "d" * 1100,
                "reboot_required": True,
                "is_security_update": True,
            },
            {"title": 5, "description": None, "reboot_required": "yes", "is_security_update": 1},
            "not an object",
        ]
        + [{"title": f"u{n}"} for n in range(1000)],
        "reboot_pending": True,
        "error": "e" * 1001,
        "hint": "apt",
    }
    mark = factories.audit_mark(svc)
    status = svc.computers.refresh_updates_status(admin, uid)
    assert agent.asked == [(AgentAddress(cid, "n1"), UPDATES_STATUS, {}, 75.0)]
    assert status["refreshed"] == "2026-03-02T09:00:00.000500Z"
    assert (status["updates_available"], status["security_updates_available"], status["reboot_pending"]) == (
        3,
        1,
        True,
    )
    assert (status["error"], status["hint"]) == ("e" * 1000, "apt")
    summaries = status["update_summaries"]
    assert len(summaries) == 999  # the first 1000 items, of which one is no object
    assert summaries[0] == {
        "title": "t" * 255,
        "description": "d" * 1000,
        "reboot_required": True,
        "is_security_update": True,
    }
    assert summaries[1] == {
        "title": "",
        "description": "",
        "reboot_required": False,
        "is_security_update": False,
    }
    assert summaries[2]["title"] == "u0" and summaries[-1]["title"] == "u996"
    assert stored(svc, admin, cid) == status
    [row] = factories.audit_since(svc, mark)
    assert (row.action, row.object_type, row.object_id, row.result, row.detail) == (
        "computer.updates_status",
        "computer",
        str(cid),
        "ok",
        {"uid": uid, "updates_available": 3, "security_updates_available": 1},
    )


@pytest.mark.parametrize(
    ("answer", "counts"),
    [
        ({}, (0, 0)),
        ({"updates_available": -1, "security_updates_available": True}, (0, 0)),
        ({"updates_available": "4", "security_updates_available": 2.0}, (0, 0)),
        ({"updates_available": 0, "security_updates_available": 0}, (0, 0)),
        ({"updates_available": 7, "security_updates_available": 2}, (7, 2)),
    ],
)
def test_counts_that_are_no_whole_number_count_as_none(
    svc: Services, admin: Actor, agent: Agent, answer: dict[str, Any], counts: tuple[int, int]
) -> None:
    cid = factories.computer(svc, ADMIN, "pc-1")
    uid = svc.computers.get(admin, cid).summary.uid
    svc.computers.set_online(cid, node_id="n1", remote_address="10.0.0.1", agent_version="1")
    agent.answer = {**answer, "update_summaries": {"not": "a list"}, "reboot_pending": 1, "error": 3}
    status = svc.computers.refresh_updates_status(admin, uid)
    assert (status["updates_available"], status["security_updates_available"]) == counts
    assert (status["update_summaries"], status["reboot_pending"], status["error"], status["hint"]) == (
        [],
        False,
        "",
        "",
    )


def test_refreshing_needs_the_computer_in_reach_and_connected(
    svc: Services, admin: Actor, agent: Agent
) -> None:
    cid = factories.computer(svc, ADMIN, "pc-1")
    uid = svc.computers.get(admin, cid).summary.uid
    with pytest.raises(NotFound) as missing:
        svc.computers.refresh_updates_status(admin, "no-such-uid")
    assert missing.value.message == "computer no-such-uid not found"
    with pytest.raises(AgentUnreachable) as offline:
        svc.computers.refresh_updates_status(admin, uid)
    assert (offline.value.message, offline.value.detail) == (
        f"computer {uid} is not connected",
        {"computer_id": cid},
    )
    assert agent.asked == []
    end_user = Actor(user_id=None, username="eu", role=Role.END_USER)
    with pytest.raises(PermissionDenied):
        svc.computers.refresh_updates_status(end_user, uid)
    # a viewer may refresh what they may read
    svc.computers.set_online(cid, node_id="n1", remote_address="10.0.0.1", agent_version="1")
    viewer = factories.user(svc, Role.VIEWER)
    assert svc.computers.refresh_updates_status(viewer, uid)["updates_available"] == 0
