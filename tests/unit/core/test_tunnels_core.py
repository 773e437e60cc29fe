"""Core's tunnels (``core.tunnels.service``) called directly: what a tunnel is made of, the
checks before it is made (word for word), the agent's remote-port check, the pool of server
ports, duplicates, per-client reach, deletion, ACL changes, routes and expiry, each with its
audit row. The listeners and the agent are recording stand-ins for the ports core defines
(``ports.TunnelListeners``, ``ports.AgentGateway``); the sockets are tested through the rport
dialect and end to end."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, Role, system_actor
from fleetdeck.core.errors import (
    AgentFailed,
    AgentUnreachable,
    Conflict,
    FleetdeckError,
    NotFound,
    NotImplementedYet,
    PermissionDenied,
    Reason,
    ValidationFailed,
)
from fleetdeck.core.ports import AgentAddress, NullGateway, TunnelPlan
from fleetdeck.core.query import Cond, Op, Query, SortKey
from fleetdeck.core.secrets import Argon2Cost
from fleetdeck.core.services import CoreConfig, Services, build_services
from fleetdeck.core.tunnels.service import (
    TunnelRequest,
    acl_allows,
    basic_auth_allows,
    parse_acl,
    parse_ranges,
)
from fleetdeck.core.tunnels.stored import StoredTunnelInput
from fleetdeck.protocol.messages import TUNNEL_CHECK
from fleetdeck.settings import Settings
from tests import factories
from tests.conftest import BACKEND, SECRET
from tests.factories import ManualClock
from tests.unit.core.conftest import T0

ADMIN = system_actor("test")
NODE = "node-a"


class Listeners:
    """``ports.TunnelListeners`` that records what it is told; ``busy`` ports cannot be bound,
    ``connections`` are open per tunnel key."""

    def __init__(self) -> None:
        self.plans: dict[str, TunnelPlan] = {}
        self.calls: list[tuple[Any, ...]] = []
        self.busy: set[int] = set()
        self.connections: dict[str, int] = {}

    def listen(self, to: AgentAddress, plan: TunnelPlan) -> None:
        self.calls.append(("listen", to, plan.key, plan.local_port))
        if plan.local_port in self.busy:
            raise Conflict("busy", reason=Reason.LOCAL_PORT_IN_USE)
        self.plans[plan.key] = plan

    def unlisten(self, to: AgentAddress, key: str, force: bool) -> int:
        self.calls.append(("unlisten", to, key, force))
        open_now = self.connections.get(key, 0)
        if open_now and not force:
            raise Conflict("connections open", reason=Reason.ACTIVE_CONNECTIONS)
        self.plans.pop(key, None)
        return open_now

    def set_acl(self, to: AgentAddress, key: str, acl: Sequence[str]) -> None:
        self.calls.append(("set_acl", to, key, tuple(acl)))


class Agent(NullGateway):
    """``ports.AgentGateway`` whose agents answer the tunnel check with ``answer`` (or raise
    ``fail``), noting what they were asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[AgentAddress, str, dict[str, Any], float]] = []
        self.answer: dict[str, Any] = {"open": True}
        self.fail: FleetdeckError | None = None

    def request(self, to: AgentAddress, kind: str, body: Mapping[str, Any], timeout: float) -> dict[str, Any]:
        self.asked.append((to, kind, dict(body), timeout))
        if self.fail is not None:
            raise self.fail
        return self.answer


@pytest.fixture
def listeners() -> Listeners:
    return Listeners()


@pytest.fixture
def agent() -> Agent:
    return Agent()


@pytest.fixture
def svc(
    runtime: Runtime, settings: Settings, clock: ManualClock, listeners: Listeners, agent: Agent
) -> Services:
    config = CoreConfig(payload_dir=settings.data_dir / "payloads", argon2=Argon2Cost(1, 8, 1))
    return build_services(runtime.db, SECRET, config, clock=clock, gateway=agent, tunnel_listeners=listeners)


def online(svc: Services, name: str) -> int:
    cid = factories.computer(svc, ADMIN, name, os="Linux")
    svc.computers.set_online(cid, node_id=NODE, remote_address="10.9.9.9", agent_version="1")
    return cid


def rows(svc: Services, mark: int) -> list[tuple[str, str, str, str, dict[str, Any]]]:
    return [
        (r.action, r.object_type, r.object_id, r.result, r.detail) for r in factories.audit_since(svc, mark)
    ]


def refusal(svc: Services, actor: Actor, computer: int | str, request: TunnelRequest) -> FleetdeckError:
    with pytest.raises(FleetdeckError) as err:
        svc.tunnels.create(actor, computer, request)
    return err.value


# ------------------------------------------------------------------ making tunnels


