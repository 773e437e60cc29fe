"""User groups: named sets of users whose permissions decide what their members may do, in
every transport alike.

A group grants some of ``GROUP_PERMS`` (core permissions; transports name them in their own
words). A user in at least one group may use a permission of ``GROUP_PERMS`` only if one of
their groups grants it, whatever their role says (``Actor.withheld``), and gets the ones a group
grants beyond the role (``Actor.granted``). Members of ``ADMIN_GROUP`` are admins (their role
follows the membership) and no group restricts them. A user in no group keeps their role's
permissions as before.

What the groups grant is copied onto the user row (``users.group_perms``) in the transaction
that changes a membership or a group, so building an ``Actor`` at login costs no extra query.
Restrictions (which tunnels, which commands) are stored as data for the transports that enforce
them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from fleetdeck.core.audit import AuditLog
from fleetdeck.core.authz import Actor, Perm, Role
from fleetdeck.core.errors import NotFound, ValidationFailed
from fleetdeck.core.ports import Clock
from fleetdeck.storage.db import Database
from fleetdeck.storage.tables import User, UserGroup, UserGroupMember
from fleetdeck.storage.uow import UnitOfWork

ADMIN_GROUP = "Administrators"
# The permissions a group decides, in a fixed order (what transports list).
GROUP_PERMS: tuple[Perm, ...] = (
    Perm.REMOTE_ACCESS,
    Perm.RUN_SCRIPTS,
    Perm.RUN_COMMANDS,
    Perm.USE_VAULT,
    Perm.MANAGE_SCHEDULES,
    Perm.READ_MONITORING,
    Perm.UPLOAD_FILES,
    Perm.READ_AUDIT,
)
MAX_NAME = 150


@dataclass(frozen=True, slots=True)
class GroupInfo:
    name: str
    permissions: Mapping[Perm, bool]  # every member of GROUP_PERMS
    restrictions: Mapping[str, Any]
    stored: bool  # False: only named by memberships


@dataclass(frozen=True, slots=True)
class Membership:
    """A user's groups and what they may do because of them."""

    user_id: int
    groups: tuple[str, ...]
    granted: frozenset[Perm]
    withheld: frozenset[Perm]
    restrictions: Mapping[str, Any]  # merged over the user's groups (lists joined)


def perms_of(stored: Mapping[str, Any] | None) -> tuple[frozenset[Perm], frozenset[Perm]]:
    """(granted, withheld) from a user row's ``group_perms``."""
    if not stored:
        return frozenset(), frozenset()
    return (
        frozenset(Perm(p) for p in stored.get("granted", ())),
        frozenset(Perm(p) for p in stored.get("withheld", ())),
    )


def _check_name(name: str) -> str:
    text = name.strip()
    if not text or len(text) > MAX_NAME or "\x00" in text:
        raise ValidationFailed(f"a group name must be 1-{MAX_NAME} characters", field="name")
    return text


def _full(perms: Mapping[str, Any]) -> dict[Perm, bool]:
    return {p: bool(perms.get(p.value, False)) for p in GROUP_PERMS}


def set_memberships(s: Session, user: User, names: Iterable[str]) -> None:
    """Make ``names`` the user's groups, inside the caller's transaction: the membership rows,
    the role (admin exactly when in ``ADMIN_GROUP``; an admin leaving it becomes an operator)
    and the copy of what the groups grant."""
    chosen = list(dict.fromkeys(_check_name(n) for n in names))
    s.execute(delete(UserGroupMember).where(UserGroupMember.user_id == user.id))
    s.add_all(UserGroupMember(user_id=user.id, group_name=n) for n in chosen)
    if ADMIN_GROUP in chosen:
        user.role = Role.ADMIN.value
    elif user.role == Role.ADMIN.value:
        user.role = Role.OPERATOR.value
    _store_perms(s, user, chosen)


def _store_perms(s: Session, user: User, names: Sequence[str]) -> None:
    if ADMIN_GROUP in names:
        user.group_perms = {"granted": [], "withheld": []}
        return
    rows = s.scalars(select(UserGroup).where(UserGroup.name.in_(names))).all() if names else []
    granted = {p for row in rows for p, on in _full(row.permissions).items() if on}
    user.group_perms = {
        "granted": sorted(p.value for p in granted),
        "withheld": sorted(p.value for p in GROUP_PERMS if p not in granted),
    }


def _refresh_members(s: Session, name: str) -> int:
    """Recompute the stored permissions of every member of group ``name``; returns how many."""
    members = s.scalars(
        select(User)
        .join(UserGroupMember, UserGroupMember.user_id == User.id)
        .where(UserGroupMember.group_name == name)
    ).all()
    if not members:
        return 0
    ids = [u.id for u in members]
    names: dict[int, list[str]] = {i: [] for i in ids}
    for uid, gname in s.execute(
        select(UserGroupMember.user_id, UserGroupMember.group_name).where(UserGroupMember.user_id.in_(ids))
    ):
        names[uid].append(gname)
    for user in members:
        _store_perms(s, user, names[user.id])
    return len(members)


