"""``cmdb.objects_by_relation.read``: the relations an object takes part in, keyed by the
relation's id, each with the object on the other side (i-doit's ``data``/``children`` shape).

A relation is an entry of ``C__CATG__RELATION`` (saved with ``cmdb.category.save``:
``object1`` master, ``object2`` slave, ``relation_type``); fleetdeck makes no relation objects,
so a relation's ``id`` is its entry's id and its ``type`` is the Relation object type."""

from __future__ import annotations

from typing import Any

from fleetdeck.api.dialects.idoit import render
from fleetdeck.api.dialects.idoit.registry import METHODS, Context
from fleetdeck.api.dialects.idoit.schemas import numeric, record_status, required
from fleetdeck.core.cmdb.catalog import catalog
from fleetdeck.core.cmdb.values import CmdbObjectInfo, Relation

RELATION_TYPE_CONST = "C__OBJTYPE__RELATION"


def _row(ctx: Context, object_id: int, r: Relation) -> dict[str, Any]:
    other: CmdbObjectInfo = r.slave if r.master.id == object_id else r.master
    relation = catalog().object_type(RELATION_TYPE_CONST)
    return {
        "data": {
            "id": r.id,
            "title": f"{r.master.title} {r.master_phrase} {r.slave.title}",
            "cmdb_status_title": "",
            "related_object": other.id,
            "related_title": other.title,
            "related_type": other.type_id,
            "related_type_title": render.tr(other.type_title, ctx.lang),
            "related_cmdb_status_title": render.tr(other.cmdb_status_title, ctx.lang),
            "master": r.master.id,
            "slave": r.slave.id,
            "type": relation.id if relation is not None else None,
            "type_title": render.tr(relation.title, ctx.lang) if relation is not None else "Relation",
        },
        "children": False,
    }


@METHODS.method("cmdb.objects_by_relation.read")
def objects_by_relation_read(
    ctx: Context, id: Any = None, relation_type: Any = None, status: Any = None, raw: Any = None
) -> dict[str, Any] | list[Any]:
    """The relations of object ``id`` (optionally of one ``relation_type``, id or constant, and
    of a record ``status``, default normal) by relation id; ``[]`` when there are none."""
    object_id = numeric(required(id, "id"), "id")
    wanted: int | str | None = None
    if relation_type is not None:
        wanted = (
            relation_type.strip()
            if isinstance(relation_type, str)
            else numeric(relation_type, "relation_type")
        )
    relations = ctx.services.cmdb.relations(
        ctx.actor,
        object_id,
        relation_type=wanted,
        status=record_status(status) if status is not None else 2,
    )
    return {str(r.id): _row(ctx, object_id, r) for r in relations} or []
