"""Enrollment tokens and agent credentials through core: which tokens enroll, what a
re-enrolling machine keeps, and how agents and opsi hosts prove who they are."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.enrollment.service import TOKEN_PREFIX, EnrollmentService, agent_actor
from fleetdeck.core.errors import AuthenticationFailed, NotFound, PermissionDenied, ValidationFailed
from fleetdeck.core.query import Cond, Op, Query
from fleetdeck.core.services import CoreConfig, Services, build_services
from fleetdeck.storage.tables import ComputerInterface
from fleetdeck.storage.uow import UnitOfWork
from tests.conftest import SECRET

ADMIN = Actor(user_id=None, username="alice", role=Role.ADMIN, via="test")
VIEWER = Actor(user_id=None, username="v", role=Role.VIEWER)
OPERATOR = Actor(user_id=None, username="op", role=Role.OPERATOR)
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
DOMAIN = "corp.example"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def svc(runtime: Runtime, clock: Clock) -> Services:
    return build_services(runtime.db, SECRET, CoreConfig(), clock=clock)


@pytest.fixture
def enrollment(svc: Services) -> EnrollmentService:
    return svc.enrollment


def enroll(enrollment: EnrollmentService, token: str, hostname: str = "pc1", machine_id: str = "m1") -> int:
    return enrollment.enroll(
        token, hostname=hostname, machine_id=machine_id, agent_version="1.0", source="10.0.0.9"
    ).computer_id


def utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def test_tokens_are_created_listed_and_revoked(enrollment: EnrollmentService, svc: Services) -> None:
    made = enrollment.create_token(OPERATOR, max_uses=3, note="n" * 300)
    assert made.token.startswith(TOKEN_PREFIX) and len(made.token) > len(TOKEN_PREFIX) + 24
    info = made.info
    assert (info.note, info.created_by, info.max_uses, info.uses, info.revoked) == (
        "n" * 255,
        "op",
        3,
        0,
        False,
    )
    assert utc(info.created_at) == T0 and utc(info.expires_at) == T0 + timedelta(days=1)
    forever = enrollment.create_token(ADMIN, expires_in=None)
    assert forever.info.expires_at is None and forever.info.max_uses is None
    assert forever.token != made.token
    assert [t.id for t in enrollment.list_tokens(ADMIN)] == [made.info.id, forever.info.id]
    page = svc.audit.find(ADMIN, Query(where=(Cond("action", Op.EQ, "enroll_token.create"),)))
    assert page.items[-1].object_id == str(made.info.id)
    assert page.items[-1].detail == {"max_uses": 3, "expires_at": (T0 + timedelta(days=1)).isoformat()}
    assert page.items[0].detail == {"max_uses": None, "expires_at": None}
    enrollment.revoke_token(ADMIN, made.info.id)
    assert [t.revoked for t in enrollment.list_tokens(ADMIN)] == [True, False]
    with pytest.raises(NotFound):
        enrollment.revoke_token(ADMIN, 4242)
    for call in (
        lambda: enrollment.create_token(VIEWER),
        lambda: enrollment.list_tokens(VIEWER),
        lambda: enrollment.revoke_token(VIEWER, forever.info.id),
    ):
        with pytest.raises(PermissionDenied):
            call()


def test_bad_token_limits_are_refused(enrollment: EnrollmentService) -> None:
    with pytest.raises(ValidationFailed) as err:
        enrollment.create_token(ADMIN, max_uses=0)
    assert err.value.field == "uses"
    for expires in (timedelta(0), timedelta(seconds=-1)):
        with pytest.raises(ValidationFailed) as err:
            enrollment.create_token(ADMIN, expires_in=expires)
        assert err.value.field == "expires"
    assert enrollment.create_token(ADMIN, max_uses=1, expires_in=timedelta(seconds=1)).info.max_uses == 1


def test_tokens_enroll_until_used_up_expired_or_revoked(
    enrollment: EnrollmentService, svc: Services, clock: Clock
) -> None:
    twice = enrollment.create_token(ADMIN, max_uses=2, expires_in=timedelta(hours=1))
    a = enroll(enrollment, twice.token, "a", "ma")
    b = enroll(enrollment, twice.token, "b", "mb")
    assert a != b
    with pytest.raises(AuthenticationFailed):
        enroll(enrollment, twice.token, "c", "mc")
    assert enrollment.list_tokens(ADMIN)[0].uses == 2
    later = enrollment.create_token(ADMIN, expires_in=timedelta(hours=1))
    clock.now = T0 + timedelta(minutes=59)
    enroll(enrollment, later.token, "d", "md")
    clock.now = T0 + timedelta(hours=1)  # expiring now means expired
    with pytest.raises(AuthenticationFailed):
        enroll(enrollment, later.token, "e", "me")
    revoked = enrollment.create_token(ADMIN, expires_in=None)
    enrollment.revoke_token(ADMIN, revoked.info.id)
    with pytest.raises(AuthenticationFailed):
        enroll(enrollment, revoked.token, "f", "mf")
    with pytest.raises(AuthenticationFailed):
        enroll(enrollment, "fde_not-a-token", "g", "mg")
    unlimited = enrollment.create_token(ADMIN, expires_in=None)
    for n in range(3):
        enroll(enrollment, unlimited.token, f"u{n}", f"mu{n}")
    page = svc.audit.find(ADMIN, Query(where=(Cond("action", Op.EQ, "agent.enroll"),)))
    failed = [e for e in page.items if e.result != "ok"]
    assert [(e.username, e.result) for e in failed] == [(f"agent:{h}", "failed") for h in "gfec"]
    ok = [e for e in page.items if e.result == "ok"]
    assert ok[-1].detail == {"hostname": "a", "enroll_token_id": twice.info.id}
    assert ok[-1].object_id == str(a) and ok[-1].via == "agent" and ok[-1].source == "10.0.0.9"
    with pytest.raises(ValidationFailed) as err:
        enrollment.enroll(unlimited.token, hostname="  ", machine_id="", agent_version="1", source="")
    assert err.value.field == "hostname"


def test_enrolling_creates_or_takes_over_computers(enrollment: EnrollmentService, svc: Services) -> None:
    token = enrollment.create_token(ADMIN, expires_in=None).token
    registered = svc.computers.create(ADMIN, "PreReg").id
    creds = enrollment.enroll(
        token, hostname=" prereg ", machine_id="m" * 70, agent_version="v" * 60, source=""
    )
    assert creds.computer_id == registered  # pre-registered under this name: taken over
    assert len(creds.key) == 32 and int(creds.key, 16) >= 0
    detail = svc.computers.get(ADMIN, registered)
    assert detail.summary.agent_version == "v" * 50
    # The same machine enrolling again (agent reinstalled) keeps its computer, with a new key.
    again = enrollment.enroll(token, hostname="PREREG", machine_id="m" * 64, agent_version="2", source="")
    assert again.computer_id == registered and again.uid == creds.uid and again.key != creds.key
    with pytest.raises(AuthenticationFailed):
        enrollment.authenticate_agent(creds.uid, creds.key)  # the old key no longer works
    assert enrollment.authenticate_agent(again.uid, again.key).computer_id == registered
    # Another machine with the same name is another computer.
    other = enrollment.enroll(token, hostname="prereg", machine_id="other", agent_version="2", source="")
    assert other.computer_id != registered and other.uid != creds.uid
    # Without a machine id, an enrolled name is not taken over either.
    anon = enrollment.enroll(token, hostname="prereg", machine_id="", agent_version="2", source="")
    assert anon.computer_id not in {registered, other.computer_id}
    created = svc.computers.get(ADMIN, other.computer_id)
    assert created.summary.hostname == "prereg"
    long_name = enrollment.enroll(token, hostname="h" * 300, machine_id="", agent_version="", source="")
    assert svc.computers.get(ADMIN, long_name.computer_id).summary.hostname == "h" * 255


def test_agents_authenticate_with_uid_and_key(enrollment: EnrollmentService, svc: Services) -> None:
    token = enrollment.create_token(ADMIN, expires_in=None).token
    creds = enrollment.enroll(token, hostname="pc1", machine_id="m", agent_version="1", source="")
    identity = enrollment.authenticate_agent(creds.uid, creds.key)
    assert (identity.computer_id, identity.uid, identity.hostname, identity.inventory_digest) == (
        creds.computer_id,
        creds.uid,
        "pc1",
        "",
    )
    for uid, key in ((creds.uid, "0" * 32), ("unknown", creds.key), (creds.uid + "x" * 100, creds.key)):
        with pytest.raises(AuthenticationFailed):
            enrollment.authenticate_agent(uid, key)
    never_enrolled = svc.computers.get(ADMIN, svc.computers.create(ADMIN, "bare").id).summary
    with pytest.raises(AuthenticationFailed):
        enrollment.authenticate_agent(never_enrolled.uid, "")


def test_hosts_authenticate_with_qualified_name_or_mac(
    enrollment: EnrollmentService, svc: Services, runtime: Runtime
) -> None:
    token = enrollment.create_token(ADMIN, expires_in=None).token
    pc1 = enrollment.enroll(token, hostname="PC1", machine_id="m1", agent_version="1", source="")
    pc2 = enrollment.enroll(token, hostname="pc1", machine_id="m2", agent_version="1", source="")
    svc.computers.update(ADMIN, pc2.computer_id, fqdn="pc1.other.example")
    with UnitOfWork(runtime.db) as uow:
        uow.session.add(
            ComputerInterface(computer_id=pc1.computer_id, name="eth0", mac="aa:bb:cc:dd:ee:01", addresses=[])
        )
        uow.session.add(
            ComputerInterface(computer_id=pc2.computer_id, name="eth0", mac="AA:BB:CC:DD:EE:02", addresses=[])
        )
    got = enrollment.authenticate_host(" PC1.Corp.Example ", pc1.key, DOMAIN)
    assert (got.computer_id, got.uid, got.hostname) == (pc1.computer_id, pc1.uid, "PC1")
    assert enrollment.authenticate_host("pc1.other.example", pc2.key, DOMAIN).computer_id == pc2.computer_id
    for name, key in (
        ("pc1.corp.example", pc2.key),  # the other computer's key
        ("pc1.other.example", pc1.key),
        ("pc1.wrong.example", pc1.key),
        ("pc1", pc1.key),
        ("nobody.corp.example", pc1.key),
    ):
        with pytest.raises(AuthenticationFailed):
            enrollment.authenticate_host(name, key, DOMAIN)

    identity, name = enrollment.authenticate_host_by_mac(" AA-BB-CC-DD-EE-01 ", pc1.key, DOMAIN)
    assert (identity.computer_id, identity.uid, identity.hostname, name) == (
        pc1.computer_id,
        pc1.uid,
        "PC1",
        "pc1.corp.example",
    )
    identity, name = enrollment.authenticate_host_by_mac("aa:bb:cc:dd:ee:02", pc2.key, DOMAIN)
    assert (identity.computer_id, name) == (pc2.computer_id, "pc1.other.example")
    for mac, key in (("aa:bb:cc:dd:ee:01", pc2.key), ("aa:bb:cc:dd:ee:03", pc1.key)):
        with pytest.raises(AuthenticationFailed):
            enrollment.authenticate_host_by_mac(mac, key, DOMAIN)


def test_agent_keys_are_shown_to_computer_managers_only(enrollment: EnrollmentService, svc: Services) -> None:
    token = enrollment.create_token(ADMIN, expires_in=None).token
    a = enrollment.enroll(token, hostname="a", machine_id="a", agent_version="1", source="")
    b = enrollment.enroll(token, hostname="b", machine_id="b", agent_version="1", source="")
    bare = svc.computers.create(ADMIN, "bare").id
    assert enrollment.agent_keys(OPERATOR, [a.computer_id, b.computer_id, bare, 4242]) == {
        a.computer_id: a.key,
        b.computer_id: b.key,
    }
    assert enrollment.agent_key(OPERATOR, b.computer_id) == b.key
    assert enrollment.agent_key(ADMIN, bare) is None
    assert enrollment.agent_key(ADMIN, 4242) is None
    with pytest.raises(PermissionDenied):
        enrollment.agent_keys(VIEWER, [a.computer_id])
    with pytest.raises(PermissionDenied):
        enrollment.agent_key(VIEWER, a.computer_id)
    assert enrollment.agent_keys(OPERATOR, None) == {a.computer_id: a.key, b.computer_id: b.key}


def test_remembered_agent_keys_follow_a_new_key(enrollment: EnrollmentService) -> None:
    token = enrollment.create_token(ADMIN, expires_in=None).token
    first = enrollment.enroll(token, hostname="c", machine_id="c", agent_version="1", source="")
    assert enrollment.agent_keys(OPERATOR, [first.computer_id]) == {first.computer_id: first.key}
    assert enrollment.agent_keys(OPERATOR, None) == {first.computer_id: first.key}  # remembered
    again = enrollment.enroll(token, hostname="c", machine_id="c", agent_version="1", source="")
    assert again.computer_id == first.computer_id and again.key != first.key
    assert enrollment.agent_keys(OPERATOR, None) == {first.computer_id: again.key}  # new ciphertext


def test_agent_actor() -> None:
    actor = agent_actor(7, "h" * 200, "10.0.0.1")
    assert actor.username == ("agent:" + "h" * 200)[:150] and actor.role is Role.VIEWER
    assert (actor.user_id, actor.source, actor.via, actor.read_only) == (None, "10.0.0.1", "agent", False)
