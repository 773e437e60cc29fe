"""``cmdb.category.*`` and ``cmdb.category_info.read``: entries of an object's categories.

A computer's inventory categories (model, CPU, memory, drives, ports, IPs, operating system,
applications) are read from its live inventory and refused for writing with -32099 and the
reason; every other category is stored in fleetdeck."""

from __future__ import annotations

from typing import Any

from fleetdeck.api.dialects.idoit import render
from fleetdeck.api.dialects.idoit.errors import Code, IdoitError
from fleetdeck.api.dialects.idoit.registry import METHODS, Context
from fleetdeck.api.dialects.idoit.schemas import category_const, numeric, record_status, required
from fleetdeck.core.cmdb.catalog import Category
from fleetdeck.core.cmdb.statuses import Op

DEPRECATED = (
    " [This method is deprecated and will be removed in a feature release. Use 'cmdb.category.save' instead.]"
)
STATUS_WORDS = {
    Op.ARCHIVE: "archived",
    Op.DELETE: "deleted",
    Op.RETIRE: "deleted",
    Op.RECYCLE: "recycled",
    Op.PURGE: "purged",
}


def resolve(ctx: Context, category: Any, catg_id: Any = None, cats_id: Any = None) -> Category:
    """The category named by constant, or by ``catgID``/``catsID``."""
    if category is not None:
        return ctx.services.cmdb.category(category_const(category))
    if catg_id is not None:
        return ctx.services.cmdb.category_by_id("g", numeric(catg_id, "catgID"))
    if cats_id is not None:
        return ctx.services.cmdb.category_by_id("s", numeric(cats_id, "catsID"))
    raise IdoitError(Code.INVALID_PARAMS, "Mandatory parameter 'category' not found in your request.")


def _object(object: Any, objID: Any) -> int:  # noqa: N803
    return numeric(required(object if object is not None else objID, "object"), "object")


