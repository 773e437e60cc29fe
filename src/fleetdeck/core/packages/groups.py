"""Package groups: ``groups`` rows of kind ``package`` with ordered members.

Sequences stay dense (1..n): a new member is appended at the end, removing one renumbers the
rest, moving one shifts the others. Every membership change calls ``group_hooks`` in the same
transaction (deployment rules re-evaluate).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from fleetdeck.core.audit import AuditLog
from fleetdeck.core.authz import Actor, Perm
from fleetdeck.core.errors import NotFound, PermissionDenied, Reason, ValidationFailed
from fleetdeck.core.groups.service import GroupService
from fleetdeck.core.packages import queries
from fleetdeck.core.packages.entities import PackageGroupInfo, PackageInfo, PackageListing
from fleetdeck.core.query import Query
from fleetdeck.storage.db import Database
from fleetdeck.storage.tables import Group, Package, PackageFamily, PackageGroupMember
from fleetdeck.storage.uow import UnitOfWork

GroupHook = Callable[[Session, int], None]  # (session, package group id)


def _renumber(s: Session, group_id: int, order: list[int]) -> None:
    s.execute(delete(PackageGroupMember).where(PackageGroupMember.group_id == group_id))
    s.flush()
    s.add_all(PackageGroupMember(group_id=group_id, package_id=p, sequence=i) for i, p in enumerate(order, 1))
    s.flush()


class PackageGroups:
    def __init__(self, db: Database, audit: AuditLog, groups: GroupService) -> None:
        self._db = db
        self._audit = audit
        self._groups = groups
        self.group_hooks: list[GroupHook] = []

    def create_group(
        self,
        actor: Actor,
        name: str,
        *,
        parent_id: int | None = None,
        description: str = "",
        key: str | None = None,
    ) -> PackageGroupInfo:
        self._require(actor, "group.create")
        g = self._groups.create(
            actor, name, parent_id=parent_id, description=description, kind="package", key=key
        )
        return self.get_group(actor, g.id)

    def update_group(
        self,
        actor: Actor,
        group_id: int,
        *,
        name: str | None = None,
        description: str | None = None,
        parent_id: int | None = None,
        move: bool = False,
    ) -> PackageGroupInfo:
        self._require(actor, "group.update", group_id)
        self.get_group(actor, group_id)
        self._groups.update(
            actor, group_id, name=name, description=description, parent_id=parent_id, move=move
        )
        return self.get_group(actor, group_id)

    def delete_group(self, actor: Actor, group_id: int) -> None:
        self._require(actor, "group.delete", group_id)
        self.get_group(actor, group_id)
        self._groups.delete(actor, group_id)

    def _require(self, actor: Actor, action: str, group_id: int | None = None) -> None:
        """The packages permission, checked before GroupService makes (and audits) the change
        under its own: a refusal here is recorded as ``AuditLog.mutation`` records its own."""
        try:
            actor.require(Perm.MANAGE_PACKAGES)
        except PermissionDenied as exc:
            oid = "" if group_id is None else group_id
            self._audit.record(actor, action, "group", oid, "denied", error=exc.message)
            raise

    def get_group(self, actor: Actor, group_id: int) -> PackageGroupInfo:
        actor.require(Perm.READ)
        with UnitOfWork(self._db, readonly=True) as uow:
            for g in queries.package_groups(uow.session, all_levels=True):
                if g.id == group_id:
                    return g
        raise NotFound("package group", group_id)

    def list_groups(
        self, actor: Actor, *, parent_id: int | None = None, all_levels: bool = False
    ) -> list[PackageGroupInfo]:
        actor.require(Perm.READ)
        with UnitOfWork(self._db, readonly=True) as uow:
            return queries.package_groups(uow.session, parent_id=parent_id, all_levels=all_levels)

    def find_groups(self, actor: Actor, query: Query) -> list[PackageGroupInfo]:
        """The package groups of every level that ``query`` keeps, filtered in SQL over the
        fields computer groups have (``core.groups.service.FIELDS``: key, parent_key,
        description...); sorted by name unless the query says otherwise, like ``list_groups``."""
        actor.require(Perm.READ)
        with UnitOfWork(self._db, readonly=True) as uow:
            return queries.package_groups(uow.session, all_levels=True, query=query)

    def group_packages(self, actor: Actor, group_id: int) -> list[tuple[int, PackageInfo]]:
        """(sequence, package) in group order."""
        actor.require(Perm.READ)
        with UnitOfWork(self._db, readonly=True) as uow:
            s = uow.session
            self._package_group(s, group_id)
            ids = queries.group_package_ids(s, group_id)
            infos = queries.ordered_infos(s, ids)
            return list(enumerate(infos, 1))

    def group_family_keys(self, actor: Actor) -> dict[int, list[str]]:
        """Package group id -> the keys of the families its packages belong to (sorted), for
        every package group, in one query: opsi's ObjectToGroup rows of product groups."""
        actor.require(Perm.READ)
        with UnitOfWork(self._db, readonly=True) as uow:
            rows = uow.session.execute(
                select(PackageGroupMember.group_id, PackageFamily.key)
                .join(Package, Package.id == PackageGroupMember.package_id)
                .join(PackageFamily, PackageFamily.id == Package.family_id)
                .distinct()
            )
            found: dict[int, list[str]] = {}
            for gid, key in rows:
                found.setdefault(gid, []).append(key)
        return {gid: sorted(keys) for gid, keys in found.items()}

    def list_packages(
        self, actor: Actor, *, family_id: int | None = None, group_id: int | None = None
    ) -> PackageListing:
        """A group's packages (group order) with its subgroups, or a family's packages (newest
        first) with the root package groups. The group wins when both are given."""
        actor.require(Perm.READ)
        with UnitOfWork(self._db, readonly=True) as uow:
            s = uow.session
            if group_id is not None:
                g = self._package_group(s, group_id)
                ids = queries.group_package_ids(s, group_id)
                return PackageListing(
                    name=g.name,
                    packages=queries.ordered_infos(s, ids),
                    groups=queries.package_groups(s, parent_id=group_id),
                )
            if family_id is not None:
                f = s.get(PackageFamily, family_id)
                if f is None:
                    raise NotFound("package family", family_id)
                ids = list(
                    s.scalars(
                        select(Package.id)
                        .where(Package.family_id == family_id)
                        .order_by(Package.created_at.desc(), Package.id.desc())
                    )
                )
                return PackageListing(
                    name=f.name, packages=queries.ordered_infos(s, ids), groups=queries.package_groups(s)
                )
        raise ValidationFailed(
            "package_family_id or package_group_id is required", reason=Reason.FAMILY_OR_GROUP_REQUIRED
        )

    def add_to_group(
        self, actor: Actor, group_id: int, package_id: int, *, sequence: int | None = None
    ) -> int:
        """Append (or, with ``sequence``, put the member at that 1-based place; beyond the end =
        last), in one transaction; returns the member's sequence. Without ``sequence`` a member
        already there keeps its place."""
        with self._audit.mutation(
            actor, "package_group.add_member", "group", group_id, perm=Perm.MANAGE_PACKAGES
        ) as m:
            s = m.session
            self._package_group(s, group_id)
            if s.get(Package, package_id) is None:
                raise NotFound("package", package_id)
            if sequence is not None and sequence < 1:
                raise ValidationFailed("sequence starts at 1", field="sequence", reason=Reason.INVALID)
            existing = s.get(PackageGroupMember, (group_id, package_id))
            m.detail = {"package_id": package_id, **({"sequence": sequence} if sequence is not None else {})}
            if sequence is None:
                if existing is not None:
                    return existing.sequence
                return self._append(s, group_id, package_id)
            if existing is not None:
                s.expunge(existing)  # _renumber writes the group's rows anew
            order = [p for p in queries.group_package_ids(s, group_id) if p != package_id]
            place = min(sequence - 1, len(order))
            order.insert(place, package_id)
            _renumber(s, group_id, order)
            self._changed(s, group_id)
            return place + 1

    def add_family_to_group(self, actor: Actor, group_id: int, family_key: str) -> int:
        """Make the family a member of the package group, in one transaction: when a package of
        the family is in the group already nothing changes (its sequence is returned), else the
        family's newest package (latest created) is appended. For transports whose group
        members are families, not versions (opsi's ObjectToGroup of a ProductGroup); reading the
        members first and adding in a second call let a concurrent request slip in between. A
        family without packages is NotFound ``package family``."""
        with self._audit.mutation(
            actor, "package_group.add_member", "group", group_id, perm=Perm.MANAGE_PACKAGES
        ) as m:
            s = m.session
            self._package_group(s, group_id)
            present = s.execute(
                select(PackageGroupMember.package_id, PackageGroupMember.sequence)
                .join(Package, Package.id == PackageGroupMember.package_id)
                .join(PackageFamily, PackageFamily.id == Package.family_id)
                .where(PackageGroupMember.group_id == group_id, PackageFamily.key == family_key)
                .order_by(PackageGroupMember.sequence)
                .limit(1)
            ).first()
            if present is not None:
                m.detail = {"family_key": family_key, "package_id": present[0], "present": True}
                return int(present[1])
            newest = s.scalar(
                select(Package.id)
                .join(PackageFamily, PackageFamily.id == Package.family_id)
                .where(PackageFamily.key == family_key)
                .order_by(Package.created_at.desc(), Package.id.desc())
                .limit(1)
            )
            if newest is None:
                raise NotFound("package family", family_key)
            m.detail = {"family_key": family_key, "package_id": newest}
            return self._append(s, group_id, newest)

    def remove_family_from_group(self, actor: Actor, group_id: int, family_key: str) -> list[int]:
        """Remove every package of the family from the package group in one transaction (one
        renumbering, one audit row); returns the package ids removed (none: nothing changed)."""
        with self._audit.mutation(
            actor, "package_group.remove_member", "group", group_id, perm=Perm.MANAGE_PACKAGES
        ) as m:
            s = m.session
            self._package_group(s, group_id)
            mine = set(
                s.scalars(
                    select(Package.id)
                    .join(PackageFamily, PackageFamily.id == Package.family_id)
                    .where(PackageFamily.key == family_key)
                )
            )
            order = queries.group_package_ids(s, group_id)
            gone = [p for p in order if p in mine]
            m.detail = {"family_key": family_key, "package_ids": gone}
            if gone:
                _renumber(s, group_id, [p for p in order if p not in mine])
                self._changed(s, group_id)
            return gone

    def _append(self, s: Session, group_id: int, package_id: int) -> int:
        """Add a package that is not a member yet at the group's end; its sequence."""
        last = s.scalar(
            select(func.max(PackageGroupMember.sequence)).where(PackageGroupMember.group_id == group_id)
        )
        s.add(PackageGroupMember(group_id=group_id, package_id=package_id, sequence=(last or 0) + 1))
        s.flush()
        self._changed(s, group_id)
        return (last or 0) + 1

    def remove_from_group(self, actor: Actor, group_id: int, package_id: int) -> None:
        with self._audit.mutation(
            actor, "package_group.remove_member", "group", group_id, perm=Perm.MANAGE_PACKAGES
        ) as m:
            s = m.session
            self._package_group(s, group_id)
            order = queries.group_package_ids(s, group_id)
            m.detail = {"package_id": package_id}
            if package_id not in order:
                return
            order.remove(package_id)
            _renumber(s, group_id, order)
            self._changed(s, group_id)

    def move_in_group(self, actor: Actor, group_id: int, package_id: int, sequence: int) -> None:
        """Put a member at ``sequence`` (1-based; beyond the end = last)."""
        with self._audit.mutation(
            actor, "package_group.move_member", "group", group_id, perm=Perm.MANAGE_PACKAGES
        ) as m:
            s = m.session
            self._package_group(s, group_id)
            order = queries.group_package_ids(s, group_id)
            if package_id not in order:
                raise NotFound("package group member", package_id)
            if sequence < 1:
                raise ValidationFailed("sequence starts at 1", field="sequence", reason=Reason.INVALID)
            order.remove(package_id)
            order.insert(sequence - 1, package_id)
            m.detail = {"package_id": package_id, "sequence": sequence}
            _renumber(s, group_id, order)
            self._changed(s, group_id)

    @staticmethod
    def _package_group(s: Session, group_id: int) -> Group:
        g = s.get(Group, group_id)
        if g is None or g.kind != "package":
            raise NotFound("package group", group_id)
        return g

    def _changed(self, s: Session, group_id: int) -> None:
        for hook in self.group_hooks:
            hook(s, group_id)