def test_a_tunnel_gets_a_free_pool_port_after_the_agent_found_its_remote_open(
    svc: Services, admin: Actor, listeners: Listeners, agent: Agent
) -> None:
    cid = online(svc, "web-1")
    svc.settings.set(ADMIN, "tunnels.used_ports", ["20000-20002"])
    svc.settings.set(ADMIN, "tunnels.excluded_ports", ["20001"])
    listeners.busy = {20000}
    mark = factories.audit_mark(svc)
    info = svc.tunnels.create(
        admin, cid, TunnelRequest("10.0.0.5", 22, acl=(" 192.168.1.7/24 ", "", "10.1.1.1"))
    )
    assert agent.asked == [
        (AgentAddress(cid, NODE), TUNNEL_CHECK, {"host": "10.0.0.5", "port": 22, "timeout": 2.0}, 3.0)
    ]
    assert (info.key, info.local_host, info.local_port, info.local_port_random) == (
        "1",
        "0.0.0.0",
        20002,
        True,
    )
    assert (info.remote_host, info.remote_port, info.protocol, info.scheme, info.name) == (
        "10.0.0.5",
        22,
        "tcp",
        "",
        "",
    )
    assert info.acl == ("192.168.1.0/24", "10.1.1.1")
    assert (info.idle_timeout_minutes, info.auto_close_sec, info.created_at, info.owner) == (
        5,
        0,
        T0,
        admin.username,
    )
    assert (info.computer_id, info.http_proxy, info.host_header, info.auth_user) == (cid, False, "", "")
    uid = svc.computers.get(admin, cid).summary.uid
    assert info.computer_uid == uid
    plan = listeners.plans["1"]
    assert (plan.computer_id, plan.local_host, plan.local_port, plan.remote_host, plan.remote_port) == (
        cid,
        "0.0.0.0",
        20002,
        "10.0.0.5",
        22,
    )
    assert (plan.acl, plan.idle_timeout_sec, plan.expires_at, plan.protocol) == (
        ("192.168.1.0/24", "10.1.1.1"),
        300,
        None,
        "tcp",
    )
    assert rows(svc, mark) == [
        (
            "tunnel.create",
            "computer",
            f"{cid}/1",
            "ok",
            {
                "remote": "10.0.0.5:22",
                "local": "0.0.0.0:20002",
                "acl": "192.168.1.0/24,10.1.1.1",
                "protocol": "tcp",
                "http_proxy": False,
                "host_header": "",
                "auth_user": "",
            },
        )
    ]
    assert svc.tunnels.find(admin) == [info] == svc.tunnels.find(admin, cid) == svc.tunnels.find(admin, uid)
    assert svc.tunnels.plans(cid) == [plan]
    # the pool has no other free port: 20002 is this tunnel's, 20000 cannot be bound
    err = refusal(svc, admin, cid, TunnelRequest("10.0.0.6", 22))
    assert isinstance(err, Conflict)
    assert (err.message, err.detail) == (
        "no free local port in the pool",
        {"reason": Reason.LOCAL_PORT_IN_USE, "field": "local"},
    )


def test_a_tunnel_on_a_given_port_keeps_its_times_and_names(
    svc: Services, admin: Actor, listeners: Listeners, agent: Agent, clock: ManualClock
) -> None:
    cid = online(svc, "web-1")
    clock.now = T0 + timedelta(minutes=3)
    info = svc.tunnels.create(
        admin,
        cid,
        TunnelRequest(
            "db.internal",
            5432,
            local_host="127.0.0.1",
            local_port=4000,
            name="pg",
            scheme="postgres",
            check_port=False,
            idle_timeout_minutes=0,
            auto_close_sec=3600,
        ),
    )
    assert agent.asked == []
    assert (info.local_host, info.local_port, info.local_port_random, info.name, info.scheme) == (
        "127.0.0.1",
        4000,
        False,
        "pg",
        "postgres",
    )
    assert (info.idle_timeout_minutes, info.auto_close_sec, info.created_at) == (0, 3600, clock.now)
    [plan] = svc.tunnels.plans(cid)
    assert (plan.idle_timeout_sec, plan.expires_at) == (0, (clock.now + timedelta(hours=1)).timestamp())
    assert listeners.calls == [("listen", AgentAddress(cid, NODE), "1", 4000)]
    second = svc.tunnels.create(
        admin, cid, TunnelRequest("db.internal", 5433, local_port=4001, check_port=False)
    )
    assert second.key == "2" and second.idle_timeout_minutes == 5
    other = online(svc, "web-2")
    assert (
        svc.tunnels.create(admin, other, TunnelRequest("x", 1, local_port=4002, check_port=False)).key == "1"
    )


def test_a_port_the_listener_cannot_bind_is_refused_and_nothing_is_kept(
    svc: Services, admin: Actor, listeners: Listeners
) -> None:
    cid = online(svc, "web-1")
    listeners.busy = {4000}
    err = refusal(svc, admin, cid, TunnelRequest("h", 80, local_port=4000, check_port=False))
    assert isinstance(err, Conflict) and err.detail["reason"] == Reason.LOCAL_PORT_IN_USE
    assert svc.tunnels.find(admin) == []
    assert svc.tunnels.plans(cid) == []


