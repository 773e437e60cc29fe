"""opsi's ``group_*`` and ``objectToGroup_*`` methods over fleetdeck computer groups."""

from __future__ import annotations

from typing import Any

from fleetdeck.api.dialects.opsi.objects import crud
from fleetdeck.api.dialects.opsi.objects.groups import GroupAdapter, ObjectToGroupAdapter
from fleetdeck.api.dialects.opsi.objects.hosts import HostAdapter
from fleetdeck.api.dialects.opsi.registry import Context

GROUPS = crud.register("group", GroupAdapter())
OBJECT_TO_GROUPS = crud.register("objectToGroup", ObjectToGroupAdapter(HostAdapter()))


def create_host_group(ctx: Context, **attrs: Any) -> None:
    """One HostGroup (``notes`` are not stored)."""
    GROUPS.insert(ctx, {**attrs, "type": "HostGroup"})


def create_object_to_group(ctx: Context, **attrs: Any) -> None:
    """Put a host into a host group."""
    OBJECT_TO_GROUPS.insert(ctx, {**attrs, "type": "ObjectToGroup"})


crud.declare("group_createHostGroup", create_host_group)
crud.declare("objectToGroup_create", create_object_to_group)
