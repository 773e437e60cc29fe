"""opsi ``HostGroup`` = a fleetdeck computer group (its string key is opsi's group id, the parent's
key is ``parentGroupId``), and ``ObjectToGroup`` rows of type HostGroup = group memberships.

``ProductGroup`` (fleetdeck package groups) is not built yet: writing one answers a clear error
and reading lists none. ``notes`` of a group is not stored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from fleetdeck.api.dialects.opsi.errors import BackendMissingDataError, NotSupportedError, OpsiValueError
from fleetdeck.api.dialects.opsi.objects.hosts import HostAdapter, force_host_id
from fleetdeck.api.dialects.opsi.registry import Context
from fleetdeck.core.groups.service import GroupInfo
from fleetdeck.core.query import Query

Row = dict[str, Any]
GROUP_ID_RE = re.compile(r"^[a-z0-9][a-z0-9\-_. ]*$")
HOST_GROUP = "HostGroup"


def force_group_id(value: Any) -> str:
    text = str(value or "").strip().lower()
    if not GROUP_ID_RE.match(text):
        raise OpsiValueError(f"Bad group id: '{value}'")
    return text


def host_groups(ctx: Context) -> dict[str, GroupInfo]:
    return {g.key: g for g in ctx.services.groups.find(ctx.actor, Query(limit=None), kind="computer").items}


def _no_product_groups(kind: str) -> None:
    if kind == "ProductGroup":
        raise NotSupportedError("ProductGroup objects are not supported by fleetdeck yet")


class GroupAdapter:
    ident: tuple[str, ...] = ("id",)
    attributes: tuple[str, ...] = ("id", "description", "notes", "parentGroupId")
    family: Mapping[str, tuple[str, ...]] = {
        "HostGroup": ("HostGroup", "Group"),
        "ProductGroup": ("ProductGroup", "Group"),
    }

    def fetch(self, ctx: Context, flt: Mapping[str, Any]) -> list[Row]:
        groups = host_groups(ctx)
        by_id = {g.id: g for g in groups.values()}
        return [
            {
                "id": g.key,
                "description": g.description,
                "notes": "",
                "parentGroupId": by_id[g.parent_id].key if g.parent_id in by_id else None,
                "type": HOST_GROUP,
            }
            for g in groups.values()
        ]

    def coerce(self, obj: Mapping[str, Any], partial: bool) -> Row:
        kind = obj.get("type") or HOST_GROUP
        _no_product_groups(kind)
        if kind != HOST_GROUP:
            raise OpsiValueError(f"Invalid group type '{kind}'")
        out: Row = {"type": kind, "id": force_group_id(obj.get("id"))}
        if obj.get("parentGroupId") is not None or not partial:
            parent = obj.get("parentGroupId")
            out["parentGroupId"] = force_group_id(parent) if parent else None
        if obj.get("description") is not None or not partial:
            out["description"] = str(obj.get("description") or "")
        return out

    def _parent(self, groups: Mapping[str, GroupInfo], key: str | None) -> int | None:
        if not key:
            return None
        if key not in groups:
            raise BackendMissingDataError(f"Parent group '{key}' not found")
        return groups[key].id

    def insert(self, ctx: Context, obj: Row) -> None:
        groups = host_groups(ctx)
        parent = self._parent(groups, obj.get("parentGroupId"))
        existing = groups.get(obj["id"])
        if existing is None:
            ctx.services.groups.create(
                ctx.actor, obj["id"], parent_id=parent, description=obj.get("description", ""), key=obj["id"]
            )
        else:
            ctx.services.groups.update(
                ctx.actor, existing.id, description=obj.get("description", ""), parent_id=parent, move=True
            )

    def update(self, ctx: Context, obj: Row, create: bool) -> None:
        groups = host_groups(ctx)
        existing = groups.get(obj["id"])
        if existing is None:
            if create:
                self.insert(ctx, obj)
            return
        move = "parentGroupId" in obj
        parent = self._parent(groups, obj.get("parentGroupId")) if move else None
        ctx.services.groups.update(
            ctx.actor, existing.id, description=obj.get("description"), parent_id=parent, move=move
        )

    def delete(self, ctx: Context, idents: list[Row]) -> int:
        groups = host_groups(ctx)
        done = 0
        for ident in idents:
            g = groups.get(str(ident["id"]).lower())
            if g is not None:
                ctx.services.groups.delete(ctx.actor, g.id)
                done += 1
        return done


class ObjectToGroupAdapter:
    ident: tuple[str, ...] = ("groupType", "groupId", "objectId")
    attributes: tuple[str, ...] = ("groupType", "groupId", "objectId")
    family: Mapping[str, tuple[str, ...]] = {"ObjectToGroup": ("ObjectToGroup",)}

    def __init__(self, hosts: HostAdapter) -> None:
        self.hosts = hosts

    def fetch(self, ctx: Context, flt: Mapping[str, Any]) -> list[Row]:
        _, computers = self.hosts.computers(ctx)
        names = {c.id: hid for hid, c in computers.items()}
        rows: list[Row] = []
        for key, g in host_groups(ctx).items():
            for cid in ctx.services.groups.members(ctx.actor, g.id):
                if cid in names:
                    rows.append(
                        {
                            "groupType": HOST_GROUP,
                            "groupId": key,
                            "objectId": names[cid],
                            "type": "ObjectToGroup",
                        }
                    )
        return rows

    def coerce(self, obj: Mapping[str, Any], partial: bool) -> Row:
        kind = obj.get("groupType")
        _no_product_groups(str(kind))
        if kind != HOST_GROUP:
            raise OpsiValueError(f"Invalid group type '{kind}'")
        return {
            "type": "ObjectToGroup",
            "groupType": kind,
            "groupId": force_group_id(obj.get("groupId")),
            "objectId": force_host_id(obj.get("objectId")),
        }

    def _resolve(self, ctx: Context, obj: Row) -> tuple[int, int]:
        group = host_groups(ctx).get(obj["groupId"])
        if group is None:
            raise BackendMissingDataError(f"Group '{obj['groupId']}' not found")
        _, computers = self.hosts.computers(ctx)
        computer = computers.get(obj["objectId"])
        if computer is None:
            raise BackendMissingDataError(f"Host '{obj['objectId']}' not found")
        return group.id, computer.id

    def insert(self, ctx: Context, obj: Row) -> None:
        group_id, computer_id = self._resolve(ctx, obj)
        ctx.services.groups.add_members(ctx.actor, group_id, [computer_id])

    def update(self, ctx: Context, obj: Row, create: bool) -> None:
        if create:
            self.insert(ctx, obj)  # a relation has no attributes besides its ident

    def delete(self, ctx: Context, idents: list[Row]) -> int:
        done = 0
        for ident in idents:
            group_id, computer_id = self._resolve(ctx, self.coerce(ident, partial=False))
            ctx.services.groups.remove_members(ctx.actor, group_id, [computer_id])
            done += 1
        return done
