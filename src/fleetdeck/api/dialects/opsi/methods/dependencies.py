"""opsi's ``productDependency_*`` methods over package dependencies."""

from __future__ import annotations

from typing import Any

from fleetdeck.api.dialects.opsi.objects import crud
from fleetdeck.api.dialects.opsi.objects.dependencies import ProductDependencyAdapter
from fleetdeck.api.dialects.opsi.registry import Context

DEPENDENCIES = crud.register("productDependency", ProductDependencyAdapter())


def create(ctx: Context, **attrs: Any) -> None:
    DEPENDENCIES.insert(ctx, {**attrs, "type": "ProductDependency"})


crud.declare("productDependency_create", create)
