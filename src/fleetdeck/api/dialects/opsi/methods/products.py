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
    """One whole productOnClient (opsi's defaults for what it leaves out), stored; a requested
    action becomes a job for the agent."""
    ON_CLIENT.insert(ctx, {**attrs, "type": "ProductOnClient"})


def product_on_depot_create(ctx: Context, **attrs: Any) -> None:
    ON_DEPOT.insert(ctx, {**attrs, "type": "ProductOnDepot"})


def set_product_action_request(ctx: Context, productId: str, clientId: str, actionRequest: str) -> None:
    """Request an action for one product on one client, as opsi's ``setProductState`` does:
    the progress is cleared and, for an action other than ``none``, the result is ``none``.
    A job is created (or withdrawn for ``none``; the state stays)."""
    obj = {
        "productId": productId,
        "productType": LOCALBOOT,
        "clientId": clientId,
        "actionRequest": actionRequest,
        "actionProgress": "",
    }
    if actionRequest != "none":
        obj["actionResult"] = "none"
    ON_CLIENT.update(ctx, obj, create=True)


def set_product_action_progress(
    ctx: Context, productId: str, hostId: str, productActionProgress: Any
) -> None:
    """opsi-script's progress report: stored as the state's actionProgress (opsi keeps the
    text of what it is given, at most 250 characters)."""
    ON_CLIENT.update(
        ctx,
        {
            "productId": productId,
            "productType": LOCALBOOT,
            "clientId": hostId,
            "actionProgress": "" if productActionProgress is None else str(productActionProgress),
        },
        create=True,
    )


crud.declare("productOnClient_create", product_on_client_create)
crud.declare("productOnDepot_create", product_on_depot_create)
crud.declare("setProductActionRequest", set_product_action_request)
crud.declare("setProductActionProgress", set_product_action_progress)
