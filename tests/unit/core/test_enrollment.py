"""Enrollment tokens and agent credentials through core: which tokens enroll, what a
re-enrolling machine keeps, and how agents and opsi hosts prove who they are."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fleetdeck.app import Runtime
from fleetdeck.core.audit import AuditRecord
from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.enrollment.identity import HardwareFacts, same_hardware
from fleetdeck.core.enrollment.service import (
    MAX_LOOKALIKES,
    RETRY_WINDOW,
    TOKEN_PREFIX,
    AgentCredentials,
    EnrollmentService,
    agent_actor,
)
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
    # The same machine enrolling again, nobody having allowed it: a computer of its own (a clone
    # looks the same), and the enrolled agent keeps working.
    again = enrollment.enroll(token, hostname="PREREG", machine_id="m" * 64, agent_version="2", source="")
    assert again.computer_id != registered and again.clone_of == registered
    assert again.replaced_enrollment is None
    assert enrollment.authenticate_agent(creds.uid, creds.key).computer_id == registered
    assert enrollment.authenticate_agent(again.uid, again.key).computer_id == again.computer_id
    # Another machine with the same name is another computer.
    other = enrollment.enroll(token, hostname="prereg", machine_id="other", agent_version="2", source="")
    assert other.computer_id not in {registered, again.computer_id} and other.uid != creds.uid
    assert other.clone_of is None
    # Without a machine id, an enrolled name is not taken over either.
    anon = enrollment.enroll(token, hostname="prereg", machine_id="", agent_version="2", source="")
    assert anon.computer_id not in {registered, again.computer_id, other.computer_id}
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


def test_a_login_by_mac_checks_the_keys_of_at_most_50_computers(svc: Services) -> None:
    """The work of one login by MAC is bounded: a MAC recorded for more computers than that
    (a cloned image) has its key compared with 50 of them, so of 51 computers sharing one, one
    cannot log in by it (whichever the database reads last)."""
    for i in range(51):
        svc.computers.put(
            ADMIN,
            f"clone{i}.{DOMAIN}",
            default_domain=DOMAIN,
            record={"mac": "AA:BB:CC:DD:EE:50", "host_key": f"{i:032x}"},
        )
    refused = 0
    for i in range(51):
        try:
            identity, name = svc.enrollment.authenticate_host_by_mac("aa:bb:cc:dd:ee:50", f"{i:032x}", DOMAIN)
        except AuthenticationFailed:
            refused += 1
        else:
            assert (identity.hostname, name) == (f"clone{i}", f"clone{i}.{DOMAIN}")
    assert refused == 1


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
    enrollment.allow_reenroll(ADMIN, first.computer_id)  # the same machine, re-enrolled on purpose
    again = enrollment.enroll(token, hostname="c", machine_id="c", agent_version="1", source="")
    assert again.computer_id == first.computer_id and again.key != first.key
    assert enrollment.agent_keys(OPERATOR, None) == {first.computer_id: again.key}  # new ciphertext


def test_agent_actor() -> None:
    actor = agent_actor(7, "h" * 200, "10.0.0.1")
    assert actor.username == ("agent:" + "h" * 200)[:150] and actor.role is Role.VIEWER
    assert (actor.user_id, actor.source, actor.via, actor.read_only) == (None, "10.0.0.1", "agent", False)


def add_macs(runtime: Runtime, computer_id: int, *macs: str) -> None:
    """What the computer's inventory would have stored."""
    with UnitOfWork(runtime.db) as uow:
        for i, mac in enumerate(macs):
            uow.session.add(ComputerInterface(computer_id=computer_id, name=f"eth{i}", mac=mac, addresses=[]))


def enroll_as(
    enrollment: EnrollmentService,
    token: str,
    machine_id: str = "m1",
    hardware_uuid: str = "",
    macs: tuple[str, ...] | list[str] = (),
) -> AgentCredentials:
    return enrollment.enroll(
        token,
        hostname="pc1",
        machine_id=machine_id,
        agent_version="1.0",
        source="10.0.0.9",
        hardware_uuid=hardware_uuid,
        macs=macs,
    )


def audit_of(svc: Services, action: str) -> list[AuditRecord]:
    return list(svc.audit.find(ADMIN, Query(where=(Cond("action", Op.EQ, action),))).items)