def _data(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise IdoitError(Code.INVALID_PARAMS, "Mandatory parameter 'data' has to be an object of attributes.")
    return data


@METHODS.method("cmdb.category.read")
def category_read(
    ctx: Context,
    objID: Any = None,  # noqa: N803
    object: Any = None,
    category: Any = None,
    catgID: Any = None,  # noqa: N803
    catsID: Any = None,  # noqa: N803
    status: Any = None,
) -> list[dict[str, Any]]:
    """The entries of one category of an object (normal ones; ``status`` 3/4, or -1 for all)."""
    object_id = numeric(required(objID if objID is not None else object, "objID"), "objID")
    cat = resolve(ctx, category, catgID, catsID)
    wanted = record_status(status) if status is not None else 2
    found = ctx.services.cmdb.entries(ctx.actor, [object_id], [cat.const], None if wanted == -1 else wanted)
    return [render.entry(cat, e, ctx.lang) for e in found.get(object_id, {}).get(cat.const, [])]


@METHODS.method("cmdb.category.save")
def category_save(
    ctx: Context,
    object: Any = None,
    objID: Any = None,  # noqa: N803
    category: Any = None,
    data: Any = None,
    entry: Any = None,
) -> dict[str, Any]:
    """Create or update an entry (with ``entry``: that one)."""
    cat = resolve(ctx, category)
    entry_id = numeric(entry, "entry") if entry is not None else None
    saved = ctx.services.cmdb.save(ctx.actor, _object(object, objID), cat.const, _data(data), entry_id)
    return {"success": True, "message": "Category entry successfully saved", "entry": saved}


@METHODS.method("cmdb.category.create", deprecated=True, alternative="cmdb.category.save")
def category_create(
    ctx: Context,
    objID: Any = None,  # noqa: N803
    object: Any = None,
    category: Any = None,
    catgID: Any = None,  # noqa: N803
    catsID: Any = None,  # noqa: N803
    data: Any = None,
) -> dict[str, Any]:
    """Create an entry (deprecated form of cmdb.category.save)."""
    cat = resolve(ctx, category, catgID, catsID)
    saved = ctx.services.cmdb.save(ctx.actor, _object(object, objID), cat.const, _data(data), always_new=True)
    return {
        "id": saved,
        "message": "Category entry successfully created." + DEPRECATED,
        "success": True,
    }


@METHODS.method("cmdb.category.update", deprecated=True, alternative="cmdb.category.save")
def category_update(
    ctx: Context,
    objID: Any = None,  # noqa: N803
    object: Any = None,
    category: Any = None,
    catgID: Any = None,  # noqa: N803
    catsID: Any = None,  # noqa: N803
    data: Any = None,
) -> dict[str, Any]:
    """Update an entry (deprecated form of cmdb.category.save).

    ``data.category_id`` names the entry of a multi-value category."""
    cat = resolve(ctx, category, catgID, catsID)
    values = dict(_data(data))
    entry_ref = values.pop("category_id", None)
    if entry_ref is None:
        entry_ref = values.pop("id", None)
    entry_id = numeric(entry_ref, "data[category_id]") if entry_ref is not None else None
    if cat.multi_value and entry_id is None:
        raise IdoitError(
            Code.INVALID_PARAMS, "Mandatory parameter 'data[category_id]' not found in your request."
        )
    ctx.services.cmdb.save(ctx.actor, _object(object, objID), cat.const, values, entry_id)
    return {"success": True, "message": "Category entry successfully saved." + DEPRECATED}


def _entry_ref(*given: Any) -> int | None:
    """The entry named by the first of ``entry``, ``cateID``, ``id`` that is given."""
    ref = next((v for v in given if v is not None), None)
    return numeric(ref, "entry") if ref is not None else None


def _entry_op(ctx: Context, object_id: int, cat: Category, entry_id: int | None, op: Op) -> dict[str, Any]:
    eid, old, new = ctx.services.cmdb.entry_status(ctx.actor, object_id, cat.const, entry_id, op)
    return {
        "success": True,
        "message": f"Entry {eid} has been successfully {STATUS_WORDS[op]} from {old} to {new}.",
    }


@METHODS.method("cmdb.category.delete")
def category_delete(
    ctx: Context,
    objID: Any = None,  # noqa: N803
    object: Any = None,
    category: Any = None,
    catgID: Any = None,  # noqa: N803
    catsID: Any = None,  # noqa: N803
    cateID: Any = None,  # noqa: N803
    id: Any = None,
    entry: Any = None,
) -> dict[str, Any]:
    """Mark an entry of a multi-value category deleted (legacy ``cateID`` form: one step).

    The legacy form moves the entry one step along normal -> archived -> deleted."""
    cat = resolve(ctx, category, catgID, catsID)
    entry_id = _entry_ref(entry, cateID, id)
    if entry_id is None:
        raise IdoitError(Code.INVALID_PARAMS, "Mandatory parameter 'entry' not found in your request.")
    op = Op.DELETE if entry is not None else Op.RETIRE  # legacy cateID/id: one step
    return _entry_op(ctx, _object(object, objID), cat, entry_id, op)


@METHODS.method("cmdb.category.quickpurge")
def category_quickpurge(
    ctx: Context,
    objID: Any = None,  # noqa: N803
    object: Any = None,
    category: Any = None,
    catgID: Any = None,  # noqa: N803
    catsID: Any = None,  # noqa: N803
    cateID: Any = None,  # noqa: N803
    id: Any = None,
    entry: Any = None,
) -> dict[str, Any]:
    """Remove an entry at once, whatever its status."""
    cat = resolve(ctx, category, catgID, catsID)
    return _entry_op(ctx, _object(object, objID), cat, _entry_ref(entry, cateID, id), Op.PURGE)


def _entry_method(name: str, op: Op) -> None:
    def method(
        ctx: Context,
        object: Any = None,
        objID: Any = None,  # noqa: N803
        category: Any = None,
        entry: Any = None,
    ) -> dict[str, Any]:
        cat = resolve(ctx, category)
        entry_id = numeric(entry, "entry") if entry is not None else None
        if entry_id is None and op != Op.PURGE:
            raise IdoitError(Code.INVALID_PARAMS, "Mandatory parameter 'entry' not found in your request.")
        return _entry_op(ctx, _object(object, objID), cat, entry_id, op)

    method.__doc__ = f"Entry status: {STATUS_WORDS[op]}."
    method.__name__ = name.replace(".", "_")
    METHODS.method(name)(method)


_entry_method("cmdb.category.archive", Op.ARCHIVE)
_entry_method("cmdb.category.recycle", Op.RECYCLE)
_entry_method("cmdb.category.purge", Op.PURGE)


@METHODS.method("cmdb.category_info.read")
def category_info_read(
    ctx: Context,
    category: Any = None,
    catgID: Any = None,  # noqa: N803
    catsID: Any = None,  # noqa: N803
) -> dict[str, Any]:
    """The attributes of a category: titles and types."""
    return render.category_info(resolve(ctx, category, catgID, catsID), ctx.lang)
