"""Computers: list, comments, removal, and the Web Viewer link (fleetdeck's desktop view)."""

from __future__ import annotations

from typing import Any

from fleetdeck.api.dialects.remotepc import errors as e
from fleetdeck.api.dialects.remotepc import render
from fleetdeck.api.dialects.remotepc.registry import ENDPOINTS, Context
from fleetdeck.api.dialects.remotepc.schemas import MAX_REMOVE, Params, check_page, page_query


@ENDPOINTS.add("GET", "computer/list", "Get devices")
def list_devices(ctx: Context, p: Params) -> Any:
    index, per_page = p.page()
    try:
        page = ctx.services.computers.find_detailed(ctx.actor, page_query(index, per_page))
        comments = ctx.services.by_name.latest_comments(ctx.actor, [c.id for c in page.items])
    except Exception as exc:
        raise e.describe(exc) from exc
    check_page(index, per_page, page.total)
    return {
        "devices": [render.device(c, comments.get(c.id)) for c in page.items],
        "pagination": render.pagination(per_page, page.total, index),
    }


@ENDPOINTS.add("POST", "computer/comments/add", "Add comment for computer")
def add_comment(ctx: Context, p: Params) -> Any:
    name, text = p.text("computer_name"), p.text("comment_desc")
    if not name or not name.strip():
        raise e.RemotePcError(400, e.COMPUTER_BLANK)
    if not text or not text.strip():
        raise e.RemotePcError(400, e.COMMENT_BLANK)
    try:
        ctx.services.by_name.comment(ctx.actor, name, text)
    except Exception as exc:
        raise e.describe(exc, e.COMMENT_TEXTS) from exc
    return render.SUCCESS


@ENDPOINTS.add("POST", "computer/remove", "Remove computers")
def remove(ctx: Context, p: Params) -> Any:
    names = p.texts("computer_names", missing=e.NAMES_MISSING)
    if not names:
        raise e.RemotePcError(400, e.NAMES_MISSING)
    if len(set(names)) > MAX_REMOVE:
        raise e.RemotePcError(400, e.COMPUTER_LIMIT)
    if any(not n.strip() for n in names):
        raise e.RemotePcError(400, e.COMPUTER_BLANK)
    try:
        ctx.services.by_name.remove_offline(ctx.actor, names)
    except Exception as exc:
        raise e.describe(exc, e.REMOVE_TEXTS) from exc
    return render.SUCCESS


@ENDPOINTS.add("POST", "computer/get/connectUrl", "Get Web Viewer Connection URL", source="inferred")
def connect_url(ctx: Context, p: Params) -> Any:
    """A one-time link (5 minutes) to the computer's desktop page in fleetdeck's web UI (noVNC
    to the VNC server on the computer, port 5900), opened as the API key's user without a
    login. ``machine_id`` is the computer's uid as Get devices lists it; ``username``, when
    given, must be text (RemotePC's viewer account; fleetdeck's link is the caller's)."""
    machine = p.text("machine_id")
    p.text("username")
    if not machine or not machine.strip():
        raise e.RemotePcError(400, e.MACHINE_ID_BLANK)
    try:
        link = ctx.services.desktops.issue_link(ctx.actor, machine, ctx.base_url)
    except Exception as exc:
        raise e.describe(exc, e.VIEWER_TEXTS) from exc
    return {"url": link.url, "expires_in": link.expires_in}