def test_an_allowed_reenroll_of_the_same_machine_replaces_its_agent(
    enrollment: EnrollmentService, svc: Services, clock: Clock, runtime: Runtime
) -> None:
    token = enrollment.create_token(ADMIN, expires_in=None).token
    first = enroll_as(enrollment, token, macs=["aa:bb:cc:00:00:01"])
    add_macs(runtime, first.computer_id, "aa:bb:cc:00:00:01", "00:00:00:00:00:00")
    until = enrollment.allow_reenroll(OPERATOR, first.computer_id, timedelta(hours=2))
    assert utc(until) == T0 + timedelta(hours=2)
    clock.now = T0 + timedelta(hours=1)
    second = enroll_as(enrollment, token, macs=["AA-BB-CC-00-00-01", "aa:bb:cc:00:00:09"])
    assert (second.computer_id, second.uid) == (first.computer_id, first.uid)
    assert second.replaced_enrollment == clock.now and second.key != first.key
    with pytest.raises(AuthenticationFailed):
        enrollment.authenticate_agent(first.uid, first.key)  # the replaced agent is locked out
    ident = enrollment.authenticate_agent(second.uid, second.key)
    assert utc(ident.enrolled_at) == clock.now
    # Audited: who allowed it, and the replacement with what it replaced.
    [allowed] = audit_of(svc, "computer.allow_reenroll")
    assert (allowed.username, allowed.object_id) == ("op", str(first.computer_id))
    assert allowed.detail["until"] == (T0 + timedelta(hours=2)).isoformat()
    [reenroll] = audit_of(svc, "agent.reenroll")
    assert reenroll.object_id == str(first.computer_id) and reenroll.detail["hardware"] == "same"
    assert reenroll.detail["previous"]["enrolled_at"] == T0.isoformat()
    assert audit_of(svc, "agent.enroll")[0].detail["replaced"] is True
    # The permission was for one re-enrollment: the next agent on this machine is a clone.
    third = enroll_as(enrollment, token, macs=["aa:bb:cc:00:00:01"])
    assert third.computer_id != first.computer_id and third.clone_of == first.computer_id
    assert enrollment.authenticate_agent(second.uid, second.key).computer_id == first.computer_id


@pytest.mark.parametrize(
    ("known", "new", "verdict"),
    [
        (HardwareFacts.of("UUID-1", []), HardwareFacts.of("{uuid-1}", []), True),
        (
            HardwareFacts.of("uuid-1", ["aa:00:00:00:00:01"]),
            HardwareFacts.of("uuid-2", ["aa:00:00:00:00:01"]),
            False,
        ),
        (
            HardwareFacts.of("", ["aa:00:00:00:00:01"]),
            HardwareFacts.of("uuid-2", ["AA-00-00-00-00-01"]),
            True,
        ),
        (HardwareFacts.of("", ["aa:00:00:00:00:01"]), HardwareFacts.of("", ["aa:00:00:00:00:02"]), False),
        (HardwareFacts.of("", ["00:00:00:00:00:00"]), HardwareFacts.of("", ["00:00:00:00:00:00"]), None),
        (HardwareFacts.of("00000000-0000-0000-0000-000000000000", []), HardwareFacts.of("", []), None),
        (HardwareFacts.of("", []), HardwareFacts.of("uuid-1", ["aa:00:00:00:00:01"]), None),
    ],
)
def test_hardware_verdicts(known: HardwareFacts, new: HardwareFacts, verdict: bool | None) -> None:
    assert same_hardware(known, new) is verdict


def test_a_clone_on_other_hardware_never_replaces(
    enrollment: EnrollmentService, svc: Services, clock: Clock
) -> None:
    token = enrollment.create_token(ADMIN, expires_in=None).token
    first = enroll_as(enrollment, token, hardware_uuid="uuid-a", macs=["aa:00:00:00:00:01"])
    enrollment.allow_reenroll(ADMIN, first.computer_id)
    # Same machine id, another firmware UUID: a clone, even though re-enrolling is allowed.
    clone = enroll_as(enrollment, token, hardware_uuid="uuid-b", macs=["aa:00:00:00:00:01"])
    assert clone.computer_id != first.computer_id and clone.replaced_enrollment is None
    assert enrollment.authenticate_agent(first.uid, first.key).computer_id == first.computer_id
    note = audit_of(svc, "agent.enroll")[0].detail
    assert (note["clone_of"], note["hardware"], note["reenroll_allowed"]) == (
        first.computer_id,
        "different",
        True,
    )
    assert audit_of(svc, "agent.reenroll") == []
    # An OS re-install with a new machine id on the same hardware, within the permission: replaced.
    reinstall = enroll_as(enrollment, token, machine_id="m-new", hardware_uuid="UUID-A")
    assert reinstall.computer_id == first.computer_id and reinstall.replaced_enrollment is not None
    assert svc.computers.get(ADMIN, first.computer_id).machine_id == "m-new"
    # A permission that ran out allows nothing.
    enrollment.allow_reenroll(ADMIN, first.computer_id, timedelta(minutes=5))
    clock.now = T0 + timedelta(minutes=5)
    late = enroll_as(enrollment, token, machine_id="m-new", hardware_uuid="uuid-a")
    assert late.computer_id != first.computer_id and late.clone_of == first.computer_id


