"""Users: invite, create, delete, list; assign and unassign computers; a user's devices."""

from __future__ import annotations

from typing import Any

from fleetdeck.api.dialects.remotepc import errors as e
from fleetdeck.api.dialects.remotepc import render
from fleetdeck.api.dialects.remotepc.registry import ENDPOINTS, Context
from fleetdeck.api.dialects.remotepc.schemas import Params, check_page, page_query
from fleetdeck.core import query as q
from fleetdeck.core.people import rules
from fleetdeck.core.people.service import check_problems

TWO_FACTOR = "status_2FA"


@ENDPOINTS.add("POST", "user/invite", "Invite users")
def invite(ctx: Context, p: Params) -> Any:
    emails = p.texts("email")
    two_factor = p.switch(TWO_FACTOR, e.INVALID_2FA)
    if p.switch("sso_flag", e.INVALID_PARAMETERS):
        raise e.RemotePcError(400, e.SSO_NOT_SET_UP)  # fleetdeck has no single sign-on
    if not emails:
        raise e.RemotePcError(400, e.EMAIL_BLANK)
    try:
        done = ctx.services.people.invite(
            ctx.actor, emails, two_factor=bool(two_factor), link_base=ctx.base_url
        )
    except Exception as exc:
        raise e.describe(exc) from exc
    return {"invalid_list": done.invalid, "invited_list": done.invited}


@ENDPOINTS.add("POST", "user/create", "Create user")
def create(ctx: Context, p: Params) -> Any:
    first, last = p.text("firstname") or "", p.text("lastname") or ""
    username, password = p.text("username") or "", p.text("password") or ""
    # every broken rule at once, in RemotePC's order; core checks the same rules again
    found: list[str] = []
    try:
        two_factor = p.switch(TWO_FACTOR, e.INVALID_2FA)
    except e.RemotePcError as exc:
        found += exc.descriptions
        two_factor = None
    try:
        check_problems(
            [
                *rules.name_problems("first_name", first),
                *rules.name_problems("last_name", last),
                *rules.email_problems(username),
                *rules.password_problems(password),
            ]
        )
    except Exception as exc:
        found = e.describe(exc, e.PERSON_TEXTS).descriptions + found
    if found:
        raise e.RemotePcError(400, *found)
    try:
        ctx.services.people.create(
            ctx.actor,
            first_name=first,
            last_name=last,
            email=username,
            password=password,
            two_factor=bool(two_factor),
        )
    except Exception as exc:
        raise e.describe(exc, e.PERSON_TEXTS) from exc
    return render.SUCCESS


@ENDPOINTS.add("POST", "user/delete", "Delete users")
def delete(ctx: Context, p: Params) -> Any:
    active, invited = p.texts("sub_ids"), p.texts("invited_ids")
    if active is None and invited is None:
        raise e.RemotePcError(400, e.INVALID_PARAMETERS)
    try:
        done = ctx.services.people.delete(ctx.actor, active or [], invited or [])
    except Exception as exc:
        raise e.describe(exc) from exc
    return {
        "active_user_delete_status": render.statuses(done.active),
        "invited_user_delete_status": render.statuses(done.invited),
    }


@ENDPOINTS.add("GET", "user/list", "Get users")
def list_users(ctx: Context, p: Params) -> Any:
    index, per_page = p.page()
    query = page_query(index, per_page)
    try:
        page = ctx.services.people.find(ctx.actor, per_page, query.offset)
    except Exception as exc:
        raise e.describe(exc) from exc
    check_page(index, per_page, page.total)
    return {
        "pagination": render.pagination(per_page, page.total, index),
        "users": [render.user(u) for u in page.items],
    }


def _assignment(ctx: Context, p: Params, *, add: bool) -> Any:
    username = p.text("username")
    names = p.texts("computer_names", missing=e.NAMES_MISSING)
    if not username or not username.strip():
        raise e.RemotePcError(400, e.USERNAME_REQUIRED)
    if not names:
        raise e.RemotePcError(400, e.NAMES_MISSING)
    if any(not n.strip() for n in names):
        raise e.RemotePcError(400, e.COMPUTER_BLANK)
    people = ctx.services.people
    try:
        (people.assign if add else people.unassign)(ctx.actor, username, names)
    except Exception as exc:
        raise e.describe(exc, e.ASSIGN_TEXTS) from exc
    return render.SUCCESS


@ENDPOINTS.add("POST", "computer/assign", "Assign computer to user")
def assign(ctx: Context, p: Params) -> Any:
    return _assignment(ctx, p, add=True)


@ENDPOINTS.add("POST", "computer/unassign", "Unassign computer from user")
def unassign(ctx: Context, p: Params) -> Any:
    return _assignment(ctx, p, add=False)


@ENDPOINTS.add("GET", "user/devices", "Get users devices", source="inferred")
def user_devices(ctx: Context, p: Params) -> Any:
    """The devices assigned to ``username``, as Get devices lists them (the English index names
    this endpoint; its shape is inferred)."""
    username = p.text("username")
    if not username or not username.strip():
        raise e.RemotePcError(400, e.USERNAME_REQUIRED)
    index, per_page = p.page()
    try:
        uid = ctx.services.people.end_user_id(ctx.actor, username)
        query = page_query(index, per_page).and_(q.Cond("user_ids", q.Op.CONTAINS, uid))
        page = ctx.services.computers.find_detailed(ctx.actor, query)
    except Exception as exc:
        raise e.describe(exc, e.USER_TEXTS) from exc
    check_page(index, per_page, page.total)
    comments = ctx.services.by_name.latest_comments(ctx.actor, [c.id for c in page.items])
    return {
        "devices": [render.device(c, comments.get(c.id)) for c in page.items],
        "pagination": render.pagination(per_page, page.total, index),
    }
