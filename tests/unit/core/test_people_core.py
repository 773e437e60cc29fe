"""Core's end users (``core.people``) called directly: creation and its rules (every problem at
once), the conflicts of an address, pages, deletion, invitations by e-mail (the mail sent, its
link, renewal, expiry, acceptance) and the assignment of computers, each with its audit row.
The mail port is a recording stand-in; SMTP is tested in tests/unit/test_mail*.py."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, Role, system_actor
from fleetdeck.core.errors import Conflict, NotFound, PermissionDenied, Reason, Unavailable, ValidationFailed
from fleetdeck.core.mail.mailer import Mail
from fleetdeck.core.people.service import MAX_INVITES
from fleetdeck.core.secrets import Argon2Cost
from fleetdeck.core.services import CoreConfig, Services, build_services
from fleetdeck.settings import Settings
from tests import factories
from tests.conftest import SECRET
from tests.factories import ManualClock, RecordingMailer
from tests.unit.core.conftest import T0

ADMIN = system_actor("test")
GOOD = "secret-1"


@pytest.fixture
def outbox() -> RecordingMailer:
    return RecordingMailer()


@pytest.fixture
def svc(runtime: Runtime, settings: Settings, clock: ManualClock, outbox: RecordingMailer) -> Services:
    config = CoreConfig(payload_dir=settings.data_dir / "payloads", argon2=Argon2Cost(1, 8, 1))
    return build_services(runtime.db, SECRET, config, clock=clock, mailer=outbox)


def rows(svc: Services, mark: int) -> list[tuple[str, str, str, str, dict[str, Any]]]:
    return [
        (r.action, r.object_type, r.object_id, r.result, r.detail) for r in factories.audit_since(svc, mark)
    ]


def link_token(mail: Mail) -> str:
    [line] = [line for line in mail.text.splitlines() if "/invitations/" in line]
    return line.rsplit("/invitations/", 1)[1]


def test_an_end_user_is_made_with_trimmed_names_and_a_normal_address(svc: Services, admin: Actor) -> None:
    mark = factories.audit_mark(svc)
    made = svc.people.create(
        admin,
        first_name=" Ada ",
        last_name="Lovelace ",
        email=" Ada@Example.ORG ",
        password=GOOD,
        two_factor=True,
    )
    assert (made.email, made.first_name, made.last_name, made.two_factor, made.disabled, made.created_at) == (
        "ada@example.org",
        "Ada",
        "Lovelace",
        True,
        False,
        T0,
    )
    user = svc.users.get(admin, made.user_id)
    assert (user.username, user.role, user.full_name, user.email) == (
        "ada@example.org",
        Role.END_USER,
        "Ada Lovelace",
        "ada@example.org",
    )
    assert rows(svc, mark) == [
        (
            "end_user.create",
            "user",
            str(made.user_id),
            "ok",
            {"username": "ada@example.org", "role": "end_user", "two_factor": True},
        )
    ]
    assert svc.people.end_user_id(admin, "ADA@example.org ") == made.user_id
    page = svc.people.find(admin, 10, 0)
    assert (page.total, page.items) == (1, [made])
    other = svc.people.create(admin, first_name="Bob", last_name="B", email="bob@example.org", password=GOOD)
    assert other.two_factor is False
    assert svc.people.find(admin, 1, 1).items == [other]
    assert svc.people.find(admin, 0, 0).items == [] and svc.people.find(admin, 0, 0).total == 2
    assert svc.people.find(admin, 500, 0).total == 2


def test_every_broken_rule_is_reported_at_once(svc: Services, admin: Actor) -> None:
    mark = factories.audit_mark(svc)
    with pytest.raises(ValidationFailed) as err:
        svc.people.create(
            admin, first_name=" ", last_name="O'Brien", email="not-an-address", password="short"
        )
    assert err.value.message == ("first_name: blank; last_name: characters; email: format; password: length")
    assert err.value.detail == {
        "field": "first_name",
        "reason": Reason.INVALID,
        "problems": [
            ("first_name", "blank"),
            ("last_name", "characters"),
            ("email", "format"),
            ("password", "length"),
        ],
    }
    with pytest.raises(ValidationFailed) as err:
        svc.people.create(admin, first_name="A" * 101, last_name="B", email=" ", password="ä" * 21)
    assert err.value.detail["problems"] == [
        ("first_name", "length"),
        ("email", "blank"),
        ("password", "characters"),
        ("password", "length"),
    ]
    with pytest.raises(ValidationFailed) as err:
        svc.people.create(admin, first_name="A", last_name="B", email="a@" + "b" * 150, password="")
    assert err.value.detail["problems"] == [("email", "format"), ("password", "blank")]
    # the limits themselves are fine
    svc.people.create(admin, first_name="A" * 100, last_name="B", email="x@y", password="a" * 20)
    svc.people.create(admin, first_name="A", last_name="B", email="x2@y", password="~`!@#$")
    assert [r[0] for r in rows(svc, mark)] == ["end_user.create", "end_user.create"]


def test_an_address_in_use_is_a_conflict_of_its_kind(svc: Services, admin: Actor) -> None:
    svc.users.create(ADMIN, "boss@example.org", "admin-password-1", Role.ADMIN)
    svc.people.create(admin, first_name="Ada", last_name="L", email="ada@example.org", password=GOOD)
    svc.people.invite(admin, ["inv@example.org"], two_factor=False, link_base="http://fleet")
    for address, message, reason in [
        ("Boss@example.org", "boss@example.org is the name of another account", Reason.ACCOUNT_EXISTS),
        ("ADA@example.org", "ada@example.org is in use or invited", Reason.NAME_EXISTS),
        ("inv@example.org", "inv@example.org is in use or invited", Reason.NAME_EXISTS),
    ]:
        mark = factories.audit_mark(svc)
        with pytest.raises(Conflict) as err:
            svc.people.create(admin, first_name="X", last_name="Y", email=address, password=GOOD)
        assert (err.value.message, err.value.detail) == (message, {"field": "email", "reason": reason})
        assert rows(svc, mark) == [("end_user.create", "user", "", "conflict", {"error": message})]


def test_only_user_managers_handle_end_users(svc: Services, admin: Actor) -> None:
    operator = factories.user(svc, Role.OPERATOR)
    mark = factories.audit_mark(svc)
    with pytest.raises(PermissionDenied):
        svc.people.create(operator, first_name="", last_name="", email="", password="")
    with pytest.raises(PermissionDenied):
        svc.people.invite(operator, ["x" * 3] * (MAX_INVITES + 1), two_factor=False, link_base="")
    assert [(r[0], r[1], r[3]) for r in rows(svc, mark)] == [
        ("end_user.create", "user", "denied"),
        ("end_user.invite", "invitation", "denied"),
    ]
    for call in (
        lambda: svc.people.find(operator, 10, 0),
        lambda: svc.people.delete(operator, [], []),
        lambda: svc.people.assign(operator, "a@b", ["pc"]),
        lambda: svc.people.end_user_id(operator, "a@b"),
    ):
        with pytest.raises(PermissionDenied):
            call()
    for limit, offset in ((-1, 0), (501, 0), (10, -1)):
        with pytest.raises(ValidationFailed) as err:
            svc.people.find(admin, limit, offset)
        assert (err.value.message, err.value.field) == ("limit must be 0-500, offset not negative", "limit")


def test_end_users_and_invitations_are_deleted_each_on_its_own(svc: Services, admin: Actor) -> None:
    ada = svc.people.create(admin, first_name="Ada", last_name="L", email="ada@example.org", password=GOOD)
    svc.users.create(ADMIN, "boss@example.org", "admin-password-1", Role.ADMIN)
    svc.people.invite(admin, ["inv@example.org"], two_factor=False, link_base="http://fleet")
    mark = factories.audit_mark(svc)
    result = svc.people.delete(
        admin,
        ["ADA@example.org", "boss@example.org", "nobody@example.org"],
        ["Inv@example.org ", "ada@example.org"],
    )
    assert result.active == {"ADA@example.org": True, "boss@example.org": False, "nobody@example.org": False}
    assert result.invited == {"Inv@example.org ": True, "ada@example.org": False}
    assert rows(svc, mark) == [
        ("end_user.delete", "user", "", "ok", {"active": result.active, "invited": result.invited})
    ]
    assert svc.people.find(admin, 10, 0).total == 0
    with pytest.raises(NotFound):
        svc.users.get(admin, ada.user_id)
    assert svc.users.get(admin, admin.user_id or 0).username == admin.username  # other accounts stay
    # the invitation is gone: the address may be used again
    svc.people.create(admin, first_name="I", last_name="N", email="inv@example.org", password=GOOD)


def test_an_invitation_mails_a_link_that_makes_the_account_once(
    svc: Services, admin: Actor, outbox: RecordingMailer, clock: ManualClock
) -> None:
    svc.settings.set(ADMIN, "people.invitation_valid_hours", 2)
    svc.users.create(ADMIN, "boss@example.org", "admin-password-1", Role.ADMIN)
    mark = factories.audit_mark(svc)
    result = svc.people.invite(
        admin,
        [" New@Example.org", "new@example.org", "bad address", "BOSS@example.org", "two@example.org"],
        two_factor=True,
        link_base="http://fleet.local:8080/",
    )
    assert result.invited == ["new@example.org", "two@example.org"]
    assert result.invalid == ["new@example.org", "bad address", "BOSS@example.org"]
    assert rows(svc, mark) == [
        (
            "end_user.invite",
            "invitation",
            "",
            "ok",
            {
                "invited": ["new@example.org", "two@example.org"],
                "invalid": result.invalid,
                "two_factor": True,
            },
        )
    ]
    first, second = outbox.sent
    assert (first.to, first.subject) == (("new@example.org",), "You are invited to fleetdeck")
    token = link_token(first)
    assert first.text == (
        f"{admin.username} invited you to fleetdeck.\n\n"
        f"Choose your password here to accept the invitation:\nhttp://fleet.local:8080/invitations/{token}\n\n"
        "The link is valid for 2 hours.\n"
    )
    assert second.to == ("two@example.org",) and link_token(second) != token
    # a second invitation renews the link: the first stops working
    svc.settings.set(ADMIN, "server.public_url", "https://fleet.example/")
    svc.people.invite(admin, ["two@example.org"], two_factor=False, link_base="http://ignored")
    renewed = outbox.sent[-1]
    assert "https://fleet.example/invitations/" in renewed.text
    with pytest.raises(NotFound) as err:
        svc.people.accept(link_token(second), GOOD, "10.0.0.1", "web")
    assert err.value.message == "invitation (token) not found"
    # accepting makes the end user, as invited
    mark = factories.audit_mark(svc)
    clock.now = T0 + timedelta(hours=2) - timedelta(seconds=1)
    user = svc.people.accept(token, GOOD, "10.0.0.1", "web")
    assert (user.username, user.role, user.email, user.full_name, user.disabled, user.created_at) == (
        "new@example.org",
        Role.END_USER,
        "new@example.org",
        "",
        False,
        clock.now,
    )
    [row] = factories.audit_since(svc, mark)
    assert (row.username, row.source, row.via, row.action, row.object_type, row.result) == (
        "(invitation)",
        "10.0.0.1",
        "web",
        "invitation.accept",
        "invitation",
        "ok",
    )
    assert row.detail == {"username": "new@example.org", "user_id": user.id}
    [made] = [e for e in svc.people.find(admin, 10, 0).items if e.user_id == user.id]
    assert made.two_factor is True
    with pytest.raises(NotFound):
        svc.people.accept(token, GOOD, "10.0.0.1", "web")
    # expired exactly at its end; a bad password is refused first
    clock.now = T0 + timedelta(hours=2)
    renewed_token = link_token(renewed)
    mark = factories.audit_mark(svc)
    with pytest.raises(ValidationFailed) as bad:
        svc.people.accept(renewed_token, "x", "10.0.0.1", "web")
    assert bad.value.message == "password: length"
    clock.now = T0 + timedelta(hours=2)  # renewed at T0 too: valid until T0 + 2 h
    with pytest.raises(ValidationFailed) as expired:
        svc.people.accept(renewed_token, GOOD, "10.0.0.1", "web")
    assert (expired.value.message, expired.value.detail) == (
        "the invitation has expired",
        {"field": "token", "reason": Reason.EXPIRED},
    )
    got = rows(svc, mark)
    assert got[-1][1:] == ("invitation", got[-1][2], "invalid", {"error": "the invitation has expired"})
    assert got[-1][2] != ""
    with pytest.raises(NotFound):
        svc.people.accept(renewed_token + "x" * 200, GOOD, "10.0.0.1", "web")


def test_invitations_need_a_mail_server_and_are_bounded(
    svc: Services, admin: Actor, outbox: RecordingMailer
) -> None:
    with pytest.raises(ValidationFailed) as err:
        svc.people.invite(admin, ["a@b"] * (MAX_INVITES + 1), two_factor=False, link_base="http://f")
    assert (err.value.message, err.value.detail) == (
        "at most 500 addresses at once",
        {"field": "email", "reason": Reason.TOO_MANY},
    )
    assert (
        len(
            svc.people.invite(
                admin, [f"u{n}@b" for n in range(MAX_INVITES)], two_factor=False, link_base="x"
            ).invited
        )
        == 500
    )
    outbox.ready = False
    with pytest.raises(Unavailable) as off:
        svc.people.invite(admin, ["c@d"], two_factor=False, link_base="http://f")
    assert off.value.message == "no SMTP server or sender configured (smtp.host, smtp.sender)"
    assert len(outbox.sent) == 500


def test_computers_are_assigned_to_end_users_only(svc: Services, admin: Actor) -> None:
    ada = svc.people.create(admin, first_name="Ada", last_name="L", email="ada@example.org", password=GOOD)
    pcs = {name: factories.computer(svc, ADMIN, name) for name in ("pc-1", "pc-2", "pc-3")}
    mark = factories.audit_mark(svc)
    assert svc.people.assign(admin, "ADA@example.org", ["pc-2", "pc-1", "pc-2"]) == sorted(
        [pcs["pc-1"], pcs["pc-2"]]
    )
    assert svc.people.assign(admin, "ada@example.org", ["pc-3", "pc-1"]) == sorted([pcs["pc-1"], pcs["pc-3"]])
    assert svc.people.assigned(admin, ada.user_id) == sorted(pcs.values())
    assert svc.people.unassign(admin, "ada@example.org", ["pc-1", "pc-2"]) == sorted(
        [pcs["pc-1"], pcs["pc-2"]]
    )
    assert svc.people.unassign(admin, "ada@example.org", ["pc-1"]) == [pcs["pc-1"]]
    assert rows(svc, mark) == [
        (
            "end_user.assign",
            "user",
            str(ada.user_id),
            "ok",
            {"computers": sorted([pcs["pc-1"], pcs["pc-2"]]), "added": sorted([pcs["pc-1"], pcs["pc-2"]])},
        ),
        (
            "end_user.assign",
            "user",
            str(ada.user_id),
            "ok",
            {"computers": sorted([pcs["pc-1"], pcs["pc-3"]]), "added": [pcs["pc-3"]]},
        ),
        (
            "end_user.unassign",
            "user",
            str(ada.user_id),
            "ok",
            {"computers": sorted([pcs["pc-1"], pcs["pc-2"]]), "removed": sorted([pcs["pc-1"], pcs["pc-2"]])},
        ),
        ("end_user.unassign", "user", str(ada.user_id), "ok", {"computers": [pcs["pc-1"]], "removed": []}),
    ]
    assert svc.people.assigned(admin, ada.user_id) == [pcs["pc-3"]]
    me = Actor(user_id=ada.user_id, username="ada@example.org", role=Role.END_USER)
    assert svc.people.assigned(me, ada.user_id) == [pcs["pc-3"]]
    with pytest.raises(PermissionDenied):
        svc.people.assigned(me, admin.user_id or 0)
    with pytest.raises(NotFound) as err:
        svc.people.assigned(admin, 999_999)
    assert err.value.message == "user 999999 not found"
    # refusals
    with pytest.raises(ValidationFailed) as err2:
        svc.people.assign(admin, " ", ["pc-1"])
    assert (err2.value.message, err2.value.field) == ("name the user", "username")
    with pytest.raises(ValidationFailed) as err2:
        svc.people.unassign(admin, "ada@example.org", [])
    assert (err2.value.message, err2.value.field) == ("name the computers", "computer_names")
    for who in ("admin", "nobody@example.org"):
        with pytest.raises(NotFound) as err3:
            svc.people.assign(admin, who, ["pc-1"])
        assert err3.value.message == f"user {who} not found"
        with pytest.raises(NotFound):
            svc.people.end_user_id(admin, who)
    with pytest.raises(NotFound) as err3:
        svc.people.assign(admin, "ada@example.org", ["pc-1", "pc-9"])
    assert err3.value.message == "computer pc-9 not found"
    assert svc.people.assigned(admin, ada.user_id) == [pcs["pc-3"]]
