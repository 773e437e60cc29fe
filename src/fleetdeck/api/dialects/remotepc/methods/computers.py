"""Computers: list, comments, removal, and the Web Viewer link (not available yet)."""

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
    """A link into fleetdeck's own remote desktop once it exists; until then a clear refusal
    (RemotePC's viewer is a desktop: the browser terminal is no substitute to link to)."""
    raise e.RemotePcError(501, e.NO_REMOTE_ACCESS)