def _merge_restrictions(rows: Iterable[UserGroup]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for row in rows:
        for kind, value in (row.restrictions or {}).items():
            if isinstance(value, dict) and isinstance(merged.get(kind), dict):
                merged[kind] = {**merged[kind], **value}
            else:
                merged.setdefault(kind, value)
    return merged


class UserGroupService:
    def __init__(self, db: Database, audit: AuditLog, clock: Clock) -> None:
        self._db = db
        self._audit = audit
        self._clock = clock

    def list(self, actor: Actor) -> list[GroupInfo]:
        """Every group, stored or only named by a membership, by name; two queries."""
        actor.require(Perm.MANAGE_USERS)
        with UnitOfWork(self._db, readonly=True) as uow:
            rows = {g.name: g for g in uow.session.scalars(select(UserGroup))}
            named = set(uow.session.scalars(select(UserGroupMember.group_name).distinct()))
        names = sorted(set(rows) | named | {ADMIN_GROUP})
        return [self._info(n, rows.get(n)) for n in names]

    def get(self, actor: Actor, name: str) -> GroupInfo:
        actor.require(Perm.MANAGE_USERS)
        with UnitOfWork(self._db, readonly=True) as uow:
            row = uow.session.scalar(select(UserGroup).where(UserGroup.name == name))
            if row is None and name != ADMIN_GROUP:
                used = uow.session.scalar(
                    select(func.count())
                    .select_from(UserGroupMember)
                    .where(UserGroupMember.group_name == name)
                )
                if not used:
                    raise NotFound("user group", name)
            return self._info(name, row)

    @staticmethod
    def _info(name: str, row: UserGroup | None) -> GroupInfo:
        if row is None:
            return GroupInfo(name, _full({}), {}, stored=False)
        return GroupInfo(row.name, _full(row.permissions), dict(row.restrictions or {}), stored=True)

    def put(
        self,
        actor: Actor,
        name: str,
        permissions: Mapping[Perm, bool] | None = None,
        restrictions: Mapping[str, Any] | None = None,
    ) -> GroupInfo:
        """Create or change group ``name``: the permissions given are set (others kept), the
        restrictions given replace the stored ones of their kind. Members' permissions follow
        in the same transaction."""
        self._audit.require(actor, Perm.MANAGE_USERS, "user_group.update", "user_group", name)
        name = _check_name(name)
        with self._audit.mutation(
            actor, "user_group.update", "user_group", name, perm=Perm.MANAGE_USERS
        ) as m:
            row = m.session.scalar(select(UserGroup).where(UserGroup.name == name))
            if row is None:
                m.action = "user_group.create"
                row = UserGroup(name=name, permissions={}, restrictions={}, created_at=self._clock())
                m.session.add(row)
            perms = dict(row.permissions or {})
            for perm, on in (permissions or {}).items():
                if perm not in GROUP_PERMS:
                    raise ValidationFailed(f"a group cannot grant {perm.value}", field="permissions")
                perms[perm.value] = bool(on)
            row.permissions = perms
            if restrictions is not None:
                row.restrictions = {**(row.restrictions or {}), **dict(restrictions)}
            m.session.flush()
            refreshed = _refresh_members(m.session, name)
            m.detail = {"permissions": perms, "members_updated": refreshed}
            return self._info(name, row)

    def delete(self, actor: Actor, name: str) -> None:
        """Delete a group: its members leave it (and lose what it granted)."""
        with self._audit.mutation(
            actor, "user_group.delete", "user_group", name, perm=Perm.MANAGE_USERS
        ) as m:
            if name == ADMIN_GROUP:
                raise ValidationFailed(f"the {ADMIN_GROUP} group cannot be deleted", field="name")
            row = m.session.scalar(select(UserGroup).where(UserGroup.name == name))
            members = list(
                m.session.scalars(select(UserGroupMember.user_id).where(UserGroupMember.group_name == name))
            )
            if row is None and not members:
                raise NotFound("user group", name)
            if row is not None:
                m.session.delete(row)
            m.session.execute(delete(UserGroupMember).where(UserGroupMember.group_name == name))
            m.session.flush()
            for user in m.session.scalars(select(User).where(User.id.in_(members))) if members else []:
                remaining = list(
                    m.session.scalars(
                        select(UserGroupMember.group_name).where(UserGroupMember.user_id == user.id)
                    )
                )
                _store_perms(m.session, user, remaining)
            m.detail = {"members_removed": len(members)}

    def memberships(self, actor: Actor, user_ids: Sequence[int] | None = None) -> dict[int, Membership]:
        """Groups and effective group permissions of these users (None: all), in three queries;
        admins by role are reported in ``ADMIN_GROUP`` too. One's own without ``manage_users``."""
        if user_ids is None or any(i != actor.user_id for i in user_ids):
            actor.require(Perm.MANAGE_USERS)
        with UnitOfWork(self._db, readonly=True) as uow:
            users_q = select(User.id, User.role, User.group_perms)
            members_q = select(UserGroupMember.user_id, UserGroupMember.group_name).order_by(
                UserGroupMember.id
            )
            if user_ids is not None:
                users_q = users_q.where(User.id.in_(user_ids))
                members_q = members_q.where(UserGroupMember.user_id.in_(user_ids))
            users = uow.session.execute(users_q).all()
            names: dict[int, list[str]] = {u.id: [] for u in users}
            for uid, gname in uow.session.execute(members_q):
                names.setdefault(uid, []).append(gname)
            wanted = {n for ns in names.values() for n in ns}
            rows = (
                {g.name: g for g in uow.session.scalars(select(UserGroup).where(UserGroup.name.in_(wanted)))}
                if wanted
                else {}
            )
        out: dict[int, Membership] = {}
        for uid, role, stored in users:
            groups = names.get(uid, [])
            if role == Role.ADMIN.value and ADMIN_GROUP not in groups:
                groups = [ADMIN_GROUP, *groups]
            granted, withheld = perms_of(stored)
            out[uid] = Membership(
                uid,
                tuple(groups),
                granted,
                withheld,
                _merge_restrictions(rows[g] for g in groups if g in rows),
            )
        return out