REFUSALS: list[tuple[TunnelRequest, str, str, Reason]] = [
    (TunnelRequest("h", 80, protocol="sctp"), "protocol 'sctp' is not supported", "protocol", Reason.INVALID),
    (TunnelRequest("", 80), "remote host is required", "remote", Reason.REQUIRED_MISSING),
    (TunnelRequest("h" * 256, 80), "remote host is required", "remote", Reason.REQUIRED_MISSING),
    (TunnelRequest("h", 0), "remote port 0 is out of range", "remote", Reason.INVALID),
    (TunnelRequest("h", 65536), "remote port 65536 is out of range", "remote", Reason.INVALID),
    (TunnelRequest("h", 80, local_port=0), "local port 0 is out of range", "local", Reason.INVALID),
    (TunnelRequest("h", 80, local_port=65536), "local port 65536 is out of range", "local", Reason.INVALID),
    (
        TunnelRequest("h", 80, local_host="localhost"),
        "invalid local address 'localhost'",
        "local",
        Reason.INVALID,
    ),
    (TunnelRequest("h", 80, scheme="s" * 16), "scheme or name too long", "scheme", Reason.INVALID),
    (TunnelRequest("h", 80, name="n" * 201), "scheme or name too long", "scheme", Reason.INVALID),
    (
        TunnelRequest("h", 80, idle_timeout_minutes=-1),
        "idle timeout out of range",
        "idle-timeout-minutes",
        Reason.INVALID,
    ),
    (
        TunnelRequest("h", 80, idle_timeout_minutes=10081),
        "idle timeout out of range",
        "idle-timeout-minutes",
        Reason.INVALID,
    ),
    (TunnelRequest("h", 80, auto_close_sec=-1), "auto-close out of range", "auto-close", Reason.INVALID),
    (
        TunnelRequest("h", 80, auto_close_sec=744 * 3600 + 1),
        "auto-close out of range",
        "auto-close",
        Reason.INVALID,
    ),
    (
        TunnelRequest("h", 80, host_header="x"),
        "host_header and basic auth need http_proxy",
        "http_proxy",
        Reason.INVALID,
    ),
    (
        TunnelRequest("h", 80, auth_user="u"),
        "host_header and basic auth need http_proxy",
        "http_proxy",
        Reason.INVALID,
    ),
    (
        TunnelRequest("h", 80, auth_password="p"),
        "host_header and basic auth need http_proxy",
        "http_proxy",
        Reason.INVALID,
    ),
    (
        TunnelRequest("h", 80, http_proxy=True, scheme="ftp"),
        "tunnel proxy not allowed with scheme ftp",
        "scheme",
        Reason.INVALID,
    ),
    (
        TunnelRequest("h", 80, http_proxy=True, protocol="udp"),
        "tunnel proxy not allowed with protocol udp",
        "protocol",
        Reason.INVALID,
    ),
    (
        TunnelRequest("h", 80, http_proxy=True, host_header="bad header"),
        "invalid host_header 'bad header'",
        "host_header",
        Reason.INVALID,
    ),
    (
        TunnelRequest("h", 80, http_proxy=True, host_header="a" * 250 + ".example"),
        f"invalid host_header '{'a' * 250}.example'",
        "host_header",
        Reason.INVALID,
    ),
    (
        TunnelRequest("h", 80, http_proxy=True, auth_user="u"),
        "auth_user requires auth_password",
        "auth_password",
        Reason.REQUIRED_MISSING,
    ),
    (
        TunnelRequest("h", 80, http_proxy=True, auth_password="p"),
        "auth_password requires auth_user",
        "auth_user",
        Reason.REQUIRED_MISSING,
    ),
    (
        TunnelRequest("h", 80, http_proxy=True, auth_user="u" * 151, auth_password="p"),
        "invalid auth_user",
        "auth_user",
        Reason.INVALID,
    ),
    (
        TunnelRequest("h", 80, http_proxy=True, auth_user="u", auth_password="p\x7f"),
        "invalid auth_password",
        "auth_password",
        Reason.INVALID,
    ),
    (
        TunnelRequest("h", 80, http_proxy=True, auth_user="u\x1f", auth_password="p"),
        "invalid auth_user",
        "auth_user",
        Reason.INVALID,
    ),
    (
        TunnelRequest("h", 80, http_proxy=True, auth_user="u:v", auth_password="p"),
        "auth_user may not contain ':'",
        "auth_user",
        Reason.INVALID,
    ),
    (TunnelRequest("h", 80, acl=("nonsense",)), "invalid ACL entry 'nonsense'", "acl", Reason.INVALID),
    (
        TunnelRequest("h", 80, acl=("0.0.0.0/0",)),
        "ACL entry '0.0.0.0/0' is not allowed",
        "acl",
        Reason.INVALID,
    ),
    (TunnelRequest("h", 80, acl=("::",)), "ACL entry '::' is not allowed", "acl", Reason.INVALID),
    (
        TunnelRequest("h", 80, acl=tuple(f"10.0.0.{n}" for n in range(101))),
        "at most 100 ACL entries",
        "acl",
        Reason.TOO_MANY,
    ),
]


@pytest.mark.parametrize(("request_", "message", "field", "reason"), REFUSALS)
def test_a_bad_request_is_refused_in_words_and_audited(
    svc: Services,
    admin: Actor,
    agent: Agent,
    request_: TunnelRequest,
    message: str,
    field: str,
    reason: Reason,
) -> None:
    cid = online(svc, "web-1")
    mark = factories.audit_mark(svc)
    err = refusal(svc, admin, cid, request_)
    assert isinstance(err, ValidationFailed)
    assert (err.message, err.field, err.detail) == (message, field, {"field": field, "reason": reason})
    assert rows(svc, mark) == [("tunnel.create", "computer", str(cid), "failed", {"error": message})]
    assert agent.asked == []


def test_limits_themselves_are_accepted(svc: Services, admin: Actor) -> None:
    cid = online(svc, "web-1")
    for n, request in enumerate(
        [
            TunnelRequest("h" * 255, 65535, local_port=65535, check_port=False),
            TunnelRequest("h", 1, local_port=1, scheme="s" * 15, name="n" * 200, check_port=False),
            TunnelRequest(
                "h", 2, local_port=2, idle_timeout_minutes=10080, auto_close_sec=744 * 3600, check_port=False
            ),
            TunnelRequest(
                "h", 3, local_port=3, acl=tuple(f"10.0.0.{n}" for n in range(100)), check_port=False
            ),
        ],
        start=1,
    ):
        assert svc.tunnels.create(admin, cid, request).key == str(n)


def test_a_proxy_speaks_http_by_default_and_keeps_only_a_hash_of_its_password(
    svc: Services, admin: Actor
) -> None:
    cid = online(svc, "web-1")
    mark = factories.audit_mark(svc)
    info = svc.tunnels.create(
        admin,
        cid,
        TunnelRequest(
            "10.0.0.5",
            80,
            local_port=4000,
            http_proxy=True,
            host_header="intranet.example:8080",
            auth_user="alice",
            auth_password="s3cret",
            check_port=False,
        ),
    )
    assert (info.scheme, info.http_proxy, info.host_header, info.auth_user) == (
        "http",
        True,
        "intranet.example:8080",
        "alice",
    )
    [row] = rows(svc, mark)
    assert row[4]["http_proxy"] is True and row[4]["host_header"] == "intranet.example:8080"
    assert row[4]["auth_user"] == "alice" and "s3cret" not in str(row)
    [plan] = svc.tunnels.plans(cid)
    assert (plan.http_proxy, plan.scheme, plan.auth_user) == (True, "http", "alice")
    assert plan.auth_password_hash.startswith("$argon2") and "s3cret" not in plan.auth_password_hash
    assert basic_auth_allows(plan, "alice", "s3cret")
    assert not basic_auth_allows(plan, "alice", "wrong")
    assert not basic_auth_allows(plan, "bob", "s3cret")
    https = svc.tunnels.create(
        admin,
        cid,
        TunnelRequest("10.0.0.5", 443, local_port=4001, http_proxy=True, scheme="HTTPS", check_port=False),
    )
    assert https.scheme == "https" and https.auth_user == ""
    [_, open_plan] = svc.tunnels.plans(cid)
    assert open_plan.auth_password_hash == "" and basic_auth_allows(open_plan, "anyone", "anything")
    both = svc.tunnels.create(
        admin,
        cid,
        TunnelRequest("10.0.0.6", 80, local_port=4002, http_proxy=True, protocol="tcp+udp", check_port=False),
    )
    assert (both.protocol, both.scheme) == ("tcp+udp", "http")
    v6 = svc.tunnels.create(
        admin,
        cid,
        TunnelRequest(
            "10.0.0.7", 80, local_port=4003, http_proxy=True, host_header="[::1]:80", check_port=False
        ),
    )
    assert v6.host_header == "[::1]:80"


