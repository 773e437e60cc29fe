"""Core values in rportd's shapes: the ``{data, meta}`` envelope, users, groups, sessions,
tokens and audit entries."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from starlette.responses import Response

from fleetdeck.api.kit.bodies import encode_json
from fleetdeck.core.audit import AuditRecord
from fleetdeck.core.authz import Perm
from fleetdeck.core.users.entities import TokenInfo, UserInfo
from fleetdeck.core.users.groups import GroupInfo, Membership
from fleetdeck.core.users.sessions import SessionInfo

JSON_TYPE = "application/json; charset=UTF-8"

# rportd's 8 permission names -> the core permissions they are (core/users/groups.py GROUP_PERMS)
PERMISSIONS: dict[str, Perm] = {
    "tunnels": Perm.REMOTE_ACCESS,
    "scripts": Perm.RUN_SCRIPTS,
    "commands": Perm.RUN_COMMANDS,
    "vault": Perm.USE_VAULT,
    "scheduler": Perm.MANAGE_SCHEDULES,
    "monitoring": Perm.READ_MONITORING,
    "uploads": Perm.UPLOAD_FILES,
    "auditlog": Perm.READ_AUDIT,
}
# rportd's token scopes <-> core's
SCOPES = {"read": "read", "read+write": "read+write", "clients-auth": "credentials"}
SCOPE_NAMES = {v: k for k, v in SCOPES.items()}
RESTRICTIONS = ("tunnels_restricted", "commands_restricted")


def time(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def ok(data: Any, status: int = 200, meta: Mapping[str, Any] | None = None) -> Response:
    body: dict[str, Any] = {"data": data}
    if meta is not None:
        body["meta"] = dict(meta)
    return Response(encode_json(body), status, media_type=JSON_TYPE)


def bare(data: Any, status: int = 200) -> Response:
    """A body without the ``data`` wrapper (rportd's ``/me/totp-secret``)."""
    return Response(encode_json(data), status, media_type=JSON_TYPE)


def empty(status: int) -> Response:
    return Response(b"", status)


def permissions(granted: Mapping[Perm, bool]) -> dict[str, bool]:
    return {name: bool(granted.get(perm, False)) for name, perm in PERMISSIONS.items()}


def effective(membership: Membership | None, admin: bool) -> dict[str, bool]:
    if admin or membership is None:
        return dict.fromkeys(PERMISSIONS, True) if admin else dict.fromkeys(PERMISSIONS, False)
    return {name: perm in membership.granted for name, perm in PERMISSIONS.items()}


def user(info: UserInfo, membership: Membership | None) -> dict[str, Any]:
    return {
        "username": info.username,
        "groups": list(membership.groups) if membership else [],
        "two_fa_send_to": info.two_fa_send_to,
        "password_expired": info.password_expired,
    }


def me(info: UserInfo, membership: Membership | None, admin: bool) -> dict[str, Any]:
    restrictions = membership.restrictions if membership else {}
    return {
        **user(info, membership),
        "effective_user_permissions": effective(membership, admin),
        "effective_extended_permissions": {k: restrictions.get(k) or {} for k in RESTRICTIONS},
        "group_permissions_enabled": True,
    }


def group(info: GroupInfo) -> dict[str, Any]:
    return {
        "name": info.name,
        "permissions": permissions(info.permissions),
        **{k: info.restrictions.get(k) or {} for k in RESTRICTIONS},
    }


def session(info: SessionInfo, username: str) -> dict[str, Any]:
    return {
        "session_id": info.id,
        "token": "",  # the token is never stored, so never shown again
        "expires_at": time(info.expires_at),
        "last_access_at": time(info.last_used_at),
        "username": username,
        "user_agent": info.user_agent,
        "ip_address": info.source,
    }


def token(info: TokenInfo) -> dict[str, Any]:
    return {
        "prefix": info.prefix,
        "name": info.name,
        "created_at": time(info.created_at),
        "expires_at": time(info.expires_at),
        "scope": SCOPE_NAMES.get(info.scope, info.scope),
    }


# core's object types -> rportd's audit "application"
APPLICATIONS = {
    "user": "auth.user",
    "user_group": "auth.user.group",
    "api_token": "auth.user.me.token",
    "session": "auth.api.session",
    "computer": "client",
    "group": "client.group",
    "job": "client.command",
    "upload": "uploads",
    "library_script": "library.script",
    "library_command": "library.command",
}


def audit(record: AuditRecord) -> dict[str, Any]:
    action = record.action.rsplit(".", 1)[-1]
    if record.result not in ("ok",):
        action = record.result if record.action.startswith("auth.") else action
    return {
        "timestamp": time(record.at),
        "username": record.username,
        "remote_ip": record.source,
        "application": APPLICATIONS.get(record.object_type, record.object_type),
        "action": action,
        "affected_id": record.object_id,
        "client_id": record.object_id if record.object_type == "computer" else "",
        "client_hostname": "",
        "request": encode_json(record.detail).decode() if record.detail else "",
        "response": "",
    }
