"""Report groups: the ``groups`` table with ``kind = 'report'``, hierarchical like computer groups."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fleetdeck.core.audit import AuditLog
from fleetdeck.core.authz import Actor, Perm
from fleetdeck.core.errors import Conflict, NotFound, Reason, ValidationFailed
from fleetdeck.core.groups.service import check_unique_name, slug
from fleetdeck.core.ports import Clock
from fleetdeck.core.query import Page, Query, apply_query
from fleetdeck.core.reports.entities import ReportGroupInfo
from fleetdeck.storage.db import Database
from fleetdeck.storage.tables import Group, Report
from fleetdeck.storage.uow import UnitOfWork

KIND = "report"
MAX_DEPTH = 32
GROUP_FIELDS = {
    "id": Group.id,
    "name": Group.name,
    "parent_id": Group.parent_id,
    "created_at": Group.created_at,
}


def group_info(g: Group) -> ReportGroupInfo:
    return ReportGroupInfo(
        id=g.id, name=g.name, parent_id=g.parent_id, description=g.description, created_at=g.created_at
    )


def get_group(s: Session, group_id: int) -> Group:
    g = s.get(Group, group_id)
    if g is None or g.kind != KIND:
        raise NotFound("report group", group_id)
    return g


def _name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 255:
        raise ValidationFailed("name must be 1-255 characters", field="name", reason=Reason.NAME_EMPTY)
    return name


class ReportGroups:
    def __init__(self, db: Database, audit: AuditLog, clock: Clock) -> None:
        self._db = db
        self._audit = audit
        self._clock = clock

    def find(self, actor: Actor, query: Query) -> Page[ReportGroupInfo]:
        actor.require(Perm.READ)
        with UnitOfWork(self._db, readonly=True) as uow:
            stmt: Any = select(Group).where(Group.kind == KIND)
            count = select(func.count()).select_from(Group).where(Group.kind == KIND)
            stmt, count_stmt = apply_query(stmt, count, query, GROUP_FIELDS)
            assert count_stmt is not None
            items = [group_info(g) for g in uow.session.scalars(stmt)]
            return Page(items=items, total=uow.session.scalar(count_stmt) or 0)

    def get(self, actor: Actor, group_id: int) -> ReportGroupInfo:
        actor.require(Perm.READ)
        with UnitOfWork(self._db, readonly=True) as uow:
            return group_info(get_group(uow.session, group_id))

    def create(
        self, actor: Actor, name: str, *, parent_id: int | None = None, description: str = ""
    ) -> ReportGroupInfo:
        name = _name(name)
        with self._audit.mutation(
            actor, "report_group.create", "report_group", perm=Perm.MANAGE_REPORTS
        ) as m:
            s = m.session
            if parent_id is not None:
                get_group(s, parent_id)
            check_unique_name(s, name, parent_id, KIND, None, "report group")
            g = Group(
                key=_free_key(s, "report-" + slug(name)),
                name=name,
                kind=KIND,
                parent_id=parent_id,
                description=description,
                created_at=self._clock(),
            )
            s.add(g)
            s.flush()
            m.object_id = str(g.id)
            m.detail = {"name": name, "parent_id": parent_id}
            return group_info(g)

    def update(
        self,
        actor: Actor,
        group_id: int,
        *,
        name: str | None = None,
        description: str | None = None,
        parent_id: int | None = None,
        move: bool = False,
    ) -> ReportGroupInfo:
        with self._audit.mutation(
            actor, "report_group.update", "report_group", group_id, perm=Perm.MANAGE_REPORTS
        ) as m:
            s = m.session
            g = get_group(s, group_id)
            if move and parent_id != g.parent_id:
                _check_parent(s, g, parent_id)
                m.detail["parent_id"] = [g.parent_id, parent_id]
                g.parent_id = parent_id
            if name is not None:
                name = _name(name)
                m.detail["name"] = [g.name, name]
                g.name = name
            if name is not None or move:
                check_unique_name(s, g.name, g.parent_id, KIND, g.id, "report group")
            if description is not None:
                g.description = description
            return group_info(g)

    def delete(self, actor: Actor, group_id: int) -> None:
        with self._audit.mutation(
            actor, "report_group.delete", "report_group", group_id, perm=Perm.MANAGE_REPORTS
        ) as m:
            s = m.session
            g = get_group(s, group_id)
            if s.scalar(select(Group.id).where(Group.parent_id == group_id).limit(1)):
                raise Conflict("the report group has subgroups; delete or move them first")
            if s.scalar(select(Report.id).where(Report.group_id == group_id).limit(1)):
                raise Conflict("the report group has reports; delete or move them first")
            m.detail = {"name": g.name}
            s.delete(g)


def _free_key(s: Session, base: str) -> str:
    key, n = base[:240], 1
    while s.scalar(select(Group.id).where(Group.key == key)):
        n += 1
        key = f"{base[:240]}-{n}"
    return key


def _check_parent(s: Session, g: Group, parent_id: int | None) -> None:
    cursor, depth = parent_id, 0
    while cursor is not None:
        if cursor == g.id:
            raise ValidationFailed("a group cannot be moved below itself", field="parent_id")
        cursor, depth = get_group(s, cursor).parent_id, depth + 1
        if depth > MAX_DEPTH:
            raise ValidationFailed("group tree is too deep", field="parent_id")
