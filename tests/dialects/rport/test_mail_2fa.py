"""rportd's 2FA by e-mail (``rport.two_fa_token_delivery = smtp``) end to end: the login mails a
code through fleetdeck's SMTP settings to a real local SMTP server (aiosmtpd), ``/verify-2fa``
with that code turns the half login into a full one. Codes are stored only as keyed hashes,
expire, are used once, and wrong ones count for the login throttle."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from fleetdeck.api.dialects.rport import settings as keys
from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from fleetdeck.storage.tables import AuditEntry, UserMailCodeSecret
from fleetdeck.storage.uow import UnitOfWork
from tests.dialects.rport.conftest import ADMIN_PASSWORD, API, basic, bearer
from tests.mailbox import Inbox, smtp  # noqa: F401  (the fixture)
from tests.waiting import wait_for

ADDRESS = "admin@example.org"
CODE = re.compile(r"verification code: (\d{6})")


@pytest.fixture
def mail_2fa(client: Any, runtime: Runtime, admin: Actor, as_admin: dict[str, str], smtp: Inbox) -> Inbox:  # noqa: F811
    """The admin's address for codes set through rport's own /me, then e-mail 2FA switched on."""
    r = client.put(f"{API}/me", headers=as_admin, json={"two_fa_send_to": ADDRESS})
    assert r.status_code == 204, r.text
    runtime.services.settings.set(admin, keys.TWO_FA_DELIVERY_KEY, keys.DELIVERY_SMTP)
    return smtp


def half_login(client: Any, inbox: Inbox) -> tuple[dict[str, str], str]:
    """Log in with the password; the half login's bearer header and the code mailed for it."""
    seen = len(inbox.messages)
    r = client.get(f"{API}/login", headers=basic("admin", ADMIN_PASSWORD))
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["two_fa"] == {"send_to": ADDRESS, "delivery_method": "email"}
    wait_for(lambda: len(inbox.messages) > seen, timeout=30, what="the 2FA mail")
    msg = inbox.messages[-1]
    assert msg["To"] == ADDRESS
    assert msg["Subject"] == "RPort 2FA verification code"
    match = CODE.search(str(msg.get_payload(decode=True).decode()))  # type: ignore[union-attr]
    assert match is not None
    return bearer(data["token"]), match.group(1)


def verify(client: Any, half: dict[str, str], code: str) -> Any:
    return client.post(f"{API}/verify-2fa", headers=half, json={"username": "admin", "token": code})


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_code_by_mail_then_full_login(client: Any, runtime: Runtime, mail_2fa: Inbox) -> None:
    half, code = half_login(client, mail_2fa)
    assert client.get(f"{API}/me", headers=half).status_code == 401  # a half login is no login
    # only a keyed hash is stored, and neither the table nor the audit log holds the code
    with UnitOfWork(runtime.db, readonly=True) as uow:
        (stored,) = uow.session.scalars(select(UserMailCodeSecret.code_hash)).all()
        details = [str(d) for d in uow.session.scalars(select(AuditEntry.detail))]
    assert code not in stored and len(stored) == 64
    assert not any(code in d for d in details)
    assert any(ADDRESS in d for d in details)  # the address the code went to is audited
    assert verify(client, half, wrong(code)).status_code == 401
    other = client.post(f"{API}/verify-2fa", headers=half, json={"username": "eve", "token": code})
    assert other.status_code == 401
    ok = verify(client, half, code)
    assert ok.status_code == 200, ok.text
    full = bearer(ok.json()["data"]["token"])
    assert client.get(f"{API}/me", headers=full).status_code == 200
    # used once: the half login is gone, and the code with it
    assert verify(client, half, code).status_code == 401
    with UnitOfWork(runtime.db, readonly=True) as uow:
        assert uow.session.scalars(select(UserMailCodeSecret)).all() == []
    # with 2FA on, Basic takes API tokens only
    assert client.get(f"{API}/me", headers=basic("admin", ADMIN_PASSWORD)).status_code == 401


def test_code_of_another_login_does_not_fit(client: Any, mail_2fa: Inbox) -> None:
    first, first_code = half_login(client, mail_2fa)
    second, second_code = half_login(client, mail_2fa)
    if first_code != second_code:  # one time in a million they are the same
        assert verify(client, first, second_code).status_code == 401
    assert verify(client, second, second_code).status_code == 200


def test_expired_code_is_refused(client: Any, runtime: Runtime, mail_2fa: Inbox) -> None:
    half, code = half_login(client, mail_2fa)
    with UnitOfWork(runtime.db) as uow:
        row = uow.session.scalars(select(UserMailCodeSecret)).one()
        uow.session.execute(
            update(UserMailCodeSecret).values(expires_at=row.expires_at - timedelta(seconds=601))
        )
    assert verify(client, half, code).status_code == 401
    with UnitOfWork(runtime.db, readonly=True) as uow:
        assert uow.session.scalars(select(UserMailCodeSecret)).all() == []  # and forgotten


def test_wrong_codes_are_throttled_and_use_the_code_up(
    client: Any, runtime: Runtime, mail_2fa: Inbox
) -> None:
    half, code = half_login(client, mail_2fa)
    answers = [verify(client, half, wrong(code)).status_code for _ in range(5)]
    assert answers == [401] * 5
    banned = verify(client, half, code)  # even the right code: the pair is banned for a while
    assert banned.status_code == 429
    assert banned.json()["errors"][0]["title"] == "too many requests, please try later"
    with UnitOfWork(runtime.db, readonly=True) as uow:
        assert uow.session.scalars(select(UserMailCodeSecret)).all() == []  # used up


def test_no_address_or_no_mail_server(
    client: Any, runtime: Runtime, admin: Actor, as_admin: dict[str, str]
) -> None:
    runtime.services.settings.set(admin, keys.TWO_FA_DELIVERY_KEY, keys.DELIVERY_SMTP)
    no_server = client.get(f"{API}/login", headers=basic("admin", ADMIN_PASSWORD))
    assert no_server.status_code == 503
    assert "SMTP" in no_server.json()["errors"][0]["title"]
    runtime.services.settings.set(admin, keys.TWO_FA_DELIVERY_KEY, "pushover")
    assert client.get(f"{API}/login", headers=basic("admin", ADMIN_PASSWORD)).status_code == 501
    assert runtime.services.sessions.count(admin.user_id) == 1  # only as_admin's: none left behind


def test_no_address_for_codes(client: Any, runtime: Runtime, admin: Actor, smtp: Inbox) -> None:  # noqa: F811
    runtime.services.settings.set(admin, keys.TWO_FA_DELIVERY_KEY, keys.DELIVERY_SMTP)
    r = client.get(f"{API}/login", headers=basic("admin", ADMIN_PASSWORD))
    assert r.status_code == 409
    assert "two_fa_send_to" in r.json()["errors"][0]["title"]
    assert runtime.services.sessions.count(admin.user_id) == 0
    assert smtp.messages == []
