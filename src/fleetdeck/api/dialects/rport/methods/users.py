"""Users, their API sessions, and user groups (rportd's Users and User Groups): admins only.
rportd names users by their user name in paths."""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.responses import Response

from fleetdeck.api.dialects.rport import render
from fleetdeck.api.dialects.rport.errors import RportError
from fleetdeck.api.dialects.rport.methods.me import check_password
from fleetdeck.api.dialects.rport.registry import Context, route
from fleetdeck.api.dialects.rport.schemas import UserBody, UserGroupBody
from fleetdeck.core.authz import Perm, Role
from fleetdeck.core.users.groups import ADMIN_GROUP


def _user_id(ctx: Context, name: str) -> int:
    info = ctx.services.users.get_by_name(name)
    if info is None:
        raise RportError(404, f"user with username {name!r} not found")
    return info.id


@route("GET", "/users", admin=True)
def users_list(ctx: Context) -> Response:
    """Every user by name, with groups: three queries whatever their number."""
    users = sorted(ctx.services.users.list_users(ctx.me), key=lambda u: u.username)
    groups = ctx.services.user_groups.memberships(ctx.me)
    return render.ok([render.user(u, groups.get(u.id)) for u in users])


@route("POST", "/users", admin=True)
def users_create(ctx: Context) -> Response:
    body = ctx.decode(UserBody)
    if not body.username:
        raise RportError(400, "username is required")
    if not body.password:
        raise RportError(400, "password is required")
    check_password(ctx, body.password)
    groups = body.groups or []
    ctx.services.users.create(
        ctx.me,
        body.username,
        body.password,
        Role.ADMIN if ADMIN_GROUP in groups else Role.OPERATOR,
        groups=groups,
        password_expired=bool(body.password_expired),
        two_fa_send_to=body.two_fa_send_to or "",
    )
    return render.empty(201)


@route("PUT", "/users/{user_id}", admin=True)
def users_update(ctx: Context) -> Response:
    """Only the keys given change."""
    body = ctx.decode(UserBody)
    if body.password:
        check_password(ctx, body.password)
    ctx.services.users.update(
        ctx.me,
        _user_id(ctx, ctx.path_params["user_id"]),
        username=body.username or None,
        password=body.password or None,
        groups=body.groups,
        password_expired=body.password_expired,
        two_fa_send_to=body.two_fa_send_to,
    )
    return render.empty(204)


@route("DELETE", "/users/{user_id}", admin=True)
def users_delete(ctx: Context) -> Response:
    ctx.services.users.delete(ctx.me, _user_id(ctx, ctx.path_params["user_id"]))
    return render.empty(204)


@route("GET", "/users/{user_id}/sessions", admin=True)
def sessions_list(ctx: Context) -> Response:
    name = ctx.path_params["user_id"]
    sessions = ctx.services.sessions.of_user(ctx.me, _user_id(ctx, name))
    return render.ok([render.session(s, name) for s in sessions])


@route("DELETE", "/users/{user_id}/sessions", admin=True)
def sessions_delete_all(ctx: Context) -> Response:
    ctx.services.sessions.revoke(ctx.me, _user_id(ctx, ctx.path_params["user_id"]))
    return render.empty(204)


@route("DELETE", "/users/{user_id}/sessions/{session_id}", admin=True)
def sessions_delete(ctx: Context) -> Response:
    raw = ctx.path_params["session_id"]
    if not raw.isdigit() or len(raw) > 18:
        raise RportError(400, "invalid session id")
    ctx.services.sessions.revoke(ctx.me, _user_id(ctx, ctx.path_params["user_id"]), int(raw))
    return render.empty(204)


@route("DELETE", "/users/{user_id}/totp-secret", admin=True)
def user_totp_delete(ctx: Context) -> Response:
    from fleetdeck.api.dialects.rport.methods.me import _totp_on

    _totp_on(ctx)
    ctx.services.second_factor.delete(ctx.me, _user_id(ctx, ctx.path_params["user_id"]))
    return render.empty(204)


@route("GET", "/user-groups", admin=True)
def groups_list(ctx: Context) -> Response:
    return render.ok([render.group(g) for g in ctx.services.user_groups.list(ctx.me)])


@route("GET", "/user-groups/{name}", admin=True)
def groups_get(ctx: Context) -> Response:
    return render.ok(render.group(ctx.services.user_groups.get(ctx.me, ctx.path_params["name"])))


@route("PUT", "/user-groups/{name}", admin=True)
def groups_put(ctx: Context) -> Response:
    """``{permissions: {<8 names>: bool}, tunnels_restricted, commands_restricted}``; an unknown
    permission is a 400 (``invalid permission: x``)."""
    body = ctx.decode(UserGroupBody)
    name = ctx.path_params["name"]
    if body.name is not None and body.name != name:
        raise RportError(400, "group name in the body must match the path")
    perms: dict[Perm, bool] = {}
    for key, on in (body.permissions or {}).items():
        if key not in render.PERMISSIONS:
            raise RportError(400, f"invalid permission: {key}")
        perms[render.PERMISSIONS[key]] = on
    restrictions: dict[str, Any] = {}
    if body.tunnels_restricted is not None:
        restrictions["tunnels_restricted"] = msgspec.to_builtins(body.tunnels_restricted)
    if body.commands_restricted is not None:
        restrictions["commands_restricted"] = msgspec.to_builtins(body.commands_restricted)
    info = ctx.services.user_groups.put(ctx.me, name, perms, restrictions)
    return render.ok(render.group(info))


@route("DELETE", "/user-groups/{name}", admin=True)
def groups_delete(ctx: Context) -> Response:
    ctx.services.user_groups.delete(ctx.me, ctx.path_params["name"])
    return render.empty(204)
