"""opsi's ``productProperty_*`` and ``productPropertyState_*`` methods over package properties
(see ``objects/properties.py``)."""

from __future__ import annotations

from typing import Any

from fleetdeck.api.dialects.opsi.objects import crud
from fleetdeck.api.dialects.opsi.objects.hosts import HostAdapter
from fleetdeck.api.dialects.opsi.objects.properties import ProductPropertyAdapter, ProductPropertyStateAdapter
from fleetdeck.api.dialects.opsi.registry import Context

_props = ProductPropertyAdapter()
PROPERTIES = crud.register("productProperty", _props)
STATES = crud.register("productPropertyState", ProductPropertyStateAdapter(HostAdapter(), _props))


def create_property(ctx: Context, type: Any = None, **attrs: Any) -> None:
    """One property; ``type`` UnicodeProductProperty (default) or BoolProductProperty."""
    PROPERTIES.insert(ctx, {**attrs, "type": type or "UnicodeProductProperty"})


def create_bool(ctx: Context, **attrs: Any) -> None:
    PROPERTIES.insert(ctx, {**attrs, "type": "BoolProductProperty"})


def create_unicode(ctx: Context, **attrs: Any) -> None:
    PROPERTIES.insert(ctx, {**attrs, "type": "UnicodeProductProperty"})


def create_state(ctx: Context, **attrs: Any) -> None:
    STATES.insert(ctx, {**attrs, "type": "ProductPropertyState"})


crud.declare("productProperty_create", create_property)
crud.declare("productProperty_createBool", create_bool)
crud.declare("productProperty_createUnicode", create_unicode)
crud.declare("productPropertyState_create", create_state)