@pytest.mark.parametrize("scheme", ["vnc", "RDP"])
def test_the_proxies_rportd_has_for_remote_desktops_are_not_built(
    svc: Services, admin: Actor, scheme: str
) -> None:
    cid = online(svc, "web-1")
    err = refusal(svc, admin, cid, TunnelRequest("h", 5900, http_proxy=True, scheme=scheme))
    assert isinstance(err, NotImplementedYet)
    assert err.message == f"the tunnel proxy for scheme {scheme.lower()} is not implemented"


# ------------------------------------------------------------------ the agent's check


def test_a_closed_remote_is_refused_with_what_the_agent_saw(
    svc: Services, admin: Actor, agent: Agent
) -> None:
    cid = online(svc, "web-1")
    agent.answer = {"open": False, "error": "connection refused"}
    mark = factories.audit_mark(svc)
    err = refusal(svc, admin, cid, TunnelRequest("10.0.0.5", 22))
    assert isinstance(err, ValidationFailed)
    assert (err.message, err.field, err.detail["reason"]) == (
        "remote 10.0.0.5:22 is not open (connection refused)",
        "remote",
        Reason.REMOTE_PORT_CLOSED,
    )
    assert rows(svc, mark) == [("tunnel.create", "computer", str(cid), "failed", {"error": err.message})]
    agent.answer = {}
    assert (
        refusal(svc, admin, cid, TunnelRequest("10.0.0.5", 22)).message
        == "remote 10.0.0.5:22 is not open (closed)"
    )
    assert svc.tunnels.find(admin) == []


def test_a_udp_check_says_so_and_an_agent_without_udp_is_a_refusal_of_the_protocol(
    svc: Services, admin: Actor, agent: Agent
) -> None:
    cid = online(svc, "web-1")
    assert (
        svc.tunnels.create(
            admin, cid, TunnelRequest("10.0.0.5", 53, protocol="udp", local_port=4000)
        ).protocol
        == "udp"
    )
    assert agent.asked[-1][2] == {"host": "10.0.0.5", "port": 53, "timeout": 2.0, "protocol": "udp"}
    svc.tunnels.create(admin, cid, TunnelRequest("10.0.0.5", 54, protocol="tcp+udp", local_port=4001))
    assert "protocol" not in agent.asked[-1][2]
    agent.fail = AgentFailed("this agent has no UDP tunnels", reason="unsupported")
    err = refusal(svc, admin, cid, TunnelRequest("10.0.0.5", 55, protocol="udp"))
    assert isinstance(err, ValidationFailed)
    assert (err.message, err.field, err.detail["reason"]) == (
        "this agent has no UDP tunnels",
        "protocol",
        Reason.INVALID,
    )
    agent.fail = AgentFailed("the agent broke", reason="other")
    err = refusal(svc, admin, cid, TunnelRequest("10.0.0.5", 55))
    assert type(err) is AgentFailed and err.message == "the agent broke"


def test_a_tunnel_needs_its_agent_connected(svc: Services, admin: Actor, agent: Agent) -> None:
    cid = factories.computer(svc, ADMIN, "web-1", os="Linux")
    mark = factories.audit_mark(svc)
    err = refusal(svc, admin, cid, TunnelRequest("10.0.0.5", 22))
    assert isinstance(err, AgentUnreachable) and err.message == f"computer {cid} is not connected"
    assert rows(svc, mark) == [("tunnel.create", "computer", str(cid), "failed", {"error": err.message})]
    svc.computers.set_online(cid, node_id=NODE, remote_address="10.9.9.9", agent_version="1")
    svc.computers.set_offline([cid], node_id=NODE)
    assert isinstance(refusal(svc, admin, cid, TunnelRequest("10.0.0.5", 22)), AgentUnreachable)
    assert agent.asked == []


# ------------------------------------------------------------------ duplicates


def test_duplicates_follow_rportds_rules(svc: Services, admin: Actor) -> None:
    cid = online(svc, "web-1")
    other = online(svc, "web-2")
    svc.tunnels.create(admin, cid, TunnelRequest("10.0.0.5", 22, local_port=4000, acl=("10.1.1.1",)))
    for request, message, reason in [
        (TunnelRequest("10.0.0.5", 22, acl=("10.1.1.1",)), "tunnel already exists", Reason.TUNNEL_EXISTS),
        (
            TunnelRequest("10.0.0.5", 22, local_port=4000, acl=("10.1.1.1",)),
            "tunnel already exists",
            Reason.TUNNEL_EXISTS,
        ),
        (
            TunnelRequest("10.0.0.5", 22, local_port=4009, acl=("10.1.1.1",), protocol="tcp+udp"),
            "tunnel to port 22 already exists",
            Reason.TUNNEL_TO_PORT_EXISTS,
        ),
    ]:
        err = refusal(svc, admin, cid, request)
        assert isinstance(err, Conflict)
        assert (err.message, err.detail) == (message, {"reason": reason})
    err = refusal(svc, admin, other, TunnelRequest("10.0.0.9", 22, local_port=4000))
    assert (err.message, err.detail) == (
        "local port 4000 is in use",
        {"reason": Reason.LOCAL_PORT_IN_USE, "field": "local"},
    )
    # another ACL, another protocol that does not overlap, another computer: new tunnels
    assert svc.tunnels.create(admin, cid, TunnelRequest("10.0.0.5", 22, local_port=4001)).key == "2"
    assert (
        svc.tunnels.create(
            admin, cid, TunnelRequest("10.0.0.5", 22, local_port=4002, acl=("10.1.1.1",), protocol="udp")
        ).key
        == "3"
    )
    assert svc.tunnels.create(admin, other, TunnelRequest("10.0.0.5", 22, local_port=4003)).key == "1"
    # a udp tunnel and a tcp+udp one overlap
    err = refusal(svc, admin, cid, TunnelRequest("10.0.0.5", 22, acl=("10.1.1.1",), protocol="tcp+udp"))
    assert err.detail == {"reason": Reason.TUNNEL_EXISTS}


