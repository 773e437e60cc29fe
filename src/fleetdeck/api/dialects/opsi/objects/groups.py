"""opsi groups over fleetdeck groups, one model:

- ``HostGroup`` = a computer group, ``ProductGroup`` = a package group (the same ones OCO and
  ``/api/v1/package-groups`` show). A group's string key is opsi's group id (unique across both
  kinds, as in opsi); the parent's key is ``parentGroupId``.
- ``ObjectToGroup`` of type HostGroup = a computer in a computer group; of type ProductGroup = a
  product in a package group: fleetdeck groups hold packages (versions), so adding a product
  adds its newest package, and a product is in the group while any of its packages is.
  ``notes`` of a group is not stored.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from fleetdeck.api.dialects.opsi.errors import BackendMissingDataError, OpsiValueError
from fleetdeck.api.dialects.opsi.objects.filters import plain_values, sql_conditions, type_matches
from fleetdeck.api.dialects.opsi.objects.hosts import HostAdapter, force_host_id
from fleetdeck.api.dialects.opsi.objects.products import force_product_id
from fleetdeck.api.dialects.opsi.registry import Context
from fleetdeck.core.authz import Actor
from fleetdeck.core.errors import NotFound, ValidationFailed
from fleetdeck.core.groups.service import GroupInfo
from fleetdeck.core.query import Cond, Expr, Op, Query

Row = dict[str, Any]
GROUP_ID_RE = re.compile(r"^[a-z0-9][a-z0-9\-_. ]*$")
HOST_GROUP = "HostGroup"
PRODUCT_GROUP = "ProductGroup"
KINDS = (HOST_GROUP, PRODUCT_GROUP)
CORE_KIND = {HOST_GROUP: "computer", PRODUCT_GROUP: "package"}  # opsi group type -> core group kind
OPSI_KIND = {v: k for k, v in CORE_KIND.items()}


class _Group(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def key(self) -> str: ...
    @property
    def parent_id(self) -> int | None: ...
    @property
    def description(self) -> str: ...


def force_group_id(value: Any) -> str:
    text = str(value or "").strip().lower()
    if not GROUP_ID_RE.match(text):
        raise OpsiValueError(f"Bad group id: '{value}'")
    return text


# opsi attribute -> core group field, filtered in SQL (issue #10 §2); ``notes`` is not stored
# (always empty), ``matches`` applies it to the rows the database returned
GROUP_SQL = {"id": "key", "description": "description", "parentGroupId": "parent_key"}


def host_groups(ctx: Context, where: tuple[Expr, ...] = ()) -> dict[str, GroupInfo]:
    found = ctx.services.groups.find(ctx.actor, Query(where=where, limit=None), kind="computer")
    return {g.key: g for g in found.items}


def groups_of(ctx: Context, kind: str, where: tuple[Expr, ...] = ()) -> dict[str, _Group]:
    """Group key -> group of one kind, every one or those ``where`` keeps (in SQL)."""
    if kind == HOST_GROUP:
        return dict(host_groups(ctx, where))
    if not where:
        return {g.key: g for g in ctx.services.packages.list_groups(ctx.actor, all_levels=True)}
    return {g.key: g for g in ctx.services.packages.find_groups(ctx.actor, Query(where=where, limit=None))}


def _kind(value: Any) -> str:
    if value not in KINDS:
        raise OpsiValueError(f"Invalid group type '{value}'")
    return str(value)


class GroupAdapter:
    ident: tuple[str, ...] = ("id",)
    attributes: tuple[str, ...] = ("id", "description", "notes", "parentGroupId")
    family: Mapping[str, tuple[str, ...]] = {
        HOST_GROUP: (HOST_GROUP, "Group"),
        PRODUCT_GROUP: (PRODUCT_GROUP, "Group"),
    }

    def fetch(self, ctx: Context, flt: Mapping[str, Any]) -> list[Row]:
        rows: list[Row] = []
        where = sql_conditions(flt, GROUP_SQL)
        for kind in KINDS:
            if not type_matches(kind, flt.get("type"), self.family):
                continue  # a type of the other kind: nothing of this one to read
            groups = groups_of(ctx, kind, where)
            by_id = {g.id: g for g in groups.values()}
            parents = {g.parent_id for g in groups.values() if g.parent_id is not None} - set(by_id)
            if parents:  # parents the filter left out: their keys are still the rows' parentGroupId
                by_id.update(
                    {g.id: g for g in groups_of(ctx, kind, (Cond("id", Op.IN, tuple(parents)),)).values()}
                )
            rows.extend(
                {
                    "id": g.key,
                    "description": g.description,
                    "notes": "",
                    "parentGroupId": by_id[g.parent_id].key if g.parent_id in by_id else None,
                    "type": kind,
                }
                for g in groups.values()
            )
        return rows

    def coerce(self, obj: Mapping[str, Any], partial: bool) -> Row:
        out: Row = {"id": force_group_id(obj.get("id"))}
        if obj.get("type") is not None or not partial:
            out["type"] = _kind(obj.get("type") or HOST_GROUP)
        if obj.get("parentGroupId") is not None or not partial:
            parent = obj.get("parentGroupId")
            out["parentGroupId"] = force_group_id(parent) if parent else None
        if obj.get("description") is not None or not partial:
            out["description"] = str(obj.get("description") or "")
        return out

    @staticmethod
    def _parent(groups: Mapping[str, _Group], key: str | None) -> int | None:
        if not key:
            return None
        if key not in groups:
            raise BackendMissingDataError(f"Parent group '{key}' not found")
        return groups[key].id

    def _existing(self, ctx: Context, key: str) -> tuple[str, _Group] | None:
        for kind in KINDS:
            found = groups_of(ctx, kind).get(key)
            if found is not None:
                return kind, found
        return None

    def _put(self, ctx: Context, obj: Row, *, move: bool, create: bool) -> None:
        """One core put: create-or-update by the group id, decided in core's transaction."""
        kind = obj.get("type")
        try:
            ctx.services.groups.put(
                ctx.actor,
                obj["id"],
                kind=CORE_KIND[kind] if kind else None,
                description=obj.get("description"),
                parent_key=obj.get("parentGroupId"),
                move=move,
                create=create,
            )
        except NotFound as exc:
            if exc.object_type == "parent group":
                raise BackendMissingDataError(f"Parent group '{exc.object_id}' not found") from exc
            raise
        except ValidationFailed as exc:
            if exc.detail.get("kind") in OPSI_KIND:  # the key names a group of the other kind
                raise OpsiValueError(f"Group '{obj['id']}' is a {OPSI_KIND[exc.detail['kind']]}") from exc
            raise

    def insert(self, ctx: Context, obj: Row) -> None:
        """insertObject: create, or replace description and parent (none: the root)."""
        self._put(ctx, obj, move=True, create=True)

    def update(self, ctx: Context, obj: Row, create: bool) -> None:
        """updateObject(s): the given (non-null) attributes of an existing group; a missing one
        is created by updateObjects (``create``) and left alone otherwise."""
        self._put(ctx, obj, move="parentGroupId" in obj, create=create)

    def delete(self, ctx: Context, idents: list[Row]) -> int:
        done = 0
        for ident in idents:
            found = self._existing(ctx, str(ident["id"]).lower())
            if found is None:
                continue
            kind, group = found
            # host or product group: exclusive, so the service is chosen first and called once
            remove = ctx.services.groups.delete if kind == HOST_GROUP else ctx.services.packages.delete_group
            remove(ctx.actor, group.id)
            done += 1
        return done


