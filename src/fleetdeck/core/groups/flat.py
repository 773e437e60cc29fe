"""Flat groups: root-level computer groups of which a computer is in at most one, so that
moving it into one takes it out of the other (an MSP console's view of the fleet). They are
ordinary static groups for everything else (listed, targeted by jobs and rules); only the
"exclusive" flag is theirs, and ``GroupService.add_members`` keeps the rule too."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from fleetdeck.core.audit import AuditLog
from fleetdeck.core.authz import Actor, Perm
from fleetdeck.core.computers.names import resolve
from fleetdeck.core.errors import Conflict, NotFound, Reason, ValidationFailed
from fleetdeck.core.groups.service import GroupService, slug
from fleetdeck.core.ports import Clock
from fleetdeck.storage.db import Database
from fleetdeck.storage.locks import Serial, serialize
from fleetdeck.storage.tables import Group, GroupMember

NAME_MAX = 100
CONTROL = frozenset({"Cc", "Cf", "Zl", "Zp"})


def check_name(name: str) -> str:
    if not name.strip():
        raise ValidationFailed("the group name is empty", field="group_name", reason=Reason.NAME_EMPTY)
    if len(name) > NAME_MAX or any(unicodedata.category(ch) in CONTROL for ch in name):
        raise ValidationFailed(
            f"a group name has at most {NAME_MAX} characters and no control characters",
            field="group_name",
            reason=Reason.INVALID,
        )
    return name.strip()


def take_out_of_flat_groups(s: Session, computer_ids: Sequence[int], keep: int) -> dict[int, list[int]]:
    """Remove the computers from every exclusive group except ``keep``: group id -> computer
    ids that left it (for the membership hooks)."""
    left: dict[int, list[int]] = {}
    for gid, cid in s.execute(
        select(GroupMember.group_id, GroupMember.computer_id)
        .join(Group, Group.id == GroupMember.group_id)
        .where(Group.exclusive.is_(True), Group.id != keep, GroupMember.computer_id.in_(computer_ids))
    ):
        left.setdefault(gid, []).append(cid)
    if left:
        s.execute(
            delete(GroupMember).where(
                GroupMember.group_id.in_(list(left)), GroupMember.computer_id.in_(computer_ids)
            )
        )
    return left


class FlatGroupService:
    def __init__(self, db: Database, audit: AuditLog, clock: Clock, groups: GroupService) -> None:
        self._db = db
        self._audit = audit
        self._clock = clock
        self._groups = groups

    def create(self, actor: Actor, name: str, hostnames: Sequence[str] = ()) -> int:
        """A new flat group named ``name`` (unique among root-level computer groups, regardless
        of case), with the computers named ``hostnames`` moved into it. Returns its id."""
        name = check_name(name)
        with self._audit.mutation(actor, "group.create", "group", perm=Perm.MANAGE_COMPUTERS) as m:
            s = m.session
            serialize(s, Serial.GROUP_KEYS)
            siblings = s.scalars(
                select(Group.name).where(Group.kind == "computer", Group.parent_id.is_(None))
            )
            if any(n.casefold() == name.casefold() for n in siblings):
                raise Conflict(
                    f"a group named {name!r} exists", field="group_name", reason=Reason.NAME_EXISTS
                )
            ids = sorted(set(resolve(s, hostnames).values())) if hostnames else []
            key, n = slug(name)[:240], 1
            while s.scalar(select(Group.id).where(Group.key == key)):
                n += 1
                key = f"{slug(name)[:240]}-{n}"
            g = Group(key=key, name=name, kind="computer", exclusive=True, created_at=self._clock())
            s.add(g)
            s.flush()
            m.object_id = str(g.id)
            m.detail = {"name": name, "exclusive": True, "moved": ids}
            self._move(s, g.id, ids)
            return g.id

    def move(self, actor: Actor, name: str, hostnames: Sequence[str]) -> list[int]:
        """Move the computers named ``hostnames`` into the flat group ``name`` (out of any other
        flat group). Returns their ids."""
        name = check_name(name)
        if not hostnames:
            raise ValidationFailed(
                "name the computers", field="computer_names", reason=Reason.REQUIRED_MISSING
            )
        with self._audit.mutation(actor, "group.move_members", "group", perm=Perm.MANAGE_COMPUTERS) as m:
            s = m.session
            gid = next(
                (
                    g.id
                    for g in s.scalars(
                        select(Group).where(Group.exclusive.is_(True), Group.parent_id.is_(None))
                    )
                    if g.name.casefold() == name.casefold()
                ),
                None,
            )
            if gid is None:
                raise NotFound("group", name)
            m.object_id = str(gid)
            ids = sorted(set(resolve(s, hostnames).values()))
            m.detail = {"name": name, "moved": ids}
            self._move(s, gid, ids)
            return ids

    def _move(self, s: Session, gid: int, ids: list[int]) -> None:
        if not ids:
            return
        changed = take_out_of_flat_groups(s, ids, keep=gid)
        present = set(
            s.scalars(
                select(GroupMember.computer_id).where(
                    GroupMember.group_id == gid, GroupMember.computer_id.in_(ids)
                )
            )
        )
        added = [c for c in ids if c not in present]
        now = self._clock()
        s.add_all(GroupMember(group_id=gid, computer_id=c, added_at=now) for c in added)
        s.flush()
        if added:
            changed[gid] = added
        for group_id, computer_ids in changed.items():
            for hook in self._groups.membership_hooks:
                hook(s, group_id, computer_ids)
