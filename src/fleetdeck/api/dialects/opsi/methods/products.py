"""opsi's ``product_*``, ``productOnDepot_*`` and ``productOnClient_*`` methods over fleetdeck
packages, installations and deployment jobs (see ``objects/products.py``)."""

from __future__ import annotations

from typing import Any

from fleetdeck.api.dialects.opsi.objects import crud
from fleetdeck.api.dialects.opsi.objects.hosts import HostAdapter
from fleetdeck.api.dialects.opsi.objects.products import (
    LOCALBOOT,
    ProductAdapter,
    ProductOnClientAdapter,
    ProductOnDepotAdapter,
)
from fleetdeck.api.dialects.opsi.registry import Context

PRODUCTS = crud.register("product", ProductAdapter())
ON_DEPOT = crud.register("productOnDepot", ProductOnDepotAdapter())
ON_CLIENT_ADAPTER = ProductOnClientAdapter(HostAdapter())
ON_CLIENT = crud.register("productOnClient", ON_CLIENT_ADAPTER)


def product_on_client_create(ctx: Context, **attrs: Any) -> None:
    """One productOnClient; only its actionRequest has an effect (it creates the job)."""
    ON_CLIENT.insert(ctx, {**attrs, "type": "ProductOnClient"})


def product_on_depot_create(ctx: Context, **attrs: Any) -> None:
    ON_DEPOT.insert(ctx, {**attrs, "type": "ProductOnDepot"})


def set_product_action_request(ctx: Context, productId: str, clientId: str, actionRequest: str) -> None:
    """Request an action for one product on one client (creates or withdraws the job)."""
    ON_CLIENT.update(
        ctx,
        {
            "productId": productId,
            "productType": LOCALBOOT,
            "clientId": clientId,
            "actionRequest": actionRequest,
        },
        create=True,
    )


crud.declare("productOnClient_create", product_on_client_create)
crud.declare("productOnDepot_create", product_on_depot_create)
crud.declare("setProductActionRequest", set_product_action_request)