def test_allowing_a_reenroll_is_an_admins_decision(enrollment: EnrollmentService, svc: Services) -> None:
    token = enrollment.create_token(ADMIN, expires_in=None).token
    first = enroll_as(enrollment, token)
    with pytest.raises(PermissionDenied):
        enrollment.allow_reenroll(VIEWER, first.computer_id)
    with pytest.raises(NotFound):
        enrollment.allow_reenroll(ADMIN, 999_999)
    with pytest.raises(ValidationFailed):
        enrollment.allow_reenroll(ADMIN, first.computer_id, timedelta(0))
    enrollment.allow_reenroll(ADMIN, first.computer_id)
    assert enrollment.allow_reenroll(ADMIN, first.computer_id, None) is None  # taken back
    assert enroll_as(enrollment, token).clone_of == first.computer_id
    assert enrollment.authenticate_agent(first.uid, first.key).computer_id == first.computer_id
    results = {(r.action, r.result) for r in svc.audit.find(ADMIN, Query()).items}
    assert {
        ("computer.allow_reenroll", "denied"),
        ("computer.allow_reenroll", "not_found"),
        ("computer.allow_reenroll", "ok"),
        ("computer.disallow_reenroll", "ok"),
    } <= results


def test_the_allowed_one_among_many_lookalikes_is_found(enrollment: EnrollmentService) -> None:
    """A golden image's clones all share its machine id; the one an admin allowed to re-enroll is
    found however many came before it."""
    token = enrollment.create_token(ADMIN, expires_in=None).token
    clones = [enroll_as(enrollment, token).computer_id for _ in range(MAX_LOOKALIKES + 2)]
    enrollment.allow_reenroll(ADMIN, clones[-1])
    again = enroll_as(enrollment, token)
    assert again.computer_id == clones[-1] and again.replaced_enrollment is not None


def test_a_retried_attempt_gets_its_computer_back_once_per_token_use(
    enrollment: EnrollmentService, svc: Services, clock: Clock
) -> None:
    """Core called twice with one attempt id (the first answer lost): the same computer with a
    fresh key, no second use, audited as a retry; past RETRY_WINDOW it is a new enrollment."""
    new = enrollment.create_token(ADMIN, expires_in=None, max_uses=2)
    first = enrollment.enroll(
        new.token, hostname="pc1", machine_id="m1", agent_version="1", source="x", attempt="att-1"
    )
    clock.now = T0 + timedelta(minutes=5)
    again = enrollment.enroll(
        new.token, hostname="pc1", machine_id="m1", agent_version="1", source="x", attempt="att-1"
    )
    assert (again.computer_id, again.uid) == (first.computer_id, first.uid)
    assert again.key != first.key and again.replaced_enrollment is None
    with pytest.raises(AuthenticationFailed):
        enrollment.authenticate_agent(first.uid, first.key)
    assert utc(enrollment.authenticate_agent(again.uid, again.key).enrolled_at) == clock.now
    [info] = enrollment.list_tokens(ADMIN)
    assert info.uses == 1
    retry = [a for a in audit_of(svc, "agent.enroll") if a.detail.get("retry")]
    assert [(a.object_id, a.detail["enroll_token_id"]) for a in retry] == [
        (str(first.computer_id), new.info.id)
    ]
    # Too late for a retry: the same attempt is a new enrollment (and a new use).
    clock.now = T0 + RETRY_WINDOW + timedelta(minutes=6)
    late = enrollment.enroll(
        new.token, hostname="pc1", machine_id="m1", agent_version="1", source="x", attempt="att-1"
    )
    assert late.computer_id != first.computer_id
    [info] = enrollment.list_tokens(ADMIN)
    assert info.uses == 2
