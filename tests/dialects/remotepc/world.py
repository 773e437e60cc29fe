"""A small fleet for the RemotePC tests: two offline computers named as in RemotePC's samples,
active end users and a pending invitation."""

from __future__ import annotations

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from fleetdeck.core.enrollment.service import agent_actor
from fleetdeck.protocol import messages as m
from tests import factories

COMPUTERS = ("Computer A", "Computer B")


def end_user(runtime: Runtime, admin: Actor, email: str, first: str = "First", last: str = "Last") -> int:
    return runtime.services.people.create(
        admin, first_name=first, last_name=last, email=email, password="secret1"
    ).user_id


def build(runtime: Runtime, admin: Actor, *, invite: bool = False) -> dict[str, int]:
    """Computer A and B (offline); shane@myworld and diane@myworld (active); with ``invite``
    (needs the SMTP fixture) jamie@myworld invited."""
    ids = {name: factories.computer(runtime.services, admin, name) for name in COMPUTERS}
    ids["shane@myworld"] = end_user(runtime, admin, "shane@myworld", "Shane", "Myworld")
    ids["diane@myworld"] = end_user(runtime, admin, "diane@myworld", "Diane", "Myworld")
    if invite:
        runtime.services.people.invite(
            admin, ["jamie@myworld"], two_factor=False, link_base="http://testserver"
        )
    return ids


def twins(runtime: Runtime, admin: Actor, name: str) -> list[int]:
    """Two computers whose agents both report the host name ``name`` (names need not be unique:
    two machines may be called the same)."""
    ids = []
    for k in (1, 2):
        cid = factories.computer(runtime.services, admin, f"{name}-{k}")
        inv = m.Inventory(hostname=name)
        runtime.services.computers.record_inventory(
            agent_actor(cid, name, "127.0.0.1"), cid, inv, m.inventory_digest(inv)
        )
        ids.append(cid)
    return ids