class ObjectToGroupAdapter:
    ident: tuple[str, ...] = ("groupType", "groupId", "objectId")
    attributes: tuple[str, ...] = ("groupType", "groupId", "objectId")
    family: Mapping[str, tuple[str, ...]] = {"ObjectToGroup": ("ObjectToGroup",)}

    def __init__(self, hosts: HostAdapter) -> None:
        self.hosts = hosts

    def fetch(self, ctx: Context, flt: Mapping[str, Any]) -> list[Row]:
        """The groups the ``groupId`` filter names are chosen in SQL, and for host groups only
        the computers an ``objectId`` filter names are read (``matches`` keeps the rest exact)."""
        rows: list[Row] = []
        only = flt.get("groupType")
        by_key = sql_conditions(flt, {"groupId": "key"})
        if only != PRODUCT_GROUP:
            _, computers = self.hosts.computers(ctx, plain_values(flt.get("objectId")))
            names = {c.id: hid for hid, c in computers.items()}
            members = ctx.services.groups.memberships(ctx.actor)  # one query, not one per group
            for key, g in host_groups(ctx, by_key).items():
                rows.extend(
                    {"groupType": HOST_GROUP, "groupId": key, "objectId": names[cid], "type": "ObjectToGroup"}
                    for cid in members.get(g.id, [])
                    if cid in names
                )
        families = ctx.services.packages.group_family_keys(ctx.actor) if only != HOST_GROUP else {}
        for key, pg in groups_of(ctx, PRODUCT_GROUP, by_key).items() if only != HOST_GROUP else []:
            products = families.get(pg.id, [])
            rows.extend(
                {"groupType": PRODUCT_GROUP, "groupId": key, "objectId": pid, "type": "ObjectToGroup"}
                for pid in products
            )
        return rows

    def coerce(self, obj: Mapping[str, Any], partial: bool) -> Row:
        kind = _kind(obj.get("groupType"))
        member = obj.get("objectId")
        return {
            "type": "ObjectToGroup",
            "groupType": kind,
            "groupId": force_group_id(obj.get("groupId")),
            "objectId": force_host_id(member) if kind == HOST_GROUP else force_product_id(member),
        }

    def _group(self, ctx: Context, obj: Row) -> _Group:
        group = groups_of(ctx, obj["groupType"]).get(obj["groupId"])
        if group is None:
            raise BackendMissingDataError(f"Group '{obj['groupId']}' not found")
        return group

    def _computer(self, ctx: Context, host_id: str) -> int:
        _, computers = self.hosts.computers(ctx)
        computer = computers.get(host_id)
        if computer is None:
            raise BackendMissingDataError(f"Host '{host_id}' not found")
        return computer.id

    def insert(self, ctx: Context, obj: Row) -> None:
        """A computer joins a host group, or a product (its newest package, unless one of its
        packages is there already) a product group: one core call either way, the service
        chosen first by the relation's own ``groupType``."""
        group = self._group(ctx, obj)
        add: Callable[[Actor, int, Any], object]
        member: Any
        if obj["groupType"] == HOST_GROUP:
            add, member = ctx.services.groups.add_members, [self._computer(ctx, obj["objectId"])]
        else:
            add, member = ctx.services.packages.add_family_to_group, obj["objectId"]
        try:
            add(ctx.actor, group.id, member)
        except NotFound as exc:
            if exc.object_type == "package family":
                raise BackendMissingDataError(f"Product '{obj['objectId']}' not found") from exc
            raise

    def update(self, ctx: Context, obj: Row, create: bool) -> None:
        if create:
            self.insert(ctx, obj)  # a relation has no attributes besides its ident

    def delete(self, ctx: Context, idents: list[Row]) -> int:
        done = 0
        for ident in idents:
            obj = self.coerce(ident, partial=False)
            group = self._group(ctx, obj)
            remove: Callable[[Actor, int, Any], object]
            member: Any
            if obj["groupType"] == HOST_GROUP:
                remove, member = ctx.services.groups.remove_members, [self._computer(ctx, obj["objectId"])]
            else:  # every package of the product, in one transaction
                remove, member = ctx.services.packages.remove_family_from_group, obj["objectId"]
            remove(ctx.actor, group.id, member)
            done += 1
        return done
