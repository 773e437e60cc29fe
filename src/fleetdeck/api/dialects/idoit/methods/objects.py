"""``cmdb.object.*``, ``cmdb.objects.read`` and the object type methods."""

from __future__ import annotations

from typing import Any

from fleetdeck.api.dialects.idoit import render
from fleetdeck.api.dialects.idoit.errors import Code, IdoitError
from fleetdeck.api.dialects.idoit.registry import METHODS, Context
from fleetdeck.api.dialects.idoit.schemas import category_const, limit, numeric, record_status, required
from fleetdeck.core.cmdb.catalog import catalog
from fleetdeck.core.cmdb.statuses import Op
from fleetdeck.core.query import Cond, Query, SortKey
from fleetdeck.core.query import Op as Q

ORDER_FIELDS = {
    "isys_obj__id": "id",
    "id": "id",
    "isys_obj__title": "title",
    "title": "title",
    "type": "type_id",
    "isys_obj_type__id": "type_id",
    "type_title": "type_id",
    "sysid": "sysid",
    "isys_obj__sysid": "sysid",
    "status": "status",
    "created": "created_at",
    "updated": "updated_at",
}
STATUS_WORDS = {
    Op.ARCHIVE: "archived",
    Op.DELETE: "deleted",
    Op.RECYCLE: "recycled",
    Op.PURGE: "purged",
    Op.TEMPLATE: "marked as template",
    Op.MASS_CHANGE_TEMPLATE: "marked as mass change template",
}
# Legacy cmdb.object.delete {"id", "status"}: the status names the operation.
DELETE_STATUS_OPS = {3: Op.ARCHIVE, 4: Op.DELETE, 5: Op.PURGE}


def _type_id(ref: Any) -> int:
    t = catalog().object_type(ref) if isinstance(ref, int | str) and not isinstance(ref, bool) else None
    if t is None:
        raise IdoitError(Code.INVALID_PARAMS, f"Object type {ref!r} does not exist.")
    return t.id


@METHODS.method("cmdb.object_types.read")
def object_types_read(ctx: Context, filter: Any = None, countobjects: Any = None) -> list[dict[str, Any]]:
    """The object types, optionally filtered by ``id``/``ids``/``const``/``title``."""
    types = ctx.services.cmdb.object_types()
    if isinstance(filter, dict):
        if "id" in filter:
            types = [t for t in types if str(t.id) == str(filter["id"])]
        if isinstance(filter.get("ids"), list):
            wanted = {str(i) for i in filter["ids"]}
            types = [t for t in types if str(t.id) in wanted]
        if "const" in filter:
            types = [t for t in types if t.const == filter["const"]]
        if "title" in filter:
            types = [t for t in types if t.title == filter["title"]]
    groups = catalog().groups
    return [
        {
            "id": str(t.id),
            "title": render.tr(t.title, ctx.lang),
            "container": "1" if t.container else "0",
            "const": t.const,
            "color": t.color,
            "image": f"images/objecttypes/{t.image}",
            "icon": t.icon,
            "cats": "",
            "tree_group": "1",
            "status": str(t.status),
            "type_group": str(groups.get(t.group, {}).get("id", "")),
            "type_group_title": render.tr(str(groups.get(t.group, {}).get("title", "")), ctx.lang),
        }
        for t in types
    ]


@METHODS.method("cmdb.object_type_groups.read")
def object_type_groups_read(ctx: Context) -> list[dict[str, Any]]:
    """The object type groups."""
    return [
        {"id": str(g["id"]), "title": render.tr(g["title"], ctx.lang), "const": g["const"], "status": "2"}
        for g in catalog().groups.values()
    ]


@METHODS.method("cmdb.object_type_categories.read")
def object_type_categories_read(ctx: Context, type: Any = None) -> dict[str, Any]:
    """The global and specific categories of an object type."""
    t = catalog().types_by_id[_type_id(required(type, "type"))]
    cats = catalog().categories_of(t.const)

    def row(c: Any) -> dict[str, Any]:
        return {
            "id": str(c.id),
            "title": render.tr(c.title, ctx.lang),
            "const": c.const,
            "multi_value": "1" if c.multi_value else "0",
            "source_table": "",
            "parent": c.parent,
        }

    return {"catg": [row(c) for c in cats if c.kind == "g"], "cats": [row(c) for c in cats if c.kind == "s"]}


