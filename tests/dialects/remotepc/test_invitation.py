"""Invitations end to end: RemotePC's invite sends an e-mail through fleetdeck's SMTP settings to
a real local SMTP server; the link in it opens the acceptance page, where the invited person
chooses a password and becomes an end user who can log in. The own API accepts as well."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, Role
from fleetdeck.storage.tables import AuditEntry, Invitation
from fleetdeck.storage.uow import UnitOfWork
from tests.dialects.remotepc.conftest import Inbox, RemotePc
from tests.waiting import wait_for

LINK = re.compile(r"(https?://\S+/invitations/(\S+))")


def mail_to(inbox: Inbox, address: str) -> str:
    wait_for(lambda: any(m["To"] == address for m in inbox.messages), timeout=30, what=f"mail to {address}")
    msg = next(m for m in inbox.messages if m["To"] == address)
    assert msg["From"] == "fleetdeck@example.org"
    assert msg["Subject"] == "You are invited to fleetdeck"
    return str(msg.get_payload(decode=True).decode())


def test_invite_mail_link_and_acceptance(
    rpc: RemotePc, client: TestClient, runtime: Runtime, admin: Actor, smtp: Inbox
) -> None:
    message = rpc.ok(
        rpc.post("user/invite", {"email": ["ann@example.org", "not-an-address", "admin"], "status_2FA": 1})
    )
    assert message == {"invalid_list": ["not-an-address", "admin"], "invited_list": ["ann@example.org"]}
    text = mail_to(smtp, "ann@example.org")
    link, token = LINK.search(text).groups()  # type: ignore[union-attr]
    assert link.startswith("http://testserver/invitations/")
    # only a keyed hash of the token is stored, and the audit log never holds it
    with UnitOfWork(runtime.db, readonly=True) as uow:
        stored = uow.session.scalars(select(Invitation.token_hash)).all()
        details = [str(d) for d in uow.session.scalars(select(AuditEntry.detail))]
    assert stored and token not in stored[0]
    assert not any(token in d for d in details)
    # an invited address is taken: creating it is refused, inviting it again renews the link
    r = rpc.post(
        "user/create",
        {"firstname": "A", "lastname": "B", "username": "ann@example.org", "password": "secret1"},
    )
    assert rpc.error(r) == ["Email is already in use or already invited."]

    path = link.removeprefix("http://testserver")
    page = client.get(path)
    assert page.status_code == 200
    assert "Accept invitation" in page.text
    bad = client.post(path, data={"password": "short", "confirm": "short"}, follow_redirects=False)
    assert bad.status_code == 400
    done = client.post(path, data={"password": "secret1", "confirm": "secret1"}, follow_redirects=False)
    assert done.status_code == 303
    assert done.headers["location"] == "/login?invited=1"
    # used up
    assert client.post(path, data={"password": "secret1", "confirm": "secret1"}).status_code == 404

    actor = runtime.services.users.authenticate_password("ann@example.org", "secret1", "127.0.0.1", "test")
    assert actor.role is Role.END_USER
    users = rpc.ok(rpc.get("user/list"))["users"]
    assert users == [{"firstname": "", "username": "ann@example.org", "lastname": ""}]
    page1 = runtime.services.people.find(admin, 10, 0)
    assert page1.items[0].two_factor is True


def test_accept_through_own_api_and_renewal(
    rpc: RemotePc, client: TestClient, runtime: Runtime, smtp: Inbox
) -> None:
    rpc.ok(rpc.post("user/invite", {"email": ["bo@example.org"]}))
    first = LINK.search(mail_to(smtp, "bo@example.org")).group(2)  # type: ignore[union-attr]
    smtp.messages.clear()
    rpc.ok(rpc.post("user/invite", {"email": ["Bo@Example.org"]}))  # renewed: a new link
    second = LINK.search(mail_to(smtp, "bo@example.org")).group(2)  # type: ignore[union-attr]
    assert first != second
    assert client.post(f"/api/v1/invitations/{first}/accept", json={"password": "secret1"}).status_code == 404
    weak = client.post(f"/api/v1/invitations/{second}/accept", json={"password": "abc"})
    assert weak.status_code == 422
    r = client.post(f"/api/v1/invitations/{second}/accept", json={"password": "secret1"})
    assert r.status_code == 201, r.text
    assert (r.json()["data"]["username"], r.json()["data"]["role"]) == ("bo@example.org", "end_user")
    # an accepted invitation is gone: deleting it reports FAILED, the active user SUCCESS
    message = rpc.ok(
        rpc.post("user/delete", {"sub_ids": ["bo@example.org"], "invited_ids": ["bo@example.org"]})
    )
    assert message == {
        "active_user_delete_status": {"bo@example.org": "SUCCESS"},
        "invited_user_delete_status": {"bo@example.org": "FAILED"},
    }


def test_public_url_setting_names_the_links(
    rpc: RemotePc, runtime: Runtime, admin: Actor, smtp: Inbox
) -> None:
    runtime.services.settings.set(admin, "server.public_url", "https://fleet.example.org/")
    rpc.ok(rpc.post("user/invite", {"email": ["cy@example.org"]}))
    assert "https://fleet.example.org/invitations/" in mail_to(smtp, "cy@example.org")


def test_an_expired_invitation_is_refused_everywhere_and_can_be_renewed(
    rpc: RemotePc, client: TestClient, runtime: Runtime, smtp: Inbox
) -> None:
    """The link stops working when the invitation expires (``people.invitation_valid_hours``): the page
    says so, the API refuses it, no account is made, the refusal is audited, and inviting the
    address again sends a link that works."""
    rpc.ok(rpc.post("user/invite", {"email": ["di@example.org"]}))
    token = LINK.search(mail_to(smtp, "di@example.org")).group(2)  # type: ignore[union-attr]
    with UnitOfWork(runtime.db) as uow:
        row = uow.session.scalars(select(Invitation).where(Invitation.email == "di@example.org")).one()
        row.expires_at = row.created_at  # as if its hours had passed

    page = client.post(f"/invitations/{token}", data={"password": "secret1", "confirm": "secret1"})
    assert page.status_code == 400
    assert "This invitation has expired." in page.text
    api = client.post(f"/api/v1/invitations/{token}/accept", json={"password": "secret1"})
    assert api.status_code == 422, api.text
    assert "expired" in api.text
    with UnitOfWork(runtime.db, readonly=True) as uow:
        accepted = uow.session.scalars(
            select(AuditEntry).where(AuditEntry.action == "invitation.accept")
        ).all()
    assert [a.result for a in accepted] == ["invalid", "invalid"]
    assert rpc.ok(rpc.get("user/list"))["users"] == []
    # still invited (not an account): a new invitation replaces it and its link works
    smtp.messages.clear()
    rpc.ok(rpc.post("user/invite", {"email": ["di@example.org"]}))
    fresh = LINK.search(mail_to(smtp, "di@example.org")).group(2)  # type: ignore[union-attr]
    r = client.post(f"/api/v1/invitations/{fresh}/accept", json={"password": "secret1"})
    assert r.status_code == 201, r.text
    assert client.post(f"/api/v1/invitations/{token}/accept", json={"password": "secret1"}).status_code == 404
