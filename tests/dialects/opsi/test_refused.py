"""Every method ``interface.REFUSED`` lists really refuses: called by an admin with an object
that exists, it answers ``BackendPermissionDeniedError`` and changes nothing. A method that
starts to work (or stops being declared) fails here, so docs/compat/opsi.md, which counts these
apart from the supported ones, cannot go stale."""

from __future__ import annotations

from typing import Any

import pytest

from fleetdeck.api.dialects.opsi.interface import REFUSED, SPEC
from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor

from .conftest import Rpc
from .test_crud_walk import inventory, products

VERBS_WITH_ONE = ("insertObject", "updateObject")
VERBS_WITH_LIST = ("createObjects", "updateObjects", "deleteObjects")


@pytest.fixture
def world(rpc: Rpc, runtime: Runtime, admin: Actor) -> Rpc:
    """Products on the depot and a computer with an inventory: every family has a real row."""
    products(rpc, runtime, admin)
    inventory(rpc, runtime, admin)
    return rpc


def _snapshot(rpc: Rpc, prefix: str) -> list[Any]:
    family = "host" if prefix in ("host", "backend") else prefix
    return sorted(r["ident"] for r in rpc.ok(f"{family}_getObjects"))


def _args(rpc: Rpc, name: str) -> tuple[list[Any], dict[str, Any] | None]:
    """Arguments that would change something if the method did anything: an existing object."""
    prefix, verb = name.split("_", 1)
    if name == "backend_deleteBase":
        return [], None
    if prefix == "host":
        return [], {"id": "depot-2.fleetdeck.local", "description": "a second depot"}
    # BIOS first: its ident has nulls (AuditHardware), the case most likely to answer otherwise.
    rows = sorted(rpc.ok(f"{prefix}_getObjects"), key=lambda r: r.get("hardwareClass") != "BIOS")
    assert rows, f"{prefix}: the fixture made no row to refuse a write of"
    obj = {k: v for k, v in rows[0].items() if k != "ident"}
    if verb in VERBS_WITH_ONE:
        return [obj], None
    if verb in VERBS_WITH_LIST:
        return [[obj]], None
    args = [a for a in SPEC[name]["entry"]["args"] if a != "self"]
    return [], {a: obj[a] for a in args if obj.get(a) is not None}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refused_method_refuses_an_admin_and_changes_nothing(world: Rpc, name: str) -> None:
    prefix = name.split("_", 1)[0]
    before = _snapshot(world, prefix)
    params, named = _args(world, name)
    err = world.error(name, *params, named=named)
    assert err["class"] == "BackendPermissionDeniedError", (name, err)
    assert _snapshot(world, prefix) == before