@METHODS.method("cmdb.object.create")
def object_create(
    ctx: Context,
    type: Any = None,
    title: Any = None,
    cmdb_status: Any = None,
    description: Any = None,
    sysid: Any = None,
    status: Any = None,
    purpose: Any = None,
    category: Any = None,
    categories: Any = None,
    defaultTemplate: Any = None,  # noqa: N803
) -> dict[str, Any]:
    """Create an object; optional ``categories`` {const: [attributes, ...]} are saved with it."""
    type_id = _type_id(required(type, "type"))
    if not isinstance(title, str | int) or isinstance(title, bool) or not str(title).strip():
        raise IdoitError(Code.INVALID_PARAMS, "Mandatory parameter 'title' not found in your request.")
    entries: dict[str, list[dict[str, Any]]] = {}
    if categories is not None:
        if not isinstance(categories, dict):
            raise IdoitError(Code.INVALID_PARAMS, "Parameter categories has to be an object.")
        for const, given in categories.items():
            rows = given if isinstance(given, list) else [given]
            if not all(isinstance(r, dict) for r in rows):
                raise IdoitError(Code.INVALID_PARAMS, f"Entries of {const} have to be objects.")
            entries[category_const(const)] = rows
    attrs = {k: v for k, v in (("purpose", purpose), ("category", category)) if v is not None}
    object_id, created = ctx.services.cmdb.create(
        ctx.actor,
        type_id,
        str(title),
        status=record_status(status) if status is not None else 2,
        cmdb_status=cmdb_status,
        description=description if isinstance(description, str) else None,
        sysid=sysid if isinstance(sysid, str) else None,
        attrs=_global_attrs(ctx, attrs),
        categories=entries or None,
    )
    result: dict[str, Any] = {"id": object_id, "message": "Object was successfully created", "success": True}
    if entries:
        result["categories"] = created
    return result


def _global_attrs(ctx: Context, attrs: dict[str, Any]) -> dict[str, Any]:
    """purpose and category as dialog ids (titles of existing values are looked up)."""
    out: dict[str, Any] = {}
    for key, table in (("purpose", "isys_purpose"), ("category", "isys_catg_global_category")):
        if key in attrs:
            value = attrs[key]
            if isinstance(value, str) and not value.isdigit():
                match = next((i.id for i in catalog().dialogs.get(table, ()) if i.title == value), None)
                if match is None:
                    raise IdoitError(Code.INVALID_PARAMS, f"Unknown {key} {value!r}.")
                value = match
            out[key] = numeric(value, key)
    return out


@METHODS.method("cmdb.object.read")
def object_read(ctx: Context, id: Any = None) -> Any:
    """One object; ``[]`` when it does not exist (any more)."""
    info = ctx.services.cmdb.get(ctx.actor, numeric(required(id, "id"), "id"))
    return render.object_read(info, ctx.lang) if info is not None else []


@METHODS.method("cmdb.object.update")
def object_update(ctx: Context, id: Any = None, title: Any = None, type: Any = None) -> dict[str, Any]:
    """Rename an object (``title``), or change its ``type`` (fleetdeck's addition).

    A computer's object type is chosen from its facts (workstation or server) until it is set
    here; its title is its host name and cannot be changed here."""
    object_id = numeric(required(id, "id"), "id")
    if title is None and type is None:
        raise IdoitError(Code.INVALID_PARAMS, "Mandatory parameter 'title' not found in your request.")
    if title is not None and not isinstance(title, str | int):
        raise IdoitError(Code.INVALID_PARAMS, "Parameter title has to be a string.")
    ctx.services.cmdb.update(
        ctx.actor,
        object_id,
        title=str(title) if title is not None else None,
        type_ref=_type_id(type) if type is not None else None,
    )
    return {"message": "Object title was successfully updated", "success": True}


def _status_change(ctx: Context, object_id: int, op: Op) -> dict[str, Any]:
    ctx.services.cmdb.change_status(ctx.actor, object_id, op)
    return {"success": True, "message": f"Object {object_id} has been {STATUS_WORDS[op]}."}


def _object_param(object: Any, id: Any) -> int:
    value = object if object is not None else id
    return numeric(required(value, "object"), "object")


@METHODS.method("cmdb.object.delete")
def object_delete(ctx: Context, object: Any = None, id: Any = None, status: Any = None) -> dict[str, Any]:
    """Mark an object deleted; legacy form ``id`` + ``status``: archive, delete or purge.

    idoit-scaleup and the PHP client's older tests use the legacy form."""
    op = Op.DELETE if status is None else DELETE_STATUS_OPS.get(record_status(status))
    if op is None:
        raise IdoitError(
            Code.INVALID_PARAMS, f"Parameter status {status!r} is not archived, deleted or purge."
        )
    return _status_change(ctx, _object_param(object, id), op)


