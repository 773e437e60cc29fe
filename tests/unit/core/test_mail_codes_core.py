"""Core's second factor by e-mail (``core.users.mailcode``) called directly: the mail (address,
subject, text with the code, its lifetime, the login it is for), single use, expiry at the exact
second, the code bound to its half login and user, wrong codes counted and the code dropped
after the fifth, the throttle, the refusals, and the audit rows (never the code)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, Role, system_actor
from fleetdeck.core.errors import (
    AuthenticationFailed,
    Conflict,
    TooManyAttempts,
    Unavailable,
    ValidationFailed,
)
from fleetdeck.core.mail.mailer import Mail
from fleetdeck.core.secrets import Argon2Cost
from fleetdeck.core.services import CoreConfig, Services, build_services
from fleetdeck.settings import Settings
from tests import factories
from tests.conftest import SECRET
from tests.factories import ManualClock, RecordingMailer
from tests.unit.core.conftest import T0

ADMIN = system_actor("test")
SRC = "10.0.0.7"


@pytest.fixture
def outbox() -> RecordingMailer:
    return RecordingMailer()


@pytest.fixture
def svc(runtime: Runtime, settings: Settings, clock: ManualClock, outbox: RecordingMailer) -> Services:
    config = CoreConfig(payload_dir=settings.data_dir / "payloads", argon2=Argon2Cost(1, 8, 1))
    return build_services(runtime.db, SECRET, config, clock=clock, mailer=outbox)


def half_login(svc: Services, name: str, send_to: str = "") -> tuple[Actor, int]:
    svc.users.create(ADMIN, name, factories.PASSWORD, Role.OPERATOR, two_fa_send_to=send_to)
    actor, started = svc.sessions.login(name, factories.PASSWORD, SRC, "web", stage="second_factor")
    return actor, started.info.id


def code_of(mail: Mail) -> str:
    found = re.match(r"Your verification code: (\d{6})\n", mail.text)
    assert found is not None, mail.text
    return found.group(1)


def rows(svc: Services, mark: int) -> list[tuple[str, str, str, dict[str, Any]]]:
    return [(r.action, r.object_id, r.result, r.detail) for r in factories.audit_since(svc, mark)]


def test_a_mailed_code_finishes_its_login_once(svc: Services, outbox: RecordingMailer) -> None:
    actor, sid = half_login(svc, "alice", " alice@example.org ")
    mark = factories.audit_mark(svc)
    assert svc.mail_codes.send(actor, sid, 300, "Your fleetdeck code") == "alice@example.org"
    [mail] = outbox.sent
    code = code_of(mail)
    assert (mail.to, mail.subject) == (("alice@example.org",), "Your fleetdeck code")
    assert mail.text == (
        f"Your verification code: {code}\n\n"
        f"It is valid for 5 minutes, once, for the login of alice from {SRC}.\n"
        "If you did not try to log in, someone knows your password: change it.\n"
    )
    svc.mail_codes.verify(actor, sid, f" {code} ")
    with pytest.raises(AuthenticationFailed) as again:
        svc.mail_codes.verify(actor, sid, code)
    assert again.value.message == "invalid code"
    uid = str(actor.user_id)
    assert rows(svc, mark) == [
        ("auth.second_factor.mail", uid, "ok", {"send_to": "alice@example.org"}),
        ("auth.second_factor", uid, "ok", {"via": "mail"}),
        ("auth.second_factor", uid, "failed", {"via": "mail"}),
    ]
    assert code not in str(factories.audit_since(svc, mark))


def test_the_mail_says_one_minute_and_an_unknown_address(svc: Services, outbox: RecordingMailer) -> None:
    svc.users.create(ADMIN, "bob", factories.PASSWORD, Role.OPERATOR, two_fa_send_to="bob@example.org")
    actor, started = svc.sessions.login("bob", factories.PASSWORD, "", "web", stage="second_factor")
    svc.mail_codes.send(actor, started.info.id, 119, "s")
    assert "valid for 1 minute, once, for the login of bob from an unknown address.\n" in outbox.sent[-1].text
    svc.mail_codes.send(actor, started.info.id, 10, "s")
    assert "valid for 1 minute," in outbox.sent[-1].text
    svc.mail_codes.send(actor, started.info.id, 120, "s")
    assert "valid for 2 minutes," in outbox.sent[-1].text
    # a new code replaces the one before for the same half login
    svc.mail_codes.verify(actor, started.info.id, code_of(outbox.sent[-1]))


def test_a_code_ends_at_its_exact_expiry(svc: Services, outbox: RecordingMailer, clock: ManualClock) -> None:
    actor, sid = half_login(svc, "carol", "carol@example.org")
    svc.mail_codes.send(actor, sid, 60, "s")
    code = code_of(outbox.sent[-1])
    clock.now = T0 + timedelta(seconds=60)
    mark = factories.audit_mark(svc)
    with pytest.raises(AuthenticationFailed):
        svc.mail_codes.verify(actor, sid, code)
    clock.now = T0
    with pytest.raises(AuthenticationFailed):  # the expired code was deleted
        svc.mail_codes.verify(actor, sid, code)
    assert [r[2] for r in rows(svc, mark)] == ["expired", "failed"]
    svc.mail_codes.send(actor, sid, 60, "s")
    clock.now = T0 + timedelta(seconds=59)
    svc.mail_codes.verify(actor, sid, code_of(outbox.sent[-1]))


def test_a_code_is_bound_to_its_half_login_and_its_user(svc: Services, outbox: RecordingMailer) -> None:
    alice, a_sid = half_login(svc, "alice", "alice@example.org")
    bob, b_sid = half_login(svc, "bob", "bob@example.org")
    svc.mail_codes.send(alice, a_sid, 300, "s")
    code = code_of(outbox.sent[-1])
    mark = factories.audit_mark(svc)
    with pytest.raises(AuthenticationFailed):  # bob's half login has no code
        svc.mail_codes.verify(bob, b_sid, code)
    with pytest.raises(AuthenticationFailed):  # alice's half login, bob's actor: no match, and gone
        svc.mail_codes.verify(bob, a_sid, code)
    assert [(r[1], r[2]) for r in rows(svc, mark)] == [
        (str(bob.user_id), "failed"),
        (str(bob.user_id), "expired"),
    ]
    with pytest.raises(AuthenticationFailed):
        svc.mail_codes.verify(alice, a_sid, code)


def test_the_fifth_wrong_code_ends_the_code_and_failures_feed_the_throttle(
    svc: Services, outbox: RecordingMailer, clock: ManualClock
) -> None:
    actor, sid = half_login(svc, "dave", "dave@example.org")
    svc.mail_codes.send(actor, sid, 300, "s")
    code = code_of(outbox.sent[-1])
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(4):
        with pytest.raises(AuthenticationFailed):
            svc.mail_codes.verify(actor, sid, wrong)
    clock.now = T0 + timedelta(seconds=1)
    svc.mail_codes.verify(actor, sid, code)  # four wrong tries: the code still works
    svc.mail_codes.send(actor, sid, 300, "s")
    code = code_of(outbox.sent[-1])
    clock.now = T0 + timedelta(hours=1)  # outside the throttle's window
    svc.mail_codes.send(actor, sid, 3600 * 2, "s")
    code = code_of(outbox.sent[-1])
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(5):
        with pytest.raises(AuthenticationFailed):
            svc.mail_codes.verify(actor, sid, wrong)
    mark = factories.audit_mark(svc)
    with pytest.raises(TooManyAttempts) as throttled:
        svc.mail_codes.verify(actor, sid, code)
    assert throttled.value.message == "too many failed logins; try again later"
    assert throttled.value.detail["retry_after"] > 0
    assert rows(svc, mark) == [("auth.second_factor", str(actor.user_id), "throttled", {})]
    assert [r.object_type for r in factories.audit_since(svc, mark)] == ["user"]
    clock.now = T0 + timedelta(hours=2)
    with pytest.raises(AuthenticationFailed):  # the fifth wrong code deleted it
        svc.mail_codes.verify(actor, sid, code)


def test_a_throttled_code_says_how_long_to_wait_to_a_tenth_of_a_second(
    svc: Services, outbox: RecordingMailer, clock: ManualClock
) -> None:
    """The wait is rounded to tenths as for a password login (``retry_after``, what transports
    put in their Retry-After)."""
    actor, sid = half_login(svc, "gina", "gina@example.org")
    svc.mail_codes.send(actor, sid, 600, "s")
    wrong = f"{(int(code_of(outbox.sent[-1])) + 1) % 10**6:06d}"
    for _ in range(5):
        with pytest.raises(AuthenticationFailed):
            svc.mail_codes.verify(actor, sid, wrong)
    clock.now = T0 + timedelta(seconds=299.66)  # the window is 300 s: 0.34 s left
    with pytest.raises(TooManyAttempts) as throttled:
        svc.mail_codes.verify(actor, sid, wrong)
    assert (throttled.value.retry_after, throttled.value.detail) == (0.3, {"retry_after": 0.3})


def test_mail_code_refusals(svc: Services, outbox: RecordingMailer) -> None:
    nobody, sid = half_login(svc, "erin")
    mark = factories.audit_mark(svc)
    with pytest.raises(Conflict) as no_address:
        svc.mail_codes.send(nobody, sid, 300, "s")
    assert no_address.value.message == "the user has no address for 2FA codes (two_fa_send_to)"
    assert rows(svc, mark) == [
        ("auth.second_factor.mail", str(nobody.user_id), "conflict", {"error": no_address.value.message})
    ]
    actor, sid = half_login(svc, "frank", "frank@example.org")
    for text in ("", "   ", "1" * 65):
        with pytest.raises(ValidationFailed) as bad:
            svc.mail_codes.verify(actor, sid, text)
        assert (bad.value.message, bad.value.field) == ("a code is 6 digits", "token")
    outbox.broken = OSError("connection refused")
    with pytest.raises(Unavailable) as down:
        svc.mail_codes.send(actor, sid, 300, "s")
    assert down.value.message == "the 2FA code could not be sent by e-mail"
    outbox.broken = Unavailable("no")
    with pytest.raises(Unavailable):
        svc.mail_codes.send(actor, sid, 300, "s")
    outbox.broken = None
    outbox.ready = False
    sent = len(outbox.sent)
    with pytest.raises(Unavailable) as off:
        svc.mail_codes.send(actor, sid, 300, "s")
    assert off.value.message == "no SMTP server or sender configured (smtp.host, smtp.sender)"
    assert len(outbox.sent) == sent
