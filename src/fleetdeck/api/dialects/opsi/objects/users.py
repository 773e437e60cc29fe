"""opsi ``User`` objects = fleetdeck user accounts (admins only, as in opsi).

opsi keeps a record per user who logged in (PAM does the passwords); fleetdeck accounts carry
their own password and role. So a User created through opsi becomes a *disabled* viewer account
with a random password: it exists everywhere (``/api/v1/users`` too) but nobody can log in with
it until an admin sets a password and enables it. ``otpSecret`` is never shown and ``mfaState``
is always ``inactive``: fleetdeck user logins have no second factor yet. Nothing else of a User
is writable: an update that sets ``created`` or ``lastLogin`` to another value, or names
another user in ``ident``, answers BackendBadValueError naming the attribute, not success.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from fleetdeck.api.dialects.opsi.errors import NotSupportedError, OpsiValueError
from fleetdeck.api.dialects.opsi.objects.crud import refuse_unchangeable
from fleetdeck.api.dialects.opsi.registry import Context
from fleetdeck.api.dialects.opsi.render import opsi_time
from fleetdeck.core.authz import Role
from fleetdeck.core.secrets import random_password
from fleetdeck.core.users.entities import UserInfo

Row = dict[str, Any]
USER_ID_RE = re.compile(r"^[A-Za-z0-9._@-]{1,150}$")
UNCHANGEABLE = {
    "created": "fleetdeck sets it when the account is made",
    "lastLogin": "fleetdeck sets it at each login",
}


def force_user_id(value: Any) -> str:
    text = str(value or "").strip()
    if not USER_ID_RE.match(text):
        raise OpsiValueError(f"Bad user id: '{value}'")
    return text


class UserAdapter:
    ident: tuple[str, ...] = ("id",)
    attributes: tuple[str, ...] = ("id", "created", "lastLogin", "mfaState", "otpSecret")
    family: Mapping[str, tuple[str, ...]] = {"User": ("User",)}

    def users(self, ctx: Context) -> dict[str, UserInfo]:
        return {u.username: u for u in ctx.services.users.list_users(ctx.actor)}

    def fetch(self, ctx: Context, flt: Mapping[str, Any]) -> list[Row]:
        return [
            {
                "id": u.username,
                "created": opsi_time(u.created_at),
                "lastLogin": opsi_time(u.last_login_at),
                "mfaState": "inactive",
                "otpSecret": None,
                "type": "User",
            }
            for u in self.users(ctx).values()
        ]

    def coerce(self, obj: Mapping[str, Any], partial: bool) -> Row:
        if obj.get("mfaState") not in (None, "", "inactive"):
            raise NotSupportedError(
                "fleetdeck user logins have no second factor yet (mfaState 'inactive' only)"
            )
        if obj.get("otpSecret"):
            raise NotSupportedError("fleetdeck user logins have no second factor yet (no otpSecret)")
        out: Row = {"type": "User", "id": force_user_id(obj.get("id"))}
        for key in ("created", "lastLogin", "ident"):
            if obj.get(key) is not None:  # only checked against the stored values on update
                out[key] = obj[key]
        return out

    def refuse_changes(self, ctx: Context, rows: list[Row]) -> None:
        current = {r["id"]: r for r in self.fetch(ctx, {})}
        for row in rows:
            refuse_unchangeable("user", row["id"], row, current.get(row["id"]), UNCHANGEABLE)

    def insert(self, ctx: Context, obj: Row) -> None:
        """A missing User becomes a disabled viewer with a random password; an existing one is
        kept (nothing of a User is writable: created and lastLogin are fleetdeck's). One core
        put decides which in its own transaction."""
        ctx.services.users.put(ctx.actor, obj["id"], random_password(), Role.VIEWER, disabled=True)

    def update(self, ctx: Context, obj: Row, create: bool) -> None:
        if create:
            self.insert(ctx, obj)

    def delete(self, ctx: Context, idents: list[Row]) -> int:
        users = self.users(ctx)
        done = 0
        for ident in idents:
            found = users.get(str(ident["id"]))
            if found is not None:
                ctx.services.users.delete(ctx.actor, found.id)
                done += 1
        return done
