"""``cmdb.dialog.*``: the values of a dialog attribute; dialog+ tables are editable."""

from __future__ import annotations

from typing import Any

from fleetdeck.api.dialects.idoit import render
from fleetdeck.api.dialects.idoit.errors import Code, IdoitError
from fleetdeck.api.dialects.idoit.registry import METHODS, Context
from fleetdeck.api.dialects.idoit.schemas import category_const, numeric, required


def _property(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise IdoitError(Code.INVALID_PARAMS, "Mandatory parameter 'property' not found in your request.")
    return value.strip()


def _value(value: Any) -> str:
    if not isinstance(value, str | int) or isinstance(value, bool) or not str(value).strip():
        raise IdoitError(Code.INVALID_PARAMS, "Mandatory parameter 'value' not found in your request.")
    return str(value)


@METHODS.method("cmdb.dialog.read")
def dialog_read(ctx: Context, category: Any = None, property: Any = None) -> list[dict[str, Any]]:
    """The values of a dialog attribute."""
    items = ctx.services.cmdb.dialog_items(
        ctx.actor, category_const(required(category, "category")), _property(property)
    )
    by_id = {i.id: i for i in items}
    return [render.dialog_item(i, ctx.lang, by_id) for i in items]


@METHODS.method("cmdb.dialog.create")
def dialog_create(
    ctx: Context,
    category: Any = None,
    property: Any = None,
    value: Any = None,
    parent: Any = None,
) -> dict[str, Any]:
    """Add a value to a dialog+ attribute."""
    item_id = ctx.services.cmdb.dialog_change(
        ctx.actor,
        category_const(required(category, "category")),
        _property(property),
        title=_value(value),
        parent=parent,
    )
    return {"success": True, "entry_id": item_id}


@METHODS.method("cmdb.dialog.update")
def dialog_update(
    ctx: Context,
    category: Any = None,
    property: Any = None,
    value: Any = None,
    entry_id: Any = None,
    parent: Any = None,
) -> dict[str, Any]:
    """Rename a value of a dialog+ attribute."""
    item_id = ctx.services.cmdb.dialog_change(
        ctx.actor,
        category_const(required(category, "category")),
        _property(property),
        item_id=numeric(required(entry_id, "entry_id"), "entry_id"),
        title=_value(value),
        parent=parent,
    )
    return {"success": True, "entry_id": item_id}


@METHODS.method("cmdb.dialog.delete")
def dialog_delete(
    ctx: Context,
    category: Any = None,
    property: Any = None,
    entry_id: Any = None,
) -> dict[str, Any]:
    """Remove a value of a dialog+ attribute."""
    item_id = ctx.services.cmdb.dialog_change(
        ctx.actor,
        category_const(required(category, "category")),
        _property(property),
        item_id=numeric(required(entry_id, "entry_id"), "entry_id"),
        delete=True,
    )
    return {"success": True, "entry_id": str(item_id)}