# ------------------------------------------------------------------ who sees and makes which


@pytest.fixture
def dev(svc: Services) -> Actor:
    """An operator in user group devs, which reaches the computers named web-*."""
    svc.user_groups.put(ADMIN, "devs", {})
    made = svc.users.create(ADMIN, "dev", "dev-password-1", Role.OPERATOR, groups=["devs"])
    svc.rule_groups.create(ADMIN, "web", "", {"name": ["WEB-*"]}, ["devs"])
    return Actor(user_id=made.id, username="dev", role=Role.OPERATOR)


def test_tunnels_are_seen_and_made_only_within_reach(svc: Services, admin: Actor, dev: Actor) -> None:
    web = online(svc, "web-1")
    db = online(svc, "db-1")
    on_web = svc.tunnels.create(dev, web, TunnelRequest("10.0.0.5", 22, local_port=4000))
    on_db = svc.tunnels.create(admin, db, TunnelRequest("10.0.0.5", 22, local_port=4001))
    assert on_web.owner == "dev"
    assert svc.tunnels.find(dev) == [on_web]
    assert svc.tunnels.find(admin) == [on_web, on_db]
    with pytest.raises(NotFound) as err:
        svc.tunnels.find(dev, db)
    assert err.value.message == f"computer {db} not found"
    with pytest.raises(NotFound):
        svc.tunnels.find(admin, "no-such-uid")
    mark = factories.audit_mark(svc)
    err2 = refusal(svc, dev, db, TunnelRequest("10.0.0.6", 22))
    assert isinstance(err2, NotFound)
    assert rows(svc, mark) == [
        ("tunnel.create", "computer", str(db), "failed", {"error": f"computer {db} not found"})
    ]
    viewer = factories.user(svc, Role.VIEWER)
    for call in (
        lambda: svc.tunnels.find(viewer),
        lambda: svc.tunnels.create(viewer, web, TunnelRequest("10.0.0.6", 22)),
        lambda: svc.tunnels.delete(viewer, web, "1"),
        lambda: svc.tunnels.set_acl(viewer, web, "1", []),
    ):
        with pytest.raises(PermissionDenied):
            call()
    assert svc.tunnels.of_computers(viewer, [web, db]) == {}
    assert svc.tunnels.of_computers(admin, []) == {}
    assert svc.tunnels.of_computers(admin, [db, web, db, 999_999]) == {web: [on_web], db: [on_db]}
    assert svc.tunnels.find(admin) == [on_web, on_db]


# ------------------------------------------------------------------ deleting, ACLs, routes, expiry


def test_a_tunnel_with_open_connections_is_deleted_only_by_force(
    svc: Services, admin: Actor, listeners: Listeners
) -> None:
    cid = online(svc, "web-1")
    info = svc.tunnels.create(admin, cid, TunnelRequest("10.0.0.5", 22, local_port=4000))
    listeners.connections["1"] = 2
    mark = factories.audit_mark(svc)
    with pytest.raises(Conflict):
        svc.tunnels.delete(admin, cid, "1")
    assert svc.tunnels.find(admin) == [info]
    svc.tunnels.delete(admin, info.computer_uid, "1", force=True)
    assert listeners.calls[-2:] == [
        ("unlisten", AgentAddress(cid, NODE), "1", False),
        ("unlisten", AgentAddress(cid, NODE), "1", True),
    ]
    assert rows(svc, mark) == [
        ("tunnel.delete", "computer", f"{cid}/1", "conflict", {"error": "connections open"}),
        ("tunnel.delete", "computer", f"{cid}/1", "ok", {"force": True, "connections_closed": 2}),
    ]
    assert svc.tunnels.find(admin) == [] and svc.tunnels.plans(cid) == []
    with pytest.raises(NotFound) as err:
        svc.tunnels.delete(admin, cid, "1")
    assert err.value.message == "tunnel 1 not found"


def test_a_tunnel_of_a_computer_whose_agent_left_is_deleted_without_its_listener(
    svc: Services, admin: Actor, listeners: Listeners
) -> None:
    cid = online(svc, "web-1")
    svc.tunnels.create(admin, cid, TunnelRequest("10.0.0.5", 22, local_port=4000))
    svc.computers.set_offline([cid], node_id=NODE)
    before = len(listeners.calls)
    mark = factories.audit_mark(svc)
    svc.tunnels.delete(admin, cid, "1")
    assert len(listeners.calls) == before
    assert rows(svc, mark) == [
        ("tunnel.delete", "computer", f"{cid}/1", "ok", {"force": False, "connections_closed": 0})
    ]
    assert svc.tunnels.find(admin) == []


def test_an_acl_change_is_stored_told_to_the_listener_and_audited(
    svc: Services, admin: Actor, listeners: Listeners
) -> None:
    cid = online(svc, "web-1")
    svc.tunnels.create(admin, cid, TunnelRequest("10.0.0.5", 22, local_port=4000))
    mark = factories.audit_mark(svc)
    info = svc.tunnels.set_acl(admin, cid, "1", ["10.2.0.9/16", " 2001:db8::1 "])
    assert info.acl == ("10.2.0.0/16", "2001:db8::1")
    assert listeners.calls[-1] == ("set_acl", AgentAddress(cid, NODE), "1", ("10.2.0.0/16", "2001:db8::1"))
    assert svc.tunnels.find(admin) == [info] and svc.tunnels.plans(cid)[0].acl == info.acl
    with pytest.raises(ValidationFailed) as err:
        svc.tunnels.set_acl(admin, cid, "1", ["10.2.0.300"])
    assert err.value.message == "invalid ACL entry '10.2.0.300'"
    with pytest.raises(NotFound) as missing:
        svc.tunnels.set_acl(admin, cid, "7", [])
    assert missing.value.message == "tunnel 7 not found"
    assert rows(svc, mark) == [
        ("tunnel.acl", "computer", f"{cid}/1", "ok", {"acl": "10.2.0.0/16,2001:db8::1"}),
        ("tunnel.acl", "computer", f"{cid}/1", "invalid", {"error": "invalid ACL entry '10.2.0.300'"}),
        ("tunnel.acl", "computer", f"{cid}/7", "not_found", {"error": "tunnel 7 not found"}),
    ]
    svc.computers.set_offline([cid], node_id=NODE)
    assert svc.tunnels.set_acl(admin, cid, "1", []).acl == ()
    assert listeners.calls[-1][0] == "set_acl" and listeners.calls[-1][3] == ("10.2.0.0/16", "2001:db8::1")


