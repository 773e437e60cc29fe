"""Agents enrolling with an agent credential (rportd's ``/clients-auth``) instead of a token:
the argon2 check, audit rows for failures and successes, the login throttle (5 failures of a
credential from an address lock it out there), any number of agents per credential, and the
credential's bound computers (deleting it then needs ``force``). Real database, both backends;
a real agent process enrolls this way in tests/dialects/rport/test_rest_e2e.py."""

from __future__ import annotations

import pytest

from fleetdeck.core.authz import Actor
from fleetdeck.core.errors import AuthenticationFailed, Conflict, TooManyAttempts
from fleetdeck.core.services import Services
from tests import factories


def enroll(svc: Services, name: str, password: str, source: str = "10.0.0.1", key: str = "lab") -> int:
    creds = svc.enrollment.enroll(
        "", hostname=name, machine_id=name, agent_version="1", source=source, client_auth=(key, password)
    )
    return creds.computer_id


def test_a_credential_enrolls_agents_and_binds_them(svc: Services, admin: Actor) -> None:
    svc.agent_secrets.create(admin, "lab", "lab-password")
    mark = factories.audit_mark(svc)
    first, second = enroll(svc, "pc-1", "lab-password"), enroll(svc, "pc-2", "lab-password")
    assert first != second
    rows = factories.audit_since(svc, mark)
    assert [(r.action, r.detail.get("client_auth_id")) for r in rows] == [("agent.enroll", "lab")] * 2
    assert all("lab-password" not in str(r.detail) for r in rows)
    with pytest.raises(Conflict) as refused:
        svc.agent_secrets.delete(admin, "lab")
    assert refused.value.message.endswith("got 2.")
    svc.agent_secrets.delete(admin, "lab", force=True)
    with pytest.raises(AuthenticationFailed):
        enroll(svc, "pc-3", "lab-password")


def test_wrong_passwords_are_refused_audited_and_throttled(svc: Services, admin: Actor) -> None:
    svc.agent_secrets.create(admin, "lab", "lab-password")
    mark = factories.audit_mark(svc)
    for _ in range(5):
        with pytest.raises(AuthenticationFailed):
            enroll(svc, "pc-1", "wrong")
    with pytest.raises(AuthenticationFailed):
        enroll(svc, "pc-1", "lab-password", key="no-such-id")
    failed = [r for r in factories.audit_since(svc, mark) if r.action == "auth.login"]
    assert len(failed) == 6 and {r.result for r in failed} == {"failed"}
    with pytest.raises(TooManyAttempts):  # locked out from this address, even the right password
        enroll(svc, "pc-1", "lab-password")
    assert enroll(svc, "pc-1", "lab-password", source="10.0.0.2") > 0  # another address is not