def _status_method(name: str, op: Op) -> None:
    def method(ctx: Context, object: Any = None, id: Any = None) -> dict[str, Any]:
        return _status_change(ctx, _object_param(object, id), op)

    method.__doc__ = f"Object status: {STATUS_WORDS[op]}."
    method.__name__ = name.replace(".", "_")
    METHODS.method(name)(method)


_status_method("cmdb.object.archive", Op.ARCHIVE)
_status_method("cmdb.object.recycle", Op.RECYCLE)
_status_method("cmdb.object.purge", Op.PURGE)
_status_method("cmdb.object.markAsTemplate", Op.TEMPLATE)
_status_method("cmdb.object.markAsMassChangeTemplate", Op.MASS_CHANGE_TEMPLATE)


def objects_query(flt: Any, lim: Any, order_by: Any, sort: Any) -> Query:
    """i-doit's ``filter``/``limit``/``order_by``/``sort`` as a core query."""
    where: list[Cond] = []
    if flt is not None and not isinstance(flt, dict):
        raise IdoitError(Code.INVALID_PARAMS, "Parameter filter has to be an object.")
    flt = flt or {}
    status_given = False
    for key, value in flt.items():
        if key == "ids":
            values = value if isinstance(value, list) else [value]
            where.append(Cond("id", Q.IN, [numeric(v, "filter[ids]") for v in values]))
        elif key == "id":
            where.append(Cond("id", Q.EQ, numeric(value, "filter[id]")))
        elif key == "type":
            where.append(Cond("type_id", Q.EQ, _type_id(value)))
        elif key == "type_group":
            group = catalog().groups.get(value) if isinstance(value, str) else None
            if group is None:
                group = next((g for g in catalog().groups.values() if str(g["id"]) == str(value)), None)
            if group is None:
                raise IdoitError(Code.INVALID_PARAMS, f"Object type group {value!r} does not exist.")
            ids = [t.id for t in catalog().types_by_id.values() if t.group == group["const"]]
            where.append(Cond("type_id", Q.IN, ids))
        elif key == "type_title":
            ids = [
                t.id
                for t in catalog().types_by_id.values()
                if str(value) in (t.title, render.tr(t.title, "de"))
            ]
            where.append(Cond("type_id", Q.IN, ids))
        elif key == "title":
            where.append(Cond("title", Q.EQ, str(value)))
        elif key == "sysid":
            where.append(Cond("sysid", Q.EQ, str(value)))
        elif key == "status":
            status_given = True
            where.append(Cond("status", Q.EQ, record_status(value, "filter[status]")))
        elif key in ("first_name", "last_name", "email"):
            raise IdoitError(Code.INVALID_PARAMS, f"filter[{key}] is not supported by this server yet.")
        else:
            raise IdoitError(Code.INVALID_PARAMS, f"Unknown filter {key!r}.")
    if not status_given:
        where.append(Cond("status", Q.EQ, 2))
    offset, count = limit(lim)
    sort_keys: tuple[SortKey, ...] = ()
    if order_by is not None:
        field = ORDER_FIELDS.get(str(order_by))
        if field is None:
            raise IdoitError(Code.INVALID_PARAMS, f"Parameter order_by {order_by!r} is not supported.")
        desc = isinstance(sort, str) and sort.strip().upper() == "DESC"
        sort_keys = (SortKey(field, desc),)
    return Query(where=tuple(where), sort=sort_keys, limit=count, offset=offset)


@METHODS.method("cmdb.objects.read")
def objects_read(
    ctx: Context,
    filter: Any = None,
    limit: Any = None,
    order_by: Any = None,
    sort: Any = None,
    categories: Any = None,
) -> list[dict[str, Any]]:
    """Objects by filter, limit and order, with their categories when asked.

    Only normal objects unless ``filter.status``; ``categories``: ``true`` (all) or a list of
    constants."""
    query = objects_query(filter, limit, order_by, sort)
    found = ctx.services.cmdb.find(ctx.actor, query)
    rows = [render.object_row(info, ctx.lang) for info in found]
    if categories in (None, False, [], ""):
        return rows
    if categories is True:
        consts = None
    elif isinstance(categories, list) and all(isinstance(c, str) for c in categories):
        consts = [category_const(c) for c in categories]
    else:
        raise IdoitError(Code.INVALID_PARAMS, "Parameter categories has to be true or a list of constants.")
    entries = ctx.services.cmdb.entries(ctx.actor, [r["id"] for r in rows], consts)
    for row in rows:
        row["categories"] = {
            const: [render.entry(catalog().categories[const], e, ctx.lang) for e in items]
            for const, items in entries.get(row["id"], {}).items()
        }
    return rows