def test_a_route_through_the_servers_port_needs_remote_access_and_is_audited(
    svc: Services, admin: Actor, dev: Actor
) -> None:
    web = online(svc, "web-1")
    db = online(svc, "db-1")
    svc.tunnels.create(admin, web, TunnelRequest("10.0.0.5", 8080, local_port=4000))
    viewer = factories.user(svc, Role.VIEWER)
    mark = factories.audit_mark(svc)
    plan = svc.tunnels.route(dev, web, "1")
    assert (plan.computer_id, plan.key, plan.remote_host, plan.remote_port) == (web, "1", "10.0.0.5", 8080)
    with pytest.raises(PermissionDenied):
        svc.tunnels.route(viewer, web, "1")
    with pytest.raises(PermissionDenied) as denied:
        svc.tunnels.route(dev, db, "1")
    assert denied.value.message == f"no remote access to computer {db}"
    with pytest.raises(NotFound):
        svc.tunnels.route(dev, web, "2")
    got = [(r.username, r.action, r.object_id, r.result) for r in factories.audit_since(svc, mark)]
    assert got == [
        ("dev", "tunnel.route", f"{web}/1", "ok"),
        (viewer.username, "tunnel.route", f"{web}/1", "failed"),
        ("dev", "tunnel.route", f"{db}/1", "failed"),
        ("dev", "tunnel.route", f"{web}/2", "failed"),
    ]
    first = factories.audit_since(svc, mark)[0]
    assert (first.object_type, first.detail) == ("computer", {"remote": "10.0.0.5:8080"})
    assert factories.audit_since(svc, mark)[3].detail == {"error": "tunnel 2 not found"}


def test_an_expired_tunnel_is_forgotten_once_and_audited_as_the_system(svc: Services, admin: Actor) -> None:
    cid = online(svc, "web-1")
    svc.tunnels.create(admin, cid, TunnelRequest("10.0.0.5", 22, local_port=4000))
    mark = factories.audit_mark(svc)
    assert svc.tunnels.expire(cid, "1", "idle") is True
    assert svc.tunnels.expire(cid, "1", "idle") is False
    assert svc.tunnels.find(admin) == []
    [first, second] = factories.audit_since(svc, mark)
    assert (first.username, first.action, first.object_type, first.object_id, first.detail) == (
        "system",
        "tunnel.delete",
        "computer",
        f"{cid}/1",
        {"why": "idle"},
    )
    assert second.detail == {"why": "idle"}


# ------------------------------------------------------------------ pure helpers


def test_acls_and_port_ranges() -> None:
    assert parse_acl(["192.168.1.7/24", " ", "10.0.0.1/32", "2001:db8::/32"]) == (
        "192.168.1.0/24",
        "10.0.0.1",
        "2001:db8::/32",
    )
    assert acl_allows((), "not an address")
    assert acl_allows(("10.0.0.0/8",), "10.1.2.3")
    assert not acl_allows(("10.0.0.0/8",), "11.1.2.3")
    assert acl_allows(("10.0.0.0/8",), "::ffff:10.1.2.3")
    assert acl_allows(("fe80::/10",), "fe80::1%eth0")
    assert not acl_allows(("10.0.0.0/8",), "fe80::1")
    assert not acl_allows(("10.0.0.0/8",), "nonsense")
    assert parse_ranges(["0-3", "7", "65534-70000"]) == {1, 2, 3, 7, 65534, 65535}
    assert parse_ranges([]) == set()


def test_an_acl_ignores_an_addresses_zone_whatever_it_is() -> None:
    """Everything from the first ``%`` on is a zone and is cut before the address is parsed,
    also where Python's ``ipaddress`` would refuse the whole text (an empty zone, a second
    ``%``, a zone on an IPv4 address)."""
    assert acl_allows(("fe80::/10",), "fe80::1%")
    assert acl_allows(("fe80::1",), "fe80::1%a%b")
    assert acl_allows(("10.0.0.0/8",), "10.1.2.3%eth0")
    assert not acl_allows(("10.0.0.0/8",), "11.1.2.3%eth0")


# ------------------------------------------------------------------ stored tunnels (presets)


