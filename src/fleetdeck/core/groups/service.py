"""Static, hierarchical groups of computers; a computer can be in many."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, aliased

from fleetdeck.core.audit import AuditLog
from fleetdeck.core.authz import Actor, Perm
from fleetdeck.core.errors import Conflict, NotFound, ValidationFailed
from fleetdeck.core.ports import Clock
from fleetdeck.core.query import Page, Query, apply_query
from fleetdeck.storage.db import Database
from fleetdeck.storage.locks import Serial, serialize
from fleetdeck.storage.tables import Computer, Group, GroupMember
from fleetdeck.storage.uow import UnitOfWork

KEY_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,254}$")
MAX_DEPTH = 32
PUT_KINDS = ("computer", "package")  # the kinds ``put`` addresses by key


@dataclass(frozen=True, slots=True)
class GroupInfo:
    id: int
    key: str
    name: str
    kind: str
    parent_id: int | None
    description: str
    created_at: datetime
    member_count: int


_Parent = aliased(Group)

FIELDS = {
    "id": Group.id,
    "key": Group.key,
    "name": Group.name,
    "parent_id": Group.parent_id,
    # the parent's key, a correlated subquery: filters on it need no join (null at the top)
    "parent_key": select(_Parent.key).where(_Parent.id == Group.parent_id).scalar_subquery(),
    "description": Group.description,
    "kind": Group.kind,
    "created_at": Group.created_at,
}


# Called inside the transaction that changed a computer group's members (group id, the computer
# ids that joined or left); deployment rules re-evaluate through it.
MembershipHook = Callable[[Session, int, Sequence[int]], None]


def slug(name: str) -> str:
    s = re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-.")
    return s or "group"


def check_unique_name(
    s: Session, name: str, parent_id: int | None, kind: str, own_id: int | None, noun: str = "group"
) -> None:
    """Names are unique among siblings of one kind regardless of case, in every script
    (computer, package and report groups): compared with ``casefold`` here because SQLite's
    ``lower()`` folds ASCII only ("Ú" and "ú" differ), and the unique constraint does not hold
    at the root, where ``parent_id`` is NULL. Serialised on PostgreSQL, where two transactions
    creating the same name at once would both find it free (and a new group's key is picked from
    what exists right after this check)."""
    stmt = select(Group.id, Group.name).where(
        Group.kind == kind,
        Group.parent_id.is_(None) if parent_id is None else Group.parent_id == parent_id,
    )
    wanted = name.casefold()
    with s.no_autoflush:  # the pending rename must not hit the unique constraint before this check
        serialize(s, Serial.GROUP_NAMES)
        siblings = s.execute(stmt).all()
    if any(n.casefold() == wanted and gid != own_id for gid, n in siblings):
        raise Conflict(f"a {noun} named {name!r} already exists there", field="name")


class GroupService:
    def __init__(self, db: Database, audit: AuditLog, clock: Clock) -> None:
        self._db = db
        self._audit = audit
        self._clock = clock
        self.membership_hooks: list[MembershipHook] = []

    @staticmethod
    def _info(s: Session, g: Group) -> GroupInfo:
        count = (
            s.scalar(select(func.count()).select_from(GroupMember).where(GroupMember.group_id == g.id)) or 0
        )
        return GroupInfo(
            id=g.id,
            key=g.key,
            name=g.name,
            kind=g.kind,
            parent_id=g.parent_id,
            description=g.description,
            created_at=g.created_at,
            member_count=count,
        )

    def find(self, actor: Actor, query: Query, kind: str = "computer") -> Page[GroupInfo]:
        if actor.computer_scope(Perm.READ) is not None:
            return Page(items=[], total=0)  # an end user sees their computers, no groups
        with UnitOfWork(self._db, readonly=True) as uow:
            s = uow.session
            counts = (
                select(GroupMember.group_id, func.count().label("n"))
                .group_by(GroupMember.group_id)
                .subquery()
            )
            stmt: Any = (
                select(Group, func.coalesce(counts.c.n, 0))
                .outerjoin(counts, counts.c.group_id == Group.id)
                .where(Group.kind == kind)
            )
            count = select(func.count()).select_from(Group).where(Group.kind == kind)
            stmt, count_stmt = apply_query(stmt, count, query, FIELDS)
            assert count_stmt is not None
            items = [
                GroupInfo(
                    id=g.id,
                    key=g.key,
                    name=g.name,
                    kind=g.kind,
                    parent_id=g.parent_id,
                    description=g.description,
                    created_at=g.created_at,
                    member_count=n,
                )
                for g, n in s.execute(stmt)
            ]
            return Page(items=items, total=s.scalar(count_stmt) or 0)

    def get(self, actor: Actor, group_id: int) -> GroupInfo:
        actor.require(Perm.READ)
        with UnitOfWork(self._db, readonly=True) as uow:
            g = uow.session.get(Group, group_id)
            if g is None:
                raise NotFound("group", group_id)
            return self._info(uow.session, g)

    def create(
        self,
        actor: Actor,
        name: str,
        *,
        parent_id: int | None = None,
        description: str = "",
        key: str | None = None,
        kind: str = "computer",
    ) -> GroupInfo:
        name = name.strip()
        if not name or len(name) > 255:
            raise ValidationFailed("name must be 1-255 characters", field="name")
        if key is not None and not KEY_RE.match(key):
            raise ValidationFailed("key must be lower case letters, digits, '.', '_' or '-'", field="key")
        with self._audit.mutation(actor, "group.create", "group", perm=Perm.MANAGE_COMPUTERS) as m:
            s = m.session
            if parent_id is not None:
                parent = s.get(Group, parent_id)
                if parent is None or parent.kind != kind:
                    raise NotFound("group", parent_id)
            check_unique_name(s, name, parent_id, kind, None)
            g = Group(
                key=key or self._free_key(s, slug(name)),
                name=name,
                kind=kind,
                parent_id=parent_id,
                description=description,
                created_at=self._clock(),
            )
            if key is not None and s.scalar(select(Group.id).where(Group.key == key)):
                raise Conflict(f"group key {key!r} is taken", field="key")
            s.add(g)
            s.flush()
            m.object_id = str(g.id)
            m.detail = {"name": name, "parent_id": parent_id}
            return self._info(s, g)

    def update(
        self,
        actor: Actor,
        group_id: int,
        *,
        name: str | None = None,
        description: str | None = None,
        parent_id: int | None = None,
        move: bool = False,
    ) -> GroupInfo:
        """``move=True`` applies ``parent_id`` (None = to the root); otherwise the parent is kept."""
        with self._audit.mutation(actor, "group.update", "group", group_id, perm=Perm.MANAGE_COMPUTERS) as m:
            s = m.session
            g = s.get(Group, group_id)
            if g is None:
                raise NotFound("group", group_id)
            if move and parent_id != g.parent_id:
                self._check_parent(s, g, parent_id)
                m.detail["parent_id"] = [g.parent_id, parent_id]
                g.parent_id = parent_id
            if name is not None:
                name = name.strip()
                if not name or len(name) > 255:
                    raise ValidationFailed("name must be 1-255 characters", field="name")
                m.detail["name"] = [g.name, name]
                g.name = name
            if name is not None or move:
                check_unique_name(s, g.name, g.parent_id, g.kind, g.id)
            if description is not None:
                g.description = description
            return self._info(s, g)

    def put(
        self,
        actor: Actor,
        key: str,
        *,
        kind: str | None = None,
        description: str | None = None,
        parent_key: str | None = None,
        move: bool = False,
        create: bool = True,
    ) -> GroupInfo | None:
        """Create-or-update of the computer or package group with this ``key`` (keys are unique
        across kinds), decided in one transaction serialised with other puts: a transport that
        looked the key up first and then created could create it twice, or fail half-way.

        An existing group must be of ``kind`` when one is given (else ValidationFailed, field
        ``kind``, detail ``kind`` = what it is); it gets ``description`` unless None and, with
        ``move``, the parent ``parent_key`` (None: the root), under ``update``'s checks (audited
        ``group.update``). A missing one is created (audited ``group.create``) as ``kind``
        (default ``computer``), named ``key``, below ``parent_key``, under ``create``'s checks;
        with ``create`` False it stays missing (returns None). A parent key that is no group of
        that kind is NotFound ``parent group``. Package groups also need the packages
        permission, as ``PackageGroups`` asks for them; a key taken by a group of another kind
        (a report group) is a Conflict, as ``create`` answers it."""
        if kind is not None and kind not in PUT_KINDS:
            raise ValidationFailed(f"kind must be one of {', '.join(PUT_KINDS)}", field="kind")
        first = "group.create" if create else "group.update"
        with self._audit.mutation(actor, first, "group", perm=Perm.MANAGE_COMPUTERS) as m:
            s = m.session
            serialize(s, Serial.GROUP_KEYS)
            g = s.scalar(select(Group).where(Group.key == key))
            if g is not None and g.kind not in PUT_KINDS:
                raise Conflict(f"group key {key!r} is taken", field="key")
            if g is None and not create:
                m.action, m.detail = "group.update", {"key": key, "missing": True}
                return None
            if g is not None:
                m.action, m.object_id = "group.update", str(g.id)
            want = g.kind if g is not None else kind or "computer"
            if want == "package":
                actor.require(Perm.MANAGE_PACKAGES)
            if g is not None and kind not in (None, g.kind):
                raise ValidationFailed(
                    f"group {key!r} is a {g.kind} group, not a {kind} group", field="kind", kind=g.kind
                )
            parent_id = self._parent_by_key(s, parent_key, want) if move or g is None else None
            if g is None:
                if not KEY_RE.match(key):
                    raise ValidationFailed(
                        "key must be lower case letters, digits, '.', '_' or '-'", field="key"
                    )
                check_unique_name(s, key, parent_id, want, None)
                g = Group(
                    key=key,
                    name=key,
                    kind=want,
                    parent_id=parent_id,
                    description=description or "",
                    created_at=self._clock(),
                )
                s.add(g)
                s.flush()
                m.object_id, m.detail = str(g.id), {"name": key, "parent_id": parent_id}
                return self._info(s, g)
            if move and parent_id != g.parent_id:
                self._check_parent(s, g, parent_id)
                m.detail["parent_id"] = [g.parent_id, parent_id]
                g.parent_id = parent_id
                check_unique_name(s, g.name, g.parent_id, g.kind, g.id)
            if description is not None and description != g.description:
                m.detail["description"] = True
                g.description = description
            return self._info(s, g)

    @staticmethod
    def _parent_by_key(s: Session, key: str | None, kind: str) -> int | None:
        if not key:
            return None
        found = s.scalar(select(Group.id).where(Group.key == key, Group.kind == kind))
        if found is None:
            raise NotFound("parent group", key)
        return found

    def delete(self, actor: Actor, group_id: int) -> None:
        with self._audit.mutation(actor, "group.delete", "group", group_id, perm=Perm.MANAGE_COMPUTERS) as m:
            s = m.session
            g = s.get(Group, group_id)
            if g is None:
                raise NotFound("group", group_id)
            if s.scalar(select(Group.id).where(Group.parent_id == group_id).limit(1)):
                raise Conflict("the group has subgroups; delete or move them first")
            m.detail = {"name": g.name}
            s.delete(g)

    def memberships(self, actor: Actor) -> dict[int, list[int]]:
        """Group id -> its member computer ids (ascending), for every group, in one query."""
        actor.require(Perm.READ)
        found: dict[int, list[int]] = {}
        with UnitOfWork(self._db, readonly=True) as uow:
            rows = uow.session.execute(
                select(GroupMember.group_id, GroupMember.computer_id).order_by(
                    GroupMember.group_id, GroupMember.computer_id
                )
            )
            for gid, cid in rows:
                found.setdefault(gid, []).append(cid)
        return found

    def members(self, actor: Actor, group_id: int) -> list[int]:
        actor.require(Perm.READ)
        with UnitOfWork(self._db, readonly=True) as uow:
            if uow.session.get(Group, group_id) is None:
                raise NotFound("group", group_id)
            return list(
                uow.session.scalars(
                    select(GroupMember.computer_id)
                    .where(GroupMember.group_id == group_id)
                    .order_by(GroupMember.computer_id)
                )
            )

    def add_members(self, actor: Actor, group_id: int, computer_ids: Iterable[int]) -> list[int]:
        ids = sorted(set(computer_ids))
        with self._audit.mutation(
            actor, "group.add_members", "group", group_id, perm=Perm.MANAGE_COMPUTERS
        ) as m:
            s = m.session
            g = s.get(Group, group_id)
            if g is None or g.kind != "computer":
                raise NotFound("group", group_id)
            found = set(s.scalars(select(Computer.id).where(Computer.id.in_(ids))))
            missing = [i for i in ids if i not in found]
            if missing:
                raise NotFound("computer", missing[0])
            present = set(
                s.scalars(
                    select(GroupMember.computer_id).where(
                        GroupMember.group_id == group_id, GroupMember.computer_id.in_(ids)
                    )
                )
            )
            added = [i for i in ids if i not in present]
            # a flat group's members leave the other flat groups (core.groups.flat)
            left = take_out_of_flat_groups(s, added, keep=group_id) if g.exclusive and added else {}
            now = self._clock()
            s.add_all(GroupMember(group_id=group_id, computer_id=i, added_at=now) for i in added)
            m.detail = {"added": added, **({"left": {str(k): v for k, v in left.items()}} if left else {})}
            if added:
                s.flush()
                for hook in self.membership_hooks:
                    hook(s, group_id, added)
                    for other, gone in left.items():
                        hook(s, other, gone)
            return added

    def remove_members(self, actor: Actor, group_id: int, computer_ids: Iterable[int]) -> None:
        ids = sorted(set(computer_ids))
        with self._audit.mutation(
            actor, "group.remove_members", "group", group_id, perm=Perm.MANAGE_COMPUTERS
        ) as m:
            if m.session.get(Group, group_id) is None:
                raise NotFound("group", group_id)
            m.session.execute(
                delete(GroupMember).where(GroupMember.group_id == group_id, GroupMember.computer_id.in_(ids))
            )
            m.detail = {"removed": ids}
            for hook in self.membership_hooks:
                hook(m.session, group_id, ids)

    def member_ids(self, group_ids: Iterable[int]) -> set[int]:
        """Direct members of the given groups; unknown group ids raise NotFound."""
        gids = sorted(set(group_ids))
        with UnitOfWork(self._db, readonly=True) as uow:
            s = uow.session
            found = set(s.scalars(select(Group.id).where(Group.id.in_(gids))))
            for gid in gids:
                if gid not in found:
                    raise NotFound("group", gid)
            return set(s.scalars(select(GroupMember.computer_id).where(GroupMember.group_id.in_(gids))))

    # ------------------------------------------------------------ helpers

    @staticmethod
    def _free_key(s: Session, base: str) -> str:
        key, n = base[:240], 1
        while s.scalar(select(Group.id).where(Group.key == key)):
            n += 1
            key = f"{base[:240]}-{n}"
        return key

    @staticmethod
    def _check_parent(s: Session, g: Group, parent_id: int | None) -> None:
        cursor, depth = parent_id, 0
        while cursor is not None:
            if cursor == g.id:
                raise ValidationFailed("a group cannot be moved below itself", field="parent_id")
            parent = s.get(Group, cursor)
            if parent is None or parent.kind != g.kind:
                raise NotFound("group", cursor)
            cursor, depth = parent.parent_id, depth + 1
            if depth > MAX_DEPTH:
                raise ValidationFailed("group tree is too deep", field="parent_id")


def take_out_of_flat_groups(s: Session, computer_ids: Sequence[int], keep: int) -> dict[int, list[int]]:
    """``core.groups.flat.take_out_of_flat_groups`` (imported late: flat imports this module)."""
    from fleetdeck.core.groups import flat

    return flat.take_out_of_flat_groups(s, computer_ids, keep)
