"""``CmdbService``: objects, their categories and entries, dialog tables, search.

Every computer is an object (``link``); its title is the computer's host name and its
inventory categories (``inventory``) are the agent's live inventory, read-only here. Other
categories are stored entries (``cmdb_entries``) whose values are checked against the
attribute's type from the catalog. Every change goes through ``AuditLog.mutation`` with the old
and new values, so the audit log is the CMDB's change log.

Reads take a constant number of queries whatever the number of objects: the object rows (with
their computer's row joined), then, when categories are asked for, one query per kind of row
the categories need (stored entries, software, interfaces, file systems), the dialog changes
and the linked objects' titles.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import String, case, cast, func, literal, or_, select
from sqlalchemy.orm import Session

from fleetdeck.core.audit import AuditLog
from fleetdeck.core.authz import Actor, Perm
from fleetdeck.core.cmdb import inventory, logbook, owned, persons
from fleetdeck.core.cmdb.catalog import (
    DIALOG_TYPES,
    FLOAT_TYPES,
    INT_TYPES,
    LINK_TYPES,
    MULTI_TYPES,
    TEXT_TYPES,
    Attribute,
    Category,
    DialogItem,
    ObjectType,
    catalog,
)
from fleetdeck.core.cmdb.statuses import (
    CREATE_STATUSES,
    ENTRY_TRANSITIONS,
    OBJECT_TRANSITIONS,
    Op,
    Status,
    next_status,
)
from fleetdeck.core.cmdb.values import (
    CmdbObjectInfo,
    DialogRef,
    Entry,
    LogbookEntry,
    ObjectRef,
    Relation,
    SearchHit,
)
from fleetdeck.core.errors import Conflict, NotFound, ValidationFailed
from fleetdeck.core.gcpause import no_cyclic_gc
from fleetdeck.core.ports import Clock
from fleetdeck.core.query import Query, apply_query
from fleetdeck.storage.db import Database
from fleetdeck.storage.tables import (
    CmdbDialogItem,
    CmdbEntry,
    CmdbObject,
    Computer,
    ComputerFilesystem,
    ComputerInterface,
    ComputerSoftware,
    Group,
    GroupMember,
    Package,
    PackageFamily,
    User,
)
from fleetdeck.storage.uow import UnitOfWork

GLOBAL = "C__CATG__GLOBAL"
RELATION = "C__CATG__RELATION"
OBJECT = "cmdb_object"
ENTRY = "cmdb_entry"
DIALOG = "cmdb_dialog"
GLOBAL_WRITABLE = frozenset({"title", "sysid", "cmdb_status", "purpose", "category", "description", "tag"})
SERVER_TYPE = 5
CLIENT_TYPE = 10
YES_NO = {0: "No", 1: "Yes"}

# SQL forms of what a computer's object shows from its computer.
# An object loaded with what it is: (object, computer, user, computer group, package family).
Loaded = tuple[CmdbObject, Computer | None, User | None, Group | None, PackageFamily | None]
PERSON_TITLE = case((User.full_name != "", User.full_name), else_=User.username)
TITLE = case(
    (CmdbObject.computer_id.is_not(None), Computer.hostname),
    (CmdbObject.user_id.is_not(None), PERSON_TITLE),
    (CmdbObject.group_id.is_not(None), Group.name),
    (CmdbObject.family_id.is_not(None), PackageFamily.name),
    else_=CmdbObject.title,
)
_facts = func.lower(Computer.os + " " + Computer.os_version + " " + Computer.model)
TYPE = case(
    (CmdbObject.type_id.is_not(None), CmdbObject.type_id),
    (_facts.like("%server%"), SERVER_TYPE),
    else_=CLIENT_TYPE,
)
SYSID = case(
    (CmdbObject.sysid != "", CmdbObject.sysid), else_=literal("SYSID_") + cast(CmdbObject.id, String)
)

FIELDS: dict[str, Any] = {
    "id": CmdbObject.id,
    "title": TITLE,
    "type_id": TYPE,
    "sysid": SYSID,
    "status": CmdbObject.status,
    "cmdb_status": CmdbObject.cmdb_status,
    "created_at": CmdbObject.created_at,
    "updated_at": CmdbObject.updated_at,
    "computer_id": CmdbObject.computer_id,
}


def dialog_table(category: Category, attr: Attribute) -> str:
    """The dialog table of an attribute; a dialog+ attribute without a named table gets one of
    its own, so its values can be added all the same."""
    return attr.dialog_table or f"{category.const}.{attr.key}"


class Dialogs:
    """The dialog tables as they are now: the built-in values, with the stored changes."""

    def __init__(self, rows: Iterable[CmdbDialogItem]) -> None:
        self.changes: dict[str, dict[int, CmdbDialogItem]] = defaultdict(dict)
        for r in rows:
            self.changes[r.table_name][r.item_id] = r

    def items(self, table: str) -> list[DialogItem]:
        found = {i.id: i for i in catalog().dialogs.get(table, ())}
        for item_id, r in self.changes.get(table, {}).items():
            if r.deleted:
                found.pop(item_id, None)
            else:
                found[item_id] = DialogItem(item_id, r.title, r.const, r.parent_item_id)
        return sorted(found.values(), key=lambda i: i.id)

    def get(self, table: str, item_id: int) -> DialogItem | None:
        change = self.changes.get(table, {}).get(item_id)
        if change is not None:
            return (
                None
                if change.deleted
                else DialogItem(item_id, change.title, change.const, change.parent_item_id)
            )
        for i in catalog().dialogs.get(table, ()):
            if i.id == item_id:
                return i
        return None

    def by_title(self, table: str, title: str) -> DialogItem | None:
        wanted = title.strip().lower()
        return next((i for i in self.items(table) if i.title.lower() == wanted), None)

    def next_id(self, table: str) -> int:
        ids = [i.id for i in catalog().dialogs.get(table, ())] + list(self.changes.get(table, {}))
        return max(ids, default=0) + 1


def _dialogs(s: Session) -> Dialogs:
    return Dialogs(s.scalars(select(CmdbDialogItem)).all())


class CmdbService:
    def __init__(self, db: Database, audit: AuditLog, clock: Clock) -> None:
        self._db = db
        self._audit = audit
        self._clock = clock

    # ------------------------------------------------------------------ catalog

    def object_types(self) -> list[ObjectType]:
        return sorted(catalog().types_by_id.values(), key=lambda t: t.id)

    def category(self, const: str) -> Category:
        found = catalog().categories.get(const)
        if found is None:
            raise NotFound("category", const)
        return found

    def category_by_id(self, kind: str, category_id: int) -> Category:
        found = catalog().categories_by_id.get((kind, category_id))
        if found is None:
            raise NotFound("category", f"{kind}{category_id}")
        return found

    def object_type(self, ref: int | str) -> ObjectType:
        found = catalog().object_type(ref)
        if found is None:
            raise ValidationFailed(f"unknown object type {ref!r}", field="type")
        return found

    # ------------------------------------------------------------------ objects

    def _info(
        self,
        o: CmdbObject,
        c: Computer | None,
        u: User | None = None,
        g: Group | None = None,
        f: PackageFamily | None = None,
    ) -> CmdbObjectInfo:
        """An object loaded with the computer, user, group or package family it is (if any)."""
        type_id = o.type_id or (
            catalog().types_by_const[inventory.default_type(c)].id if c is not None else CLIENT_TYPE
        )
        title = (
            c.hostname
            if c is not None
            else (u.full_name or u.username)
            if u is not None
            else g.name
            if g is not None
            else f.name
            if f is not None
            else o.title
        )
        return self._make(o, title, type_id)

    @staticmethod
    def _make(o: Any, title: str, type_id: int) -> CmdbObjectInfo:
        """``o``: an object row or entity (its columns by name)."""
        cat = catalog()
        t = cat.types_by_id.get(type_id) or cat.types_by_id[CLIENT_TYPE]
        return CmdbObjectInfo(
            id=o.id,
            title=title,
            sysid=o.sysid or f"SYSID_{o.id}",
            type_id=t.id,
            type_const=t.const,
            type_title=t.title,
            type_group=t.group,
            type_icon=t.icon,
            type_image=t.image,
            status=o.status,
            cmdb_status=o.cmdb_status,
            cmdb_status_title=_cmdb_status_titles().get(o.cmdb_status, ""),
            description=o.description,
            created_at=o.created_at,
            updated_at=o.updated_at,
            created_by=o.created_by,
            updated_by=o.updated_by,
            computer_id=o.computer_id,
            attrs=dict(o.attrs or {}),
        )

    def _rows(self, s: Session, stmt: Any) -> list[CmdbObjectInfo]:
        """Objects of a ``_listing`` statement: title and type come computed from SQL, so a
        computer's row is not loaded (a list of 10,000 objects reads two columns of each)."""
        return [self._make(r, r.shown_title, r.shown_type) for r in s.execute(stmt)]

    @staticmethod
    def _listing() -> Any:
        return (
            select(*CmdbObject.__table__.c, TITLE.label("shown_title"), TYPE.label("shown_type"))
            .outerjoin(Computer, Computer.id == CmdbObject.computer_id)
            .outerjoin(User, User.id == CmdbObject.user_id)
            .outerjoin(Group, Group.id == CmdbObject.group_id)
            .outerjoin(PackageFamily, PackageFamily.id == CmdbObject.family_id)
        )

    @staticmethod
    def _base() -> Any:
        return (
            select(CmdbObject, Computer, User, Group, PackageFamily)
            .outerjoin(Computer, Computer.id == CmdbObject.computer_id)
            .outerjoin(User, User.id == CmdbObject.user_id)
            .outerjoin(Group, Group.id == CmdbObject.group_id)
            .outerjoin(PackageFamily, PackageFamily.id == CmdbObject.family_id)
        )

    def find(self, actor: Actor, query: Query) -> list[CmdbObjectInfo]:
        """Objects matching ``query`` (fields: ``FIELDS``); its limit may exceed the usual page
        size: the CMDB's clients page with their own offsets."""
        actor.require(Perm.READ)
        limit, offset = query.limit, query.offset
        stmt, _ = apply_query(self._listing(), None, dataclasses.replace(query, limit=None, offset=0), FIELDS)
        if offset < 0 or (limit is not None and limit < 0):
            raise ValidationFailed("limit and offset must not be negative", field="limit")
        if limit is not None:
            stmt = stmt.limit(limit)
        if offset:
            stmt = stmt.offset(offset)
        with UnitOfWork(self._db, readonly=True) as uow:
            return self._rows(uow.session, stmt)

    def get(self, actor: Actor, object_id: int) -> CmdbObjectInfo | None:
        actor.require(Perm.READ)
        with UnitOfWork(self._db, readonly=True) as uow:
            rows = self._rows(uow.session, self._listing().where(CmdbObject.id == object_id))
        return rows[0] if rows else None

    def object_of_computer(self, actor: Actor, computer_id: int) -> int | None:
        actor.require(Perm.READ)
        with UnitOfWork(self._db, readonly=True) as uow:
            return uow.session.scalar(select(CmdbObject.id).where(CmdbObject.computer_id == computer_id))

    def create(
        self,
        actor: Actor,
        type_ref: int | str,
        title: str,
        *,
        status: int = Status.NORMAL,
        cmdb_status: int | str | None = None,
        description: str | None = None,
        sysid: str | None = None,
        attrs: Mapping[str, Any] | None = None,
        categories: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    ) -> tuple[int, dict[str, list[int]]]:
        """A new object, and the entries of ``categories`` (const -> list of attribute maps);
        returns its id and the ids of those entries."""
        self._audit.require(actor, Perm.MANAGE_COMPUTERS, "cmdb_object.create", OBJECT)
        t = self.object_type(type_ref)
        if not isinstance(title, str) or not title.strip():
            raise ValidationFailed("title must not be empty", field="title")
        if status not in CREATE_STATUSES:
            raise ValidationFailed(f"an object cannot be created with status {status}", field="status")
        cmdb = self._cmdb_status(cmdb_status) if cmdb_status is not None else 6
        for const in categories or {}:
            self.category(const)
        with self._audit.mutation(actor, "cmdb_object.create", OBJECT, perm=Perm.MANAGE_COMPUTERS) as m:
            now = self._clock()
            o = CmdbObject(
                type_id=t.id,
                title=title.strip(),
                sysid=sysid or "",
                status=int(status),
                cmdb_status=cmdb,
                description=description or "",
                attrs=dict(attrs or {}),
                created_at=now,
                created_by=actor.username,
                updated_by=actor.username,
            )
            m.session.add(o)
            m.session.flush()
            m.object_id = str(o.id)
            m.detail = {"new": {"type": t.const, "title": o.title, "status": o.status, "cmdb_status": cmdb}}
            created: dict[str, list[int]] = {}
            if categories:
                dialogs = _dialogs(m.session)
                for const, rows in categories.items():
                    cat = self.category(const)
                    for data in rows:
                        created.setdefault(const, []).append(
                            self._save(m.session, dialogs, o, None, cat, data, None, m.detail)
                        )
            return o.id, created

    def _cmdb_status(self, value: int | str) -> int:
        if isinstance(value, str) and not value.strip().lstrip("-").isdigit():
            found = catalog().status_by_const("cmdb_status", value.strip())
            if found is None:
                raise ValidationFailed(f"unknown CMDB status {value!r}", field="cmdb_status")
            return found
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ValidationFailed(f"unknown CMDB status {value!r}", field="cmdb_status") from None
        if not catalog().status_title("cmdb_status", number):
            raise ValidationFailed(f"unknown CMDB status {value!r}", field="cmdb_status")
        return number

    def _load(self, s: Session, object_id: int) -> Loaded:
        row = s.execute(self._base().where(CmdbObject.id == object_id)).first()
        if row is None:
            raise NotFound("object", object_id)
        return row[0], row[1], row[2], row[3], row[4]

    def update(
        self,
        actor: Actor,
        object_id: int,
        *,
        title: str | None = None,
        type_ref: int | str | None = None,
    ) -> None:
        """Rename an object, or (an admin) change its type: a computer's type is chosen from its
        facts until it is set here."""
        with self._audit.mutation(
            actor, "cmdb_object.update", OBJECT, object_id, perm=Perm.MANAGE_COMPUTERS
        ) as m:
            o, c, u, g, f = self._load(m.session, object_id)
            old = self._info(o, c, u, g, f)
            changes: dict[str, Any] = {}
            if title is not None:
                if c is not None:
                    raise Conflict(
                        "the title of a computer's object is its host name; rename the computer instead",
                        field="title",
                    )
                if u is not None:
                    raise Conflict(
                        "the title of a user's person object is the user's name; change the user instead",
                        field="title",
                    )
                if g is not None or f is not None:
                    raise Conflict(
                        "the title of a group's or package's object is its name; rename it instead",
                        field="title",
                    )
                if not title.strip():
                    raise ValidationFailed("title must not be empty", field="title")
                changes["title"] = (o.title, title.strip())
                o.title = title.strip()
            if type_ref is not None:
                t = self.object_type(type_ref)
                changes["type"] = (old.type_const, t.const)
                o.type_id = t.id
            self._touch(o, actor)
            m.detail = {
                "old": {k: v[0] for k, v in changes.items()},
                "new": {k: v[1] for k, v in changes.items()},
            }

    def _touch(self, o: CmdbObject, actor: Actor) -> None:
        o.updated_at = self._clock()
        o.updated_by = actor.username

    def change_status(self, actor: Actor, object_id: int, op: Op) -> tuple[int, int]:
        """Move an object along its record status lifecycle (``statuses.OBJECT_TRANSITIONS``);
        purge removes it. Returns (old status, new status)."""
        action = f"cmdb_object.{op.value}"
        with self._audit.mutation(actor, action, OBJECT, object_id, perm=Perm.MANAGE_COMPUTERS) as m:
            o, c, u, g, f = self._load(m.session, object_id)
            old = o.status
            new = next_status(OBJECT_TRANSITIONS, op, old)
            if new is None:
                raise Conflict(
                    f"object {object_id} has status {Status(old).name.lower()}; {op.value} does not apply",
                    status=old,
                    operation=op.value,
                )
            m.detail = {"old": {"status": old}, "new": {"status": int(new)}}
            if new == Status.PURGE:
                if c is not None:
                    raise Conflict(
                        f"object {object_id} is computer {c.id} ({c.hostname}):"
                        " delete the computer to remove it",
                        computer_id=c.id,
                    )
                if u is not None:
                    raise Conflict(
                        f"object {object_id} is user {u.username}: delete the user to remove it", user_id=u.id
                    )
                if g is not None:
                    raise Conflict(
                        f"object {object_id} is computer group {g.name}: delete the group to remove it",
                        group_id=g.id,
                    )
                if f is not None:
                    raise Conflict(
                        f"object {object_id} is package {f.key}: delete the package to remove it",
                        family_id=f.id,
                    )
                m.session.delete(o)
            else:
                o.status = int(new)
                self._touch(o, actor)
            return old, int(new)

    # ------------------------------------------------------------------ categories

    def entries(
        self,
        actor: Actor,
        object_ids: Sequence[int],
        categories: Sequence[str] | None,
        status: int | None = Status.NORMAL,
    ) -> dict[int, dict[str, list[Entry]]]:
        """The entries of ``categories`` (None: every category of each object's type) of the
        objects, by object and category. ``status`` None: entries of every status."""
        actor.require(Perm.READ)
        for const in categories or ():
            self.category(const)
        with UnitOfWork(self._db, readonly=True) as uow, no_cyclic_gc():
            return self._entries(uow.session, object_ids, categories, status)

    def _entries(
        self,
        s: Session,
        object_ids: Sequence[int],
        categories: Sequence[str] | None,
        status: int | None,
    ) -> dict[int, dict[str, list[Entry]]]:
        ids = list(dict.fromkeys(object_ids))
        out: dict[int, dict[str, list[Entry]]] = {i: {} for i in ids}
        if not ids:
            return out
        objects: dict[int, Loaded] = {
            row[0].id: (row[0], row[1], row[2], row[3], row[4])
            for row in s.execute(self._base().where(CmdbObject.id.in_(ids))).all()
        }
        wanted: dict[int, list[Category]] = {}
        for oid, (o, c, u, g, f) in objects.items():
            info = self._info(o, c, u, g, f)
            if categories is None:
                wanted[oid] = [cat for cat in catalog().categories_of(info.type_const) if cat.attributes]
            else:
                wanted[oid] = [catalog().categories[k] for k in categories]
        consts = {cat.const for cats in wanted.values() for cat in cats}
        computers = {oid: c for oid, (o, c, u, g, f) in objects.items() if c is not None}
        members, versions = self._owned(s, objects, consts)
        cids = [c.id for c in computers.values()]
        # inventory rows as plain rows (columns by name), not entities: a list with
        # applications reads hundreds of thousands of them
        software: dict[int, list[Any]] = defaultdict(list)
        interfaces: dict[int, list[Any]] = defaultdict(list)
        filesystems: dict[int, list[Any]] = defaultdict(list)
        sources: tuple[tuple[frozenset[str], Any, dict[int, list[Any]]], ...] = (
            (inventory.NEEDS_SOFTWARE, ComputerSoftware, software),
            (inventory.NEEDS_INTERFACES, ComputerInterface, interfaces),
            (inventory.NEEDS_FILESYSTEMS, ComputerFilesystem, filesystems),
        )
        for needs, table, into in sources:
            if cids and consts & needs:
                found = select(*table.__table__.c).where(table.computer_id.in_(cids)).order_by(table.id)
                for row in s.execute(found):
                    into[row.computer_id].append(row)
        stored: dict[tuple[int, str], list[CmdbEntry]] = defaultdict(list)
        stored_consts = consts - {GLOBAL}
        if stored_consts:
            stmt = select(CmdbEntry).where(
                CmdbEntry.object_id.in_(ids), CmdbEntry.category.in_(stored_consts)
            )
            if status is not None:
                stmt = stmt.where(CmdbEntry.status == status)
            for e in s.scalars(stmt.order_by(CmdbEntry.id)):
                stored[(e.object_id, e.category)].append(e)
        # the general category shows dialog+ values too (purpose, category, tags)
        dialogs = _dialogs(s) if stored or GLOBAL in consts else Dialogs(())
        links = self._linked(s, stored.values())
        for oid in ids:
            if oid not in objects:
                continue
            o, c, u, g, f = objects[oid]
            for cat in wanted[oid]:
                if cat.const == GLOBAL:
                    rows = [self._global(o, c, u, dialogs, g, f)] if status in (None, Status.NORMAL) else []
                elif u is not None and cat.const in persons.PERSON_CATEGORIES:
                    rows = [persons.render(cat.const, oid, u)] if status in (None, Status.NORMAL) else []
                elif g is not None and cat.const in owned.GROUP_CATEGORIES:
                    rows = owned.render_group(oid, members[g.id]) if status in (None, Status.NORMAL) else []
                elif f is not None and cat.const in owned.PACKAGE_CATEGORIES:
                    rows = (
                        owned.render_family(cat.const, oid, f, versions[f.id])
                        if status in (None, Status.NORMAL)
                        else []
                    )
                elif c is not None and cat.const in inventory.INVENTORY_CATEGORIES:
                    rows = (
                        inventory.render(
                            cat.const, oid, c, software[c.id], interfaces[c.id], filesystems[c.id]
                        )
                        if status in (None, Status.NORMAL)
                        else []
                    )
                else:
                    rows = [self._entry(cat, e, dialogs, links) for e in stored[(oid, cat.const)]]
                out[oid][cat.const] = rows
        return out

    def _owned(
        self, s: Session, objects: Mapping[int, Loaded], consts: set[str]
    ) -> tuple[dict[int, list[ObjectRef]], dict[int, list[Any]]]:
        """The member computers' objects of the computer groups among ``objects`` and the
        packages of their package families, each in one query whatever their number, and
        only when a category that shows them is asked for."""
        members: dict[int, list[ObjectRef]] = defaultdict(list)
        versions: dict[int, list[Any]] = defaultdict(list)
        gids = [g.id for (_o, _c, _u, g, _f) in objects.values() if g is not None]
        fids = [f.id for (_o, _c, _u, _g, f) in objects.values() if f is not None]
        if gids and consts & owned.GROUP_CATEGORIES:
            stmt = (
                self._listing()
                .add_columns(GroupMember.group_id.label("member_of"))
                .join(GroupMember, GroupMember.computer_id == CmdbObject.computer_id)
                .where(GroupMember.group_id.in_(gids))
                .order_by(GroupMember.group_id, CmdbObject.id)
            )
            for r in s.execute(stmt):
                info = self._make(r, r.shown_title, r.shown_type)
                members[r.member_of].append(
                    ObjectRef(info.id, info.title, info.sysid, info.type_const, info.type_title)
                )
        if fids and consts & owned.PACKAGE_CATEGORIES:
            found = select(*Package.__table__.c).where(Package.family_id.in_(fids)).order_by(Package.id)
            for row in s.execute(found):
                versions[row.family_id].append(row)
        return members, versions

    def _linked(self, s: Session, groups: Iterable[list[CmdbEntry]]) -> dict[int, ObjectRef]:
        wanted: set[int] = set()
        for rows in groups:
            for e in rows:
                cat = catalog().categories.get(e.category)
                if cat is None:
                    continue
                for key, value in e.data.items():
                    attr = cat.attributes.get(key)
                    if attr is not None and attr.type in LINK_TYPES:
                        wanted.update(
                            v for v in (value if isinstance(value, list) else [value]) if isinstance(v, int)
                        )
        if not wanted:
            return {}
        return {
            info.id: ObjectRef(info.id, info.title, info.sysid, info.type_const, info.type_title)
            for info in self._rows(s, self._listing().where(CmdbObject.id.in_(wanted)))
        }

    def _global(
        self,
        o: CmdbObject,
        c: Computer | None,
        u: User | None,
        dialogs: Dialogs,
        g: Group | None = None,
        f: PackageFamily | None = None,
    ) -> Entry:
        info = self._info(o, c, u, g, f)
        cat = catalog()

        def ref(table: str, value: Any) -> DialogRef | None:
            item = dialogs.get(table, value) if isinstance(value, int) else None
            return DialogRef(item.id, item.title, item.const) if item else None

        return Entry(
            o.id,
            o.id,
            GLOBAL,
            Status.NORMAL,
            {
                "title": info.title,
                "status": DialogRef(o.status, cat.status_title("record_status", o.status)),
                "created": info.created_at,
                "created_by": info.created_by,
                "changed": info.updated_at,
                "changed_by": info.updated_by,
                "purpose": ref("isys_purpose", o.attrs.get("purpose")),
                "category": ref("isys_catg_global_category", o.attrs.get("category")),
                "sysid": info.sysid,
                "cmdb_status": DialogRef(o.cmdb_status, info.cmdb_status_title),
                "type": DialogRef(info.type_id, info.type_title, info.type_const),
                "tag": [r for r in (ref("isys_tag", v) for v in o.attrs.get("tag", [])) if r is not None],
                "description": info.description or None,
            },
        )

    def _entry(self, cat: Category, e: CmdbEntry, dialogs: Dialogs, links: Mapping[int, ObjectRef]) -> Entry:
        values: dict[str, Any] = {}
        for key, attr in cat.attributes.items():
            if attr.virtual:
                continue
            values[key] = self._show(cat, attr, e.data.get(key), dialogs, links)
        return Entry(e.id, e.object_id, cat.const, e.status, values)

    @staticmethod
    def _show(
        cat: Category, attr: Attribute, value: Any, dialogs: Dialogs, links: Mapping[int, ObjectRef]
    ) -> Any:
        if value is None:
            return None
        if attr.type in DIALOG_TYPES:
            if attr.dialog_table is None and attr.type == "dialog" and value in YES_NO:
                return DialogRef(int(value), YES_NO[int(value)])
            item = dialogs.get(dialog_table(cat, attr), value) if isinstance(value, int) else None
            return DialogRef(item.id, item.title, item.const) if item else DialogRef(value, "")
        if attr.type in MULTI_TYPES:
            table = dialog_table(cat, attr)
            return [DialogRef(i.id, i.title, i.const) for i in (dialogs.get(table, v) for v in value) if i]
        if attr.type in LINK_TYPES:
            refs = [links.get(v) or ObjectRef(v, "") for v in (value if isinstance(value, list) else [value])]
            return refs if isinstance(value, list) else refs[0]
        return value

    def save(
        self,
        actor: Actor,
        object_id: int,
        category: str,
        data: Mapping[str, Any],
        entry_id: int | None = None,
        *,
        always_new: bool = False,
    ) -> int:
        """Create or update an entry: with ``entry_id`` that entry; without, a single-value
        category's one entry (created if missing) or a new entry of a multi-value category
        (``always_new``: a new entry even for a single-value category that has none)."""
        cat = self.category(category)
        with self._audit.mutation(actor, "cmdb_entry.save", ENTRY, perm=Perm.MANAGE_COMPUTERS) as m:
            o, c, u, g, f = self._load(m.session, object_id)
            m.detail = {"object_id": object_id, "category": cat.const}
            if u is not None and (
                cat.const in persons.PERSON_CATEGORIES or (cat.const == GLOBAL and "title" in data)
            ):
                raise Conflict(
                    f"{cat.title} of person {u.username} is the fleetdeck user's and is read-only here",
                    category=cat.const,
                    reason="user",
                )
            if (g is not None or f is not None) and (
                cat.const in owned.GROUP_CATEGORIES | owned.PACKAGE_CATEGORIES
                or (cat.const == GLOBAL and "title" in data)
            ):
                owner = f"computer group {g.name}" if g is not None else f"package {f.key}" if f else ""
                raise Conflict(
                    f"{cat.title} of {owner} is fleetdeck's and is read-only here: change the"
                    f" {'group' if g is not None else 'package'} instead",
                    category=cat.const,
                    reason="group" if g is not None else "package",
                )
            dialogs = _dialogs(m.session)
            saved = self._save(m.session, dialogs, o, c, cat, data, entry_id, m.detail, always_new=always_new)
            m.object_id = str(saved)
            self._touch(o, actor)
            return saved

    def _save(
        self,
        s: Session,
        dialogs: Dialogs,
        o: CmdbObject,
        c: Computer | None,
        cat: Category,
        data: Mapping[str, Any],
        entry_id: int | None,
        detail: dict[str, Any],
        *,
        always_new: bool = False,
    ) -> int:
        if not isinstance(data, Mapping):
            raise ValidationFailed("data must be an object of attribute values", field="data")
        if c is not None and cat.const in inventory.INVENTORY_CATEGORIES:
            raise Conflict(
                f"{cat.title} of computer {c.hostname} is filled from its agent's inventory and is read-only",
                category=cat.const,
                reason="inventory",
            )
        if cat.const == GLOBAL:
            return self._save_global(s, dialogs, o, c, data, detail)
        values = self._normalize(s, dialogs, cat, data)
        e: CmdbEntry | None
        if entry_id is not None:
            e = s.get(CmdbEntry, entry_id)
            if e is None or e.object_id != o.id or e.category != cat.const:
                raise NotFound("entry", entry_id)
        elif cat.multi_value:
            e = None
        else:
            e = s.scalars(
                select(CmdbEntry)
                .where(CmdbEntry.object_id == o.id, CmdbEntry.category == cat.const)
                .order_by(CmdbEntry.id)
                .limit(1)
            ).first()
            if e is not None and always_new:
                raise Conflict(f"{cat.title} holds one entry and object {o.id} has it", category=cat.const)
        if e is None:
            e = CmdbEntry(
                object_id=o.id,
                category=cat.const,
                status=Status.NORMAL,
                data=values,
                created_at=self._clock(),
            )
            s.add(e)
            s.flush()
            detail.setdefault("entries", []).append({"entry": e.id, "new": values})
            return e.id
        old = dict(e.data)
        e.data = {**old, **values}
        e.updated_at = self._clock()
        detail.setdefault("entries", []).append(
            {"entry": e.id, "old": {k: old.get(k) for k in values}, "new": values}
        )
        return e.id

    def _save_global(
        self,
        s: Session,
        dialogs: Dialogs,
        o: CmdbObject,
        c: Computer | None,
        data: Mapping[str, Any],
        detail: dict[str, Any],
    ) -> int:
        cat = self.category(GLOBAL)
        old: dict[str, Any] = {}
        new: dict[str, Any] = {}
        for key, value in data.items():
            if key not in GLOBAL_WRITABLE:
                raise ValidationFailed(f"attribute {key!r} of {cat.title} cannot be written", field=key)
            if key == "title":
                if c is not None:
                    raise Conflict("the title of a computer's object is its host name", field="title")
                if not isinstance(value, str) or not value.strip():
                    raise ValidationFailed("title must not be empty", field="title")
                old[key], new[key] = o.title, value.strip()
                o.title = value.strip()
            elif key == "cmdb_status":
                old[key], new[key] = o.cmdb_status, self._cmdb_status(value)
                o.cmdb_status = new[key]
            elif key in ("sysid", "description"):
                text = "" if value is None else str(value)
                old[key], new[key] = getattr(o, key), text
                setattr(o, key, text)
            else:
                normal = self._normalize(s, dialogs, cat, {key: value})
                attrs = dict(o.attrs or {})
                old[key], new[key] = attrs.get(key), normal[key]
                attrs[key] = normal[key]
                o.attrs = attrs
        detail.update({"old": old, "new": new})
        return o.id

    def _normalize(
        self, s: Session, dialogs: Dialogs, cat: Category, data: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Attribute values in core's normal form; unknown, read-only and ill-typed values are
        refused, unknown titles of dialog+ attributes are added to their tables."""
        out: dict[str, Any] = {}
        links: set[int] = set()
        for key, value in data.items():
            attr = cat.attributes.get(key)
            if attr is None:
                raise ValidationFailed(f"{cat.title} has no attribute {key!r}", field=key)
            if not attr.writable:
                raise ValidationFailed(f"attribute {key!r} of {cat.title} cannot be written", field=key)
            out[key] = self._value(s, dialogs, cat, attr, value)
            if attr.type in LINK_TYPES and out[key] is not None:
                links.update(out[key] if isinstance(out[key], list) else [out[key]])
        if links:
            found = set(s.scalars(select(CmdbObject.id).where(CmdbObject.id.in_(links))))
            missing = sorted(links - found)
            if missing:
                raise ValidationFailed(f"object {missing[0]} does not exist", field="object")
        return out

    def _value(self, s: Session, dialogs: Dialogs, cat: Category, attr: Attribute, value: Any) -> Any:
        if value is None or value == "":
            return None
        bad = ValidationFailed(
            f"{value!r} is not a valid value of {attr.key!r} ({attr.type})", field=attr.key
        )
        t = attr.type
        if t in TEXT_TYPES:
            if isinstance(value, bool | dict | list):
                raise bad
            return str(value)
        if t in INT_TYPES or t in FLOAT_TYPES:
            if isinstance(value, bool | dict | list):
                raise bad
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise bad from None
            if not math.isfinite(number):
                raise bad
            if t in INT_TYPES:
                if number != int(number):
                    raise bad
                return int(number)
            return number
        if t in LINK_TYPES:
            items = value if isinstance(value, list) else [value]
            ids = [_int(v) for v in items]
            if any(i is None or i <= 0 for i in ids):
                raise bad
            return ids if isinstance(value, list) else ids[0]
        if t in DIALOG_TYPES or t in MULTI_TYPES:
            table = dialog_table(cat, attr)
            items = value if isinstance(value, list) else [value]
            if t in DIALOG_TYPES and isinstance(value, list):
                raise bad
            ids = [self._dialog_value(s, dialogs, attr, table, v, bad) for v in items]
            return ids if t in MULTI_TYPES else ids[0]
        raise bad

    def _dialog_value(
        self, s: Session, dialogs: Dialogs, attr: Attribute, table: str, v: Any, bad: Exception
    ) -> int:
        number = _int(v)
        if number is not None:
            if attr.dialog_table is None and attr.type == "dialog":
                return number  # a yes/no or a reference whose table the catalog does not hold
            if dialogs.get(table, number) is None:
                raise bad
            return number
        if not isinstance(v, str) or not v.strip():
            raise bad
        item = dialogs.by_title(table, v)
        if item is not None:
            return item.id
        if not attr.editable_dialog:
            raise bad
        row = CmdbDialogItem(table_name=table, item_id=dialogs.next_id(table), title=v.strip(), const="")
        s.add(row)
        s.flush()
        dialogs.changes[table][row.item_id] = row
        return row.item_id

    def entry_status(
        self, actor: Actor, object_id: int, category: str, entry_id: int | None, op: Op
    ) -> tuple[int, int, int]:
        """Move an entry along its lifecycle (``statuses.ENTRY_TRANSITIONS``); purge removes
        it. Only multi-value categories' entries are archived, deleted or recycled. ``entry_id``
        None: a single-value category's one entry. Returns (entry id, old, new status)."""
        cat = self.category(category)
        action = f"cmdb_entry.{op.value}"
        with self._audit.mutation(actor, action, ENTRY, entry_id or "", perm=Perm.MANAGE_COMPUTERS) as m:
            o, c, u, g, f = self._load(m.session, object_id)
            if (
                cat.const == GLOBAL
                or (c is not None and cat.const in inventory.INVENTORY_CATEGORIES)
                or (u is not None and cat.const in persons.PERSON_CATEGORIES)
                or (g is not None and cat.const in owned.GROUP_CATEGORIES)
                or (f is not None and cat.const in owned.PACKAGE_CATEGORIES)
            ):
                raise Conflict(f"the entries of {cat.title} of object {object_id} cannot be {op.value}d here")
            if op != Op.PURGE and not cat.multi_value:
                raise Conflict(f"{cat.title} is a single-value category: its entry can only be purged")
            stmt = select(CmdbEntry).where(CmdbEntry.object_id == o.id, CmdbEntry.category == cat.const)
            if entry_id is not None:
                stmt = stmt.where(CmdbEntry.id == entry_id)
            elif cat.multi_value:
                raise ValidationFailed("the entry to change must be named", field="entry")
            e = m.session.scalars(stmt.order_by(CmdbEntry.id).limit(1)).first()
            if e is None:
                raise NotFound("entry", entry_id if entry_id is not None else f"{cat.const} of {object_id}")
            m.object_id = str(e.id)
            old = e.status
            new = next_status(ENTRY_TRANSITIONS, op, old)
            if new is None:
                raise Conflict(
                    f"entry {e.id} has status {Status(old).name.lower()}; {op.value} does not apply"
                )
            m.detail = {
                "object_id": object_id,
                "category": cat.const,
                "old": {"status": old},
                "new": {"status": int(new)},
            }
            if new == Status.PURGE:
                m.detail["data"] = dict(e.data)
                m.session.delete(e)
            else:
                e.status = int(new)
                e.updated_at = self._clock()
            self._touch(o, actor)
            return e.id, old, int(new)

    # ------------------------------------------------------------------ dialogs

    def dialog_items(self, actor: Actor, category: str, attribute: str) -> list[DialogItem]:
        actor.require(Perm.READ)
        cat, attr = self._dialog_attr(category, attribute)
        with UnitOfWork(self._db, readonly=True) as uow:
            return _dialogs(uow.session).items(dialog_table(cat, attr))

    def _dialog_attr(self, category: str, attribute: str) -> tuple[Category, Attribute]:
        cat = self.category(category)
        attr = cat.attributes.get(attribute)
        if attr is None or attr.type not in DIALOG_TYPES | MULTI_TYPES:
            raise ValidationFailed(f"{cat.title} has no dialog attribute {attribute!r}", field="property")
        return cat, attr

    def dialog_change(
        self,
        actor: Actor,
        category: str,
        attribute: str,
        *,
        item_id: int | None = None,
        title: str | None = None,
        parent: int | str | None = None,
        delete: bool = False,
    ) -> int:
        """Add (no ``item_id``), rename or delete a value of a dialog+ table; built-in dialog
        tables (plain dialogs) are fixed. Returns the value's id."""
        cat, attr = self._dialog_attr(category, attribute)
        table = dialog_table(cat, attr)
        action = (
            "cmdb_dialog.delete" if delete else ("cmdb_dialog.update" if item_id else "cmdb_dialog.create")
        )
        with self._audit.mutation(actor, action, DIALOG, item_id or "", perm=Perm.MANAGE_COMPUTERS) as m:
            if not attr.editable_dialog:
                raise Conflict(f"the values of {attr.title} ({cat.title}) are fixed", field="property")
            if not delete and (not isinstance(title, str) or not title.strip()):
                raise ValidationFailed("value must not be empty", field="value")
            dialogs = _dialogs(m.session)
            parent_id = None
            if parent not in (None, ""):
                parent_id = _int(parent)
                if parent_id is None:
                    raise ValidationFailed(f"unknown parent {parent!r}", field="parent")
            if item_id is None:
                row = CmdbDialogItem(
                    table_name=table,
                    item_id=dialogs.next_id(table),
                    title=(title or "").strip(),
                    const="",
                    parent_item_id=parent_id,
                )
                m.session.add(row)
                m.detail = {"table": table, "new": {"title": row.title}}
            else:
                current = dialogs.get(table, item_id)
                if current is None:
                    raise NotFound("dialog value", item_id)
                row = dialogs.changes.get(table, {}).get(item_id) or CmdbDialogItem(
                    table_name=table,
                    item_id=item_id,
                    title=current.title,
                    const=current.const,
                    parent_item_id=current.parent_id,
                )
                m.detail = {"table": table, "old": {"title": current.title}}
                if delete:
                    row.deleted = True
                else:
                    row.title = (title or "").strip()
                    if parent_id is not None:
                        row.parent_item_id = parent_id
                    m.detail["new"] = {"title": row.title}
                m.session.add(row)
            m.session.flush()
            m.object_id = str(row.item_id)
            return row.item_id

    # ------------------------------------------------------------------ relations

    def relation_type(self, ref: int | str) -> int:
        """A relation type's id from its id or constant (the default set or one added to the
        dialog+ table)."""
        for t in catalog().raw["relation_types"]:
            if ref in (t["id"], t["const"]) or str(ref) == str(t["id"]):
                return int(t["id"])
        cat = self.category(RELATION)
        table = dialog_table(cat, cat.attributes["relation_type"])
        with UnitOfWork(self._db, readonly=True) as uow:
            dialogs = _dialogs(uow.session)
        number = _int(ref)
        item = dialogs.get(table, number) if number is not None else None
        if item is None:
            raise ValidationFailed(f"unknown relation type {ref!r}", field="relation_type")
        return item.id

    def relations(
        self,
        actor: Actor,
        object_id: int,
        relation_type: int | str | None = None,
        status: int | None = Status.NORMAL,
    ) -> list[Relation]:
        """The relations an object takes part in, as master or slave: the ``C__CATG__RELATION``
        entries stored on it or naming it as ``object1``/``object2`` (an entry without
        ``object1`` has the object it is stored on as master). Three queries whatever the
        number: the entries, the objects they join, the dialog tables. ``relation_type``: an id
        or constant (``relation_type``)."""
        actor.require(Perm.READ)
        type_wanted = self.relation_type(relation_type) if relation_type is not None else None
        cat = self.category(RELATION)
        table = dialog_table(cat, cat.attributes["relation_type"])
        with UnitOfWork(self._db, readonly=True) as uow:
            s = uow.session
            if s.get(CmdbObject, object_id) is None:
                raise NotFound("object", object_id)
            stmt = select(CmdbEntry).where(
                CmdbEntry.category == RELATION,
                or_(
                    CmdbEntry.object_id == object_id,
                    CmdbEntry.data["object1"].as_integer() == object_id,
                    CmdbEntry.data["object2"].as_integer() == object_id,
                ),
            )
            if status is not None:
                stmt = stmt.where(CmdbEntry.status == status)
            rows = [
                (e, _int(e.data.get("object1")) or e.object_id, _int(e.data.get("object2")))
                for e in s.scalars(stmt.order_by(CmdbEntry.id))
            ]
            rows = [
                (e, m, sl)
                for e, m, sl in rows
                if sl is not None
                and object_id in (m, sl)
                and (type_wanted is None or _int(e.data.get("relation_type")) == type_wanted)
            ]
            ids = {m for _, m, _ in rows} | {sl for _, _, sl in rows if sl is not None}
            infos = (
                {i.id: i for i in self._rows(s, self._listing().where(CmdbObject.id.in_(ids)))} if ids else {}
            )
            dialogs = _dialogs(s)
        phrases = {int(t["id"]): t for t in catalog().raw["relation_types"]}
        out: list[Relation] = []
        for e, m, sl in rows:
            if m not in infos or sl not in infos:
                continue  # a side was purged
            type_id = _int(e.data.get("relation_type"))
            item = dialogs.get(table, type_id) if type_id is not None else None
            known = phrases.get(type_id or 0, {})
            title = item.title if item is not None else ""
            out.append(
                Relation(
                    id=e.id,
                    status=e.status,
                    master=infos[m],
                    slave=infos[sl],
                    type_id=type_id,
                    type_const=item.const if item is not None else "",
                    type_title=title,
                    master_phrase=str(known.get("master") or title or "is related to"),
                    slave_phrase=str(known.get("slave") or title or "is related to"),
                )
            )
        return out

    # ------------------------------------------------------------------ logbook

    def logbook(
        self,
        actor: Actor,
        *,
        entry_id: int | None = None,
        object_id: int | None = None,
        since: datetime | None = None,
        status: int | None = None,
        limit: int = 1000,
    ) -> list[LogbookEntry]:
        """The logbook, newest first: the audit rows of objects and their entries (``logbook``),
        optionally one row, one object's, those since a time, those of objects now in a record
        status. Two queries whatever the number of rows: the rows, then the objects' titles."""
        actor.require(Perm.READ_AUDIT)
        if limit < 0:
            raise ValidationFailed("limit must not be negative", field="limit")
        with UnitOfWork(self._db, readonly=True) as uow:
            s = uow.session
            stmt = logbook.rows_statement(
                entry_id=entry_id, object_id=object_id, since=since, status=status, limit=limit
            )
            rows = [(r, logbook.object_of(r)) for r in s.scalars(stmt)]
            ids = {oid for _, oid in rows if oid is not None}
            titles = (
                {i.id: i.title for i in self._rows(s, self._listing().where(CmdbObject.id.in_(ids)))}
                if ids
                else {}
            )
        return [logbook.entry_of(r, oid, titles.get(oid, "")) for r, oid in rows if oid is not None]

    def log(
        self,
        actor: Actor,
        object_ids: Sequence[int],
        message: str,
        *,
        description: str = "",
        comment: str = "",
        source: int | None = None,
        level: int = 1,
    ) -> list[int]:
        """Write ``message`` into the logbook of each object; returns the new lines' ids. The
        lines are audit rows of their objects; this mutation's own row (``cmdb_logbook``, not
        read back as a line) records who wrote which lines."""
        self._audit.require(actor, Perm.MANAGE_COMPUTERS, logbook.LOG_ACTION, logbook.LOGBOOK)
        if not isinstance(message, str) or not message.strip():
            raise ValidationFailed("the message must not be empty", field="message")
        if not object_ids:
            raise ValidationFailed("name at least one object", field="object_id")
        wanted = list(dict.fromkeys(object_ids))
        detail: dict[str, Any] = {
            "message": message.strip(),
            "description": description,
            "comment": comment,
            "source": source,
            "level": level,
        }
        with self._audit.mutation(
            actor, logbook.LOG_ACTION, logbook.LOGBOOK, perm=Perm.MANAGE_COMPUTERS
        ) as m:
            found = set(m.session.scalars(select(CmdbObject.id).where(CmdbObject.id.in_(wanted))))
            missing = [i for i in wanted if i not in found]
            if missing:
                raise NotFound("object", missing[0])
            add = self._audit.add
            lines = [add(m.session, actor, logbook.LOG_ACTION, OBJECT, oid, "ok", **detail) for oid in wanted]
            m.session.flush()
            ids = [line.id for line in lines]
            m.object_id = ",".join(map(str, wanted))
            m.detail = {"objects": wanted, "lines": ids, "message": detail["message"]}
            return ids

    # ------------------------------------------------------------------ search

    def search(self, actor: Actor, text: str, limit: int = 100) -> list[SearchHit]:
        """Objects whose title, or a stored attribute value, or (computers) installed software
        contains ``text`` (case-insensitive, Unicode too). Normal objects only. Titles first,
        then entries, then software, each in id order; fewer hits than ``limit`` means there
        are no more, within ``SEARCH_SCAN_ROWS`` candidate rows of each kind.

        The database narrows the rows with a LIKE on the longest plain-ASCII run of the text
        (its wildcards escaped): a superset of the hits whatever the database's ``lower()`` does
        with other letters and however the JSON text of an entry escapes them. Each candidate is
        then matched exactly here, so a row that matched only in a JSON key or a number gives
        no hit and does not use up the limit."""
        actor.require(Perm.READ)
        if not isinstance(text, str) or not text.strip():
            raise ValidationFailed("the search text must not be empty", field="q")
        if len(text.strip()) > MAX_SEARCH_TEXT:
            raise ValidationFailed(f"the search text must be at most {MAX_SEARCH_TEXT} characters", field="q")
        if limit <= 0:
            return []
        needle = text.strip().lower()
        like = _search_like(needle)
        hits: list[SearchHit] = []
        with UnitOfWork(self._db, readonly=True) as uow:
            s = uow.session
            base = self._listing().where(CmdbObject.status == Status.NORMAL)
            titled = base.where(func.lower(TITLE).like(like, escape="\\")) if like else base
            for batch in _batches(s, titled, CmdbObject.id, lambda r: r.id, limit):
                for info in (self._make(r, r.shown_title, r.shown_type) for r in batch):
                    if needle in info.title.lower():
                        hits.append(
                            SearchHit(
                                info.id, info.type_title, "General", "Title", info.title, info.status, GLOBAL
                            )
                        )
                if len(hits) >= limit:
                    return hits[:limit]
            entries = (
                select(CmdbEntry, CmdbObject.id.label("oid"))
                .join(CmdbObject, CmdbObject.id == CmdbEntry.object_id)
                .where(CmdbObject.status == Status.NORMAL, CmdbEntry.status == Status.NORMAL)
            )
            if like:
                entries = entries.where(func.lower(cast(CmdbEntry.data, String)).like(like, escape="\\"))
            found: list[tuple[CmdbEntry, Category, str, str]] = []
            for batch in _batches(s, entries, CmdbEntry.id, lambda r: r[0].id, limit):
                for e, _oid in batch:
                    cat = catalog().categories.get(e.category)
                    if cat is None:
                        continue
                    for key, value in e.data.items():
                        if isinstance(value, str) and needle in value.lower():
                            attr = cat.attributes.get(key)
                            found.append((e, cat, attr.title if attr else key, value))
                if len(hits) + len(found) >= limit:
                    break
            software = (
                select(ComputerSoftware, CmdbObject.id.label("oid"))
                .join(CmdbObject, CmdbObject.computer_id == ComputerSoftware.computer_id)
                .where(CmdbObject.status == Status.NORMAL)
            )
            if like:
                software = software.where(func.lower(ComputerSoftware.name).like(like, escape="\\"))
            programs: list[tuple[str, int]] = []
            if len(hits) + len(found) < limit:
                for batch in _batches(s, software, ComputerSoftware.id, lambda r: r[0].id, limit):
                    programs += [(sw.name, oid) for sw, oid in batch if needle in sw.name.lower()]
                    if len(hits) + len(found) + len(programs) >= limit:
                        break
            object_ids = {e.object_id for e, *_ in found} | {oid for _, oid in programs}
            infos = (
                {i.id: i for i in self._rows(s, self._listing().where(CmdbObject.id.in_(object_ids)))}
                if object_ids
                else {}
            )
        for e, cat, attr_title, value in found:
            if e.object_id in infos:
                hits.append(
                    SearchHit(
                        e.object_id, infos[e.object_id].type_title, cat.title, attr_title, value, 2, cat.const
                    )
                )
        app = catalog().categories[inventory.APPLICATION]
        for name, oid in programs:
            if oid in infos:
                hits.append(
                    SearchHit(oid, infos[oid].type_title, app.title, "Application", name, 2, app.const)
                )
        return hits[:limit]


SEARCH_SCAN_ROWS = 20_000  # candidate rows of each kind a search reads at most
MAX_SEARCH_TEXT = 1000  # characters, as a query's text values (core/query.py)
_SEARCH_BATCH = 500
_PLAIN = re.compile(r'[^ -~]+|["\\]+')  # what a database may fold or JSON may escape


def _search_like(needle: str) -> str | None:
    """A LIKE pattern on the longest run of printable ASCII in ``needle`` other than quotes
    and backslashes (which JSON text escapes), with LIKE's wildcards escaped; None when there
    is none (every row is a candidate)."""
    run = max(_PLAIN.split(needle), key=len)
    if not run:
        return None
    return "%" + run.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _batches(
    s: Session, stmt: Any, key: Any, key_of: Callable[[Any], int], limit: int
) -> Iterator[list[Any]]:
    """The rows of ``stmt`` in ``key`` order, a batch at a time (keyset paging on ``key``,
    whose value in a row ``key_of`` tells), at most ``SEARCH_SCAN_ROWS`` in all; the caller
    stops when it has enough."""
    last: int | None = None
    read = 0
    size = max(1, min(max(limit, _SEARCH_BATCH), SEARCH_SCAN_ROWS))
    while read < SEARCH_SCAN_ROWS:
        page = stmt if last is None else stmt.where(key > last)
        rows = list(s.execute(page.order_by(key).limit(min(size, SEARCH_SCAN_ROWS - read))))
        if not rows:
            return
        read += len(rows)
        yield rows
        if len(rows) < size:
            return
        last = key_of(rows[-1])


@functools.cache
def _cmdb_status_titles() -> dict[int, str]:
    return {int(r["id"]): str(r["title"]) for r in catalog().raw["cmdb_status"]}


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().removeprefix("-").isdecimal():
        return int(value.strip())
    return None


__all__ = ["GLOBAL", "CmdbService", "Dialogs"]