def test_a_stored_tunnel_is_saved_replaced_listed_and_deleted_with_its_audit_rows(
    svc: Services, admin: Actor, clock: ManualClock
) -> None:
    cid = factories.computer(svc, ADMIN, "web-1", os="Linux")
    uid = svc.computers.get(admin, cid).summary.uid
    mark = factories.audit_mark(svc)
    made = svc.stored_tunnels.save(
        admin,
        cid,
        StoredTunnelInput(
            "ssh",
            " 10.0.0.5 ",
            22,
            public_port=2222,
            scheme="ssh",
            acl=("10.1.1.7/24",),
            further_options={"a": [1]},
        ),
    )
    assert (made.computer_uid, made.name, made.remote_ip, made.remote_port, made.public_port) == (
        uid,
        "ssh",
        "10.0.0.5",
        22,
        2222,
    )
    assert (made.scheme, made.acl, made.further_options, made.created_at, made.created_by) == (
        "ssh",
        ("10.1.1.0/24",),
        {"a": [1]},
        T0,
        admin.username,
    )
    assert len(made.id) == 36
    clock.now = T0 + timedelta(hours=1)
    second = svc.stored_tunnels.save(admin, uid, StoredTunnelInput("web", "10.0.0.6", 80))
    assert (second.public_port, second.scheme, second.acl, second.further_options) == (None, "", (), {})
    replaced = svc.stored_tunnels.save(admin, cid, StoredTunnelInput("ssh2", "10.0.0.9", 2200), made.id)
    assert (replaced.id, replaced.name, replaced.remote_ip, replaced.public_port, replaced.acl) == (
        made.id,
        "ssh2",
        "10.0.0.9",
        None,
        (),
    )
    assert (replaced.created_at, replaced.further_options) == (T0, {})
    # the same name again for the same preset is no clash
    svc.stored_tunnels.save(admin, cid, StoredTunnelInput("ssh2", "10.0.0.9", 2201), made.id)
    page = svc.stored_tunnels.find(admin, cid, Query(sort=(SortKey("name"),)))
    assert (page.total, [t.name for t in page.items]) == (2, ["ssh2", "web"])
    page = svc.stored_tunnels.find(admin, uid, Query(where=(Cond("remote_port", Op.EQ, 80),)))
    assert (page.total, page.items) == (1, [second])
    assert svc.stored_tunnels.find(admin, cid, Query(sort=(SortKey("name", True),), limit=1)).total == 2
    svc.stored_tunnels.delete(admin, uid, second.id)
    assert [t.id for t in svc.stored_tunnels.find(admin, cid, Query()).items] == [made.id]
    assert rows(svc, mark) == [
        (
            "tunnel.stored.create",
            "computer",
            f"{cid}/{made.id}",
            "ok",
            {"name": "ssh", "remote": "10.0.0.5:22", "acl": "10.1.1.0/24"},
        ),
        (
            "tunnel.stored.create",
            "computer",
            f"{cid}/{second.id}",
            "ok",
            {"name": "web", "remote": "10.0.0.6:80", "acl": ""},
        ),
        (
            "tunnel.stored.update",
            "computer",
            f"{cid}/{made.id}",
            "ok",
            {"name": "ssh2", "remote": "10.0.0.9:2200", "acl": ""},
        ),
        (
            "tunnel.stored.update",
            "computer",
            f"{cid}/{made.id}",
            "ok",
            {"name": "ssh2", "remote": "10.0.0.9:2201", "acl": ""},
        ),
        ("tunnel.stored.delete", "computer", f"{cid}/{second.id}", "ok", {"name": "web"}),
    ]


def test_stored_tunnel_refusals_say_what_is_wrong(svc: Services, admin: Actor, dev: Actor) -> None:
    cid = factories.computer(svc, ADMIN, "web-1", os="Linux")
    db = factories.computer(svc, ADMIN, "db-1", os="Linux")
    kept = svc.stored_tunnels.save(admin, cid, StoredTunnelInput("ssh", "10.0.0.5", 22))
    cases: list[tuple[StoredTunnelInput, str, str, Reason]] = [
        (StoredTunnelInput(" ", "h", 1), "name is required", "name", Reason.REQUIRED_MISSING),
        (StoredTunnelInput("n" * 201, "h", 1), "name is longer than 200 characters", "name", Reason.INVALID),
        (
            StoredTunnelInput("n", "h", 1, scheme="s" * 16),
            "scheme is longer than 15 characters",
            "scheme",
            Reason.INVALID,
        ),
        (StoredTunnelInput("n", " ", 1), "remote_ip is required", "remote_ip", Reason.REQUIRED_MISSING),
        (StoredTunnelInput("n", "h" * 256, 1), "remote_ip is required", "remote_ip", Reason.REQUIRED_MISSING),
        (
            StoredTunnelInput("n", "h", 0),
            "remote_port 0 is out of range 1-65535",
            "remote_port",
            Reason.INVALID,
        ),
        (
            StoredTunnelInput("n", "h", 65536),
            "remote_port 65536 is out of range 1-65535",
            "remote_port",
            Reason.INVALID,
        ),
        (
            StoredTunnelInput("n", "h", 1, public_port=0),
            "public_port 0 is out of range 1-65535",
            "public_port",
            Reason.INVALID,
        ),
        (
            StoredTunnelInput("n", "h", 1, public_port=65536),
            "public_port 65536 is out of range 1-65535",
            "public_port",
            Reason.INVALID,
        ),
        (StoredTunnelInput("n\x00", "h", 1), "text must not contain NUL characters", "name", Reason.INVALID),
        (
            StoredTunnelInput("n", "h", 1, scheme="\x00"),
            "text must not contain NUL characters",
            "name",
            Reason.INVALID,
        ),
        (StoredTunnelInput("n", "h\x00", 1), "text must not contain NUL characters", "name", Reason.INVALID),
        (
            StoredTunnelInput("n", "h", 1, further_options={"x": object()}),
            "further_options must be a JSON object",
            "further_options",
            Reason.INVALID,
        ),
        (
            StoredTunnelInput("n", "h", 1, further_options={"x": "y" * 16 * 1024}),
            "further_options is longer than 16384 characters",
            "further_options",
            Reason.INVALID,
        ),
        (StoredTunnelInput("n", "h", 1, acl=("x",)), "invalid ACL entry 'x'", "acl", Reason.INVALID),
    ]
    for data, message, field, reason in cases:
        mark = factories.audit_mark(svc)
        with pytest.raises(ValidationFailed) as err:
            svc.stored_tunnels.save(admin, cid, data)
        assert (err.value.message, err.value.field, err.value.detail) == (
            message,
            field,
            {"field": field, "reason": reason},
        ), data
        assert rows(svc, mark) == [
            ("tunnel.stored.create", "computer", f"{cid}/", "invalid", {"error": message})
        ]
    # the limits themselves are accepted
    edge = StoredTunnelInput(
        "n" * 200, "h" * 255, 65535, public_port=65535, scheme="s" * 15, further_options={"x": "y" * 16375}
    )
    assert svc.stored_tunnels.save(admin, cid, edge).public_port == 65535
    assert (
        svc.stored_tunnels.save(admin, cid, StoredTunnelInput("one", "h", 1, public_port=1)).remote_port == 1
    )
    mark = factories.audit_mark(svc)
    with pytest.raises(Conflict) as clash:
        svc.stored_tunnels.save(admin, cid, StoredTunnelInput("ssh", "10.0.0.6", 23))
    assert (clash.value.message, clash.value.detail) == (
        "another stored tunnel with the same name 'ssh' exists",
        {"name": "ssh"},
    )
    with pytest.raises(Conflict):
        svc.stored_tunnels.save(
            admin, cid, StoredTunnelInput("ssh", "10.0.0.6", 23), edge_id(svc, admin, cid)
        )
    with pytest.raises(NotFound) as missing:
        svc.stored_tunnels.save(admin, cid, StoredTunnelInput("x", "h", 1), "no-such-id")
    assert missing.value.message == "stored tunnel no-such-id not found"
    with pytest.raises(NotFound) as gone:
        svc.stored_tunnels.delete(admin, cid, "no-such-id")
    assert gone.value.message == "stored tunnel no-such-id not found"
    got = rows(svc, mark)
    assert got[0] == (
        "tunnel.stored.create",
        "computer",
        f"{cid}/",
        "conflict",
        {"error": "another stored tunnel with the same name 'ssh' exists"},
    )
    assert got[-2:] == [
        (
            "tunnel.stored.update",
            "computer",
            f"{cid}/no-such-id",
            "not_found",
            {"error": "stored tunnel no-such-id not found"},
        ),
        (
            "tunnel.stored.delete",
            "computer",
            f"{cid}/no-such-id",
            "not_found",
            {"error": "stored tunnel no-such-id not found"},
        ),
    ]
    # reach: dev's group reaches web-*, not db-1; a viewer has no remote access
    assert [t.id for t in svc.stored_tunnels.find(dev, cid, Query(sort=(SortKey("name"),))).items][
        -1
    ] == kept.id
    for call in (
        lambda: svc.stored_tunnels.find(dev, db, Query()),
        lambda: svc.stored_tunnels.save(dev, db, StoredTunnelInput("x", "h", 1)),
        lambda: svc.stored_tunnels.delete(dev, db, kept.id),
        lambda: svc.stored_tunnels.find(admin, 999_999, Query()),
    ):
        with pytest.raises(NotFound):
            call()
    with pytest.raises(NotFound) as err2:
        svc.stored_tunnels.delete(dev, cid, "x")
    assert err2.value.message == "stored tunnel x not found"
    with pytest.raises(NotFound) as err3:  # another computer's preset is not this one's
        svc.stored_tunnels.delete(admin, db, kept.id)
    assert err3.value.message == f"stored tunnel {kept.id} not found"
    viewer = factories.user(svc, Role.VIEWER)
    with pytest.raises(PermissionDenied):
        svc.stored_tunnels.find(viewer, cid, Query())
    with pytest.raises(PermissionDenied):
        svc.stored_tunnels.save(viewer, cid, StoredTunnelInput("x", "h", 1))
    assert svc.stored_tunnels.find(admin, cid, Query(where=(Cond("name", Op.EQ, "ssh"),))).items == [kept]


