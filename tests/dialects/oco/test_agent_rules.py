"""OCO agents, the last of OCO's server rules (issue #14): an inventory sent too soon while an
admin's forced one is pending is refused as OCO refuses it, and a password rotation rule can be
limited to a computer group as OCO limits it.

The OCO agent of the tests (``oco_agent.py``) against the real server on a loopback socket.
"""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from fleetdeck.core.errors import ValidationFailed
from fleetdeck.storage.tables import AuditEntry
from fleetdeck.storage.uow import UnitOfWork
from tests.dialects.oco.oco_agent import OcoAgent
from tests.dialects.oco.test_agent_api import INVENTORY, computer_of
from tests.dialects.oco.test_agent_rest import _passwords, backdate, encrypt

REFUSED = (400, "Update refused (too often or invalid data)")


def test_an_inventory_too_soon_while_one_is_forced_is_refused_as_oco_refuses_it(
    agent: OcoAgent, v1: httpx.Client, runtime: Runtime
) -> None:
    """OCO 1.2 refuses ``oco.agent.update`` (400, its words) when the last inventory is less
    than 25 s old and an admin's forced inventory is pending; nothing is applied, the computer
    is still seen, the forced inventory stays pending and the refusal is audited. Without a
    forced one, OCO (and so fleetdeck) takes an inventory at any time."""
    agent.update(INVENTORY)
    agent.update(INVENTORY)  # at once again, not forced: taken, as OCO takes it
    cid = computer_of(v1, "oco-pc1")["id"]
    assert v1.post(f"/computers/{cid}/force-inventory").status_code == 200
    assert agent.hello()["update"] == 1
    seen_before = v1.get(f"/computers/{cid}").json()["data"]["last_seen"]
    r = agent.send(agent.body("oco.agent.update", {**INVENTORY, "os_version": "26.04"}))
    assert (r.status_code, r.text) == REFUSED
    detail = v1.get(f"/computers/{cid}").json()["data"]
    assert detail["os_version"] == "24.04"  # not applied
    assert detail["force_update"] is True  # still pending: the next hello asks again
    assert detail["last_seen"] > seen_before  # the agent was there (OCO pings it too)
    assert agent.hello()["update"] == 1
    with UnitOfWork(runtime.db, readonly=True) as uow:
        refused = list(
            uow.session.scalars(
                select(AuditEntry).where(
                    AuditEntry.action == "computer.inventory", AuditEntry.result == "refused"
                )
            )
        )
    assert len(refused) == 1 and "less than 25 s" in refused[0].detail["reason"]
    # 25 s later it is taken, and the forced inventory is done
    backdate(runtime, cid, "inventory_at", 26)
    agent.update({**INVENTORY, "os_version": "26.04"})
    detail = v1.get(f"/computers/{cid}").json()["data"]
    assert (detail["os_version"], detail["force_update"]) == ("26.04", False)
    assert agent.hello()["update"] == 0


def test_the_first_inventory_of_a_forced_computer_is_taken(agent: OcoAgent, v1: httpx.Client) -> None:
    """No inventory yet (OCO's empty ``last_update``): nothing to be too soon after."""
    cid = computer_of(v1, "oco-pc1")["id"]
    assert v1.post(f"/computers/{cid}/force-inventory").status_code == 200
    agent.update(INVENTORY)
    assert v1.get(f"/computers/{cid}").json()["data"]["force_update"] is False


def _asked(agent: OcoAgent) -> list[str]:
    return [p["username"] for p in agent.hello()["update-passwords"]]


def test_a_rotation_rule_limited_to_a_group_applies_to_its_direct_members_only(
    agent: OcoAgent, v1: httpx.Client, runtime: Runtime, admin: Actor
) -> None:
    """``<group id>|<user>`` rotates on the group's direct members (OCO's rule with a computer
    group), ``<user>`` everywhere; a password for a user no rule of this computer names is
    not kept."""
    cid = computer_of(v1, "oco-pc1")["id"]
    ids = {}
    for name in ("servers", "kiosks", "sub"):
        parent = {"parent_id": ids["servers"]} if name == "sub" else {}
        r = v1.post("/groups", json={"name": name, **parent})
        assert r.status_code == 201, r.text
        ids[name] = r.json()["data"]["id"]
    assert v1.post(f"/groups/{ids['servers']}/members", json={"computer_ids": [cid]}).status_code == 200
    runtime.services.settings.set(
        admin,
        "polling.password_rotation_users",
        ["root", f"{ids['servers']}|Administrator", f"{ids['kiosks']}|kiosk", f"{ids['sub']}|subuser"],
    )
    assert _asked(agent) == ["root", "Administrator"]
    r = _passwords(agent, [{"username": "kiosk", "password": encrypt("k-Secret-1", agent.agent_key)}])
    assert agent.checked(r)["result"]["success"] is False  # not this computer's rule
    r = _passwords(agent, [{"username": "Administrator", "password": encrypt("a-Secret-1", agent.agent_key)}])
    assert agent.checked(r)["result"]["success"] is True
    assert _asked(agent) == ["root"]  # Administrator rotated just now
    rows = v1.get(f"/computers/{cid}/passwords").json()["data"]
    assert [r["username"] for r in rows] == ["Administrator"]
    # moved from servers to kiosks: the rules follow the membership
    assert v1.delete(f"/groups/{ids['servers']}/members/{cid}").status_code in (200, 204)
    assert v1.post(f"/groups/{ids['kiosks']}/members", json={"computer_ids": [cid]}).status_code == 200
    assert _asked(agent) == ["root", "kiosk"]
    # one user name in two rules that both apply: asked for once
    runtime.services.settings.set(
        admin, "polling.password_rotation_users", ["kiosk", f"{ids['kiosks']}|kiosk"]
    )
    assert _asked(agent) == ["kiosk"]


@pytest.mark.parametrize("entry", ["x|root", "|root", "12|", "0|root", "1|2|root", "  "])
def test_a_rotation_rule_that_is_not_user_or_group_and_user_is_refused(
    runtime: Runtime, admin: Actor, entry: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        runtime.services.settings.set(admin, "polling.password_rotation_users", ["root", entry])
    assert "'<user name>' or '<computer group id>|<user name>'" in refused.value.message
    assert runtime.services.settings.value("polling.password_rotation_users") == []


def test_rotation_rules_through_api_v1(v1: httpx.Client, runtime: Runtime) -> None:
    """The format's refusal in ``/api/v1``'s own error (422), quoting the format."""
    key = "/settings/polling.password_rotation_users"
    r = v1.put(key, json={"value": ["root", "servers|Administrator"]})
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "validation_failed"
    assert "'servers|Administrator' is not of the form '<user name>' or" in error["message"]
    rules = ["root", "12|Administrator", "7|John Doe"]
    assert v1.put(key, json={"value": rules}).status_code == 200
    assert runtime.services.settings.value("polling.password_rotation_users") == rules
