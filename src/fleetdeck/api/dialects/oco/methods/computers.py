"""``oco.computer.*``: computers and computer groups (fleetdeck groups of kind "computer")."""

from __future__ import annotations

from typing import Any

from fleetdeck.api.dialects.oco import render, render_jobs, render_packages
from fleetdeck.api.dialects.oco.errors import OcoError
from fleetdeck.api.dialects.oco.methods.jobs import containers_of, pending_jobs_of_computer
from fleetdeck.api.dialects.oco.registry import METHODS, Context
from fleetdeck.api.dialects.oco.schemas import Flag, OptId, Text
from fleetdeck.core.errors import Conflict, NotFound, Reason, ValidationFailed
from fleetdeck.core.groups.service import GroupInfo
from fleetdeck.core.query import Cond, Op, Query

KIND = "computer"
ALL = Query(limit=None)


def child_groups(ctx: Context, parent_id: int | None, kind: str) -> list[GroupInfo]:
    where = Cond("parent_id", Op.IS_NULL, True) if parent_id is None else Cond("parent_id", Op.EQ, parent_id)
    query = Query(where=(where,), sort=(), limit=None)
    return ctx.services.groups.find(ctx.actor, query, kind=kind).items


def group_of_kind(ctx: Context, group_id: int | None, kind: str) -> GroupInfo:
    if not group_id:
        raise NotFound("group", group_id)
    group = ctx.services.groups.get(ctx.actor, group_id)
    if group.kind != kind:
        raise NotFound("group", group_id)
    return group


def require_computer(ctx: Context, computer_id: int | None) -> int:
    if not computer_id or computer_id not in ctx.services.computers.exists([computer_id]):
        raise NotFound("computer", computer_id)
    return computer_id


@METHODS.method("oco.computer.list")
def computer_list(ctx: Context, computer_group_id: OptId = None) -> dict[str, Any]:
    """All computers and the root computer groups, or one group's computers and subgroups."""
    if computer_group_id is None:
        computers = ctx.services.computers.find_detailed(ctx.actor, ALL).items
        groups = child_groups(ctx, None, KIND)
        return {
            "computers": [render.computer_row(c, ctx.user_id) for c in computers],
            "groups": [render.computer_group(g) for g in groups],
        }
    group = group_of_kind(ctx, computer_group_id, KIND)
    computers = ctx.services.computers.find_detailed(ctx.actor, ALL, group_id=group.id).items
    return {
        "name": group.name,
        "computers": [render.computer_row(c, ctx.user_id) for c in computers],
        "groups": [render.computer_group(g) for g in child_groups(ctx, group.id, KIND)],
    }


@METHODS.method("oco.computer.get")
def computer_get(ctx: Context, id: OptId = None) -> dict[str, Any]:
    """A computer with its groups, inventory sections, installed packages and pending jobs."""
    if not id:
        raise NotFound("computer", id)
    d = ctx.services.computers.get(ctx.actor, id)
    group_ids = [g.id for g in d.groups]
    groups = (
        ctx.services.groups.find(
            ctx.actor, Query(where=(Cond("id", Op.IN, group_ids),), limit=None), kind=KIND
        ).items
        if group_ids
        else []
    )
    installed = ctx.services.packages.list_installations(ctx.actor, computer_id=id)
    pending = pending_jobs_of_computer(ctx, id)
    containers = containers_of(ctx, pending)
    return {
        "general": render.computer(d, ctx.user_id),
        "groups": [render.computer_group(g) for g in groups],
        "logins": render.logins(d),
        "networks": render.networks(d),
        "screens": [],
        "printers": [],
        "filesystems": render.filesystems(d),
        "recognised_software": render.recognised_software(d),
        "installed_packages": [render_packages.installation_on_computer(i) for i in installed],
        "pending_jobs": [render_jobs.static_job(j, containers[j.container_id], ctx.user_id) for j in pending],
    }


@METHODS.method("oco.computer.add_to_group")
def computer_add_to_group(
    ctx: Context, computer_id: OptId = None, computer_group_id: OptId = None
) -> list[Any]:
    """Add a computer to a computer group (no-op when it is a member already). Core checks
    that both exist and that the group holds computers, in the adding transaction."""
    if not computer_group_id:
        raise NotFound("group", computer_group_id)
    if not computer_id:
        raise NotFound("computer", computer_id)
    ctx.services.groups.add_members(ctx.actor, computer_group_id, [computer_id])
    return []


@METHODS.method("oco.computer.remove_from_group")
def computer_remove_from_group(
    ctx: Context, computer_id: OptId = None, computer_group_id: OptId = None
) -> list[Any]:
    """Remove a computer from a computer group."""
    group = group_of_kind(ctx, computer_group_id, KIND)
    ctx.services.groups.remove_members(ctx.actor, group.id, [require_computer(ctx, computer_id)])
    return []


@METHODS.method("oco.computer.create")
def computer_create(ctx: Context, hostname: Text = "", notes: Text = "") -> dict[str, Any]:
    """Pre-register a computer; an agent enrolling with this host name takes it over."""
    try:
        created = ctx.services.computers.create(ctx.actor, hostname, notes)
    except ValidationFailed as exc:
        if exc.field == "hostname" and not hostname.strip():
            raise OcoError.reason("hostname_cannot_be_empty") from exc
        raise
    except Conflict as exc:
        if exc.detail.get("field") == "hostname":
            raise OcoError.reason("hostname_already_exists") from exc
        raise
    return {"id": render.created_id(created.id)}


@METHODS.method("oco.computer.wol")
def computer_wol(ctx: Context, id: OptId = None) -> list[Any]:
    """Send Wake-on-LAN magic packets to the computer's known MAC addresses."""
    computer_id = require_computer(ctx, id)
    ctx.services.wol.wake_computers(ctx.actor, [computer_id])
    return []


@METHODS.method("oco.computer.remove")
def computer_remove(ctx: Context, id: OptId = None, force: Flag = True) -> list[Any]:
    """Delete a computer; without ``force`` refuse while it has pending jobs (core checks
    and deletes in one transaction)."""
    if not id:
        raise NotFound("computer", id)
    try:
        ctx.services.computers.delete(ctx.actor, id, unless_pending=not force)
    except Conflict as exc:
        if exc.detail.get("reason") != Reason.PENDING_JOBS:
            raise
        raise OcoError.reason("delete_failed_active_jobs") from exc
    return []