def edge_id(svc: Services, admin: Actor, cid: int) -> str:
    return svc.stored_tunnels.find(admin, cid, Query(where=(Cond("name", Op.EQ, "n" * 200),))).items[0].id


@contextmanager
def another_process_saves_the_same_name_first(runtime: Runtime) -> Iterator[None]:
    """A trigger that inserts a preset of the same computer and name (another uid) just before
    the service's own insert, as another server process saving that name between this one's
    name check and its insert would (on SQLite the write lock serialises two processes, so
    only this reaches that moment); the twin goes with the failed transaction."""
    cols = "uid, computer_id, name, scheme, remote_ip, remote_port, public_port, acl, further_options"
    cols += ", created_at, created_by"
    values = "'twin-' || substr(NEW.uid, 6), " + ", ".join(f"NEW.{c.strip()}" for c in cols.split(",")[1:])
    insert = f"INSERT INTO stored_tunnels ({cols}) VALUES ({values});"
    with runtime.db.engine.begin() as conn:
        if BACKEND == "sqlite":
            conn.execute(text(f"CREATE TRIGGER twin BEFORE INSERT ON stored_tunnels BEGIN {insert} END"))
        else:
            conn.execute(
                text(
                    "CREATE FUNCTION twin() RETURNS trigger AS $$ BEGIN IF pg_trigger_depth() = 1 THEN"
                    f" {insert} END IF; RETURN NEW; END $$ LANGUAGE plpgsql"
                )
            )
            conn.execute(
                text(
                    "CREATE TRIGGER twin BEFORE INSERT ON stored_tunnels FOR EACH ROW EXECUTE FUNCTION twin()"
                )
            )
    try:
        yield
    finally:
        with runtime.db.engine.begin() as conn:
            if BACKEND == "sqlite":
                conn.execute(text("DROP TRIGGER twin"))
            else:
                conn.execute(text("DROP TRIGGER twin ON stored_tunnels"))
                conn.execute(text("DROP FUNCTION twin()"))


def test_a_name_saved_meanwhile_by_another_process_is_a_conflict_in_words(
    runtime: Runtime, svc: Services, admin: Actor
) -> None:
    """A preset name another process stored between the name check and the insert is the same
    Conflict, word for word and audited, as a name found by the check; nothing is kept."""
    cid = factories.computer(svc, ADMIN, "web-1", os="Linux")
    mark = factories.audit_mark(svc)
    with another_process_saves_the_same_name_first(runtime), pytest.raises(Conflict) as clash:
        svc.stored_tunnels.save(admin, cid, StoredTunnelInput("ssh", "10.0.0.5", 22))
    assert (clash.value.message, clash.value.detail) == (
        "another stored tunnel with the same name 'ssh' exists",
        {"name": "ssh"},
    )
    assert rows(svc, mark) == [
        (
            "tunnel.stored.create",
            "computer",
            f"{cid}/",
            "conflict",
            {"error": "another stored tunnel with the same name 'ssh' exists"},
        )
    ]
    assert svc.stored_tunnels.find(admin, cid, Query()).items == []
