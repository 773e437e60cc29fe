"""Groups: create a group (moving computers into it) and move computers between groups. They
are core's flat groups: a computer is in at most one, so moving replaces its group."""

from __future__ import annotations

from typing import Any

from fleetdeck.api.dialects.remotepc import errors as e
from fleetdeck.api.dialects.remotepc import render
from fleetdeck.api.dialects.remotepc.registry import ENDPOINTS, Context
from fleetdeck.api.dialects.remotepc.schemas import Params


def _group_name(p: Params) -> str:
    name = p.text("group_name")
    if not name or not name.strip():
        raise e.RemotePcError(400, e.GROUP_BLANK)
    return name


def _names(p: Params, *, required: bool) -> list[str]:
    names = p.texts("computer_names", missing=e.NAMES_MISSING)
    if required and not names:
        raise e.RemotePcError(400, e.NAMES_MISSING)
    if any(not n.strip() for n in names or []):
        raise e.RemotePcError(400, e.COMPUTER_BLANK)
    return names or []


@ENDPOINTS.add("POST", "computer/group/create", "Create group and move computers")
def create(ctx: Context, p: Params) -> Any:
    name, names = _group_name(p), _names(p, required=False)
    try:
        ctx.services.flat_groups.create(ctx.actor, name, names)
    except Exception as exc:
        raise e.describe(exc, e.GROUP_TEXTS) from exc
    return render.SUCCESS


@ENDPOINTS.add("POST", "computer/group/move", "Move computers to a group")
def move(ctx: Context, p: Params) -> Any:
    name, names = _group_name(p), _names(p, required=True)
    try:
        ctx.services.flat_groups.move(ctx.actor, name, names)
    except Exception as exc:
        raise e.describe(exc, e.GROUP_TEXTS) from exc
    return render.SUCCESS
