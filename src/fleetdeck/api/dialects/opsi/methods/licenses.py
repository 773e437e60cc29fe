"""opsi's license management methods over core licenses (see ``objects/licenses.py``)."""

from __future__ import annotations

from typing import Any

from fleetdeck.api.dialects.opsi.errors import (
    BackendMissingDataError,
    BackendPermissionDeniedError,
    LicenseMissingError,
)
from fleetdeck.api.dialects.opsi.objects import crud
from fleetdeck.api.dialects.opsi.objects.hosts import HostAdapter, force_host_id
from fleetdeck.api.dialects.opsi.objects.licenses import (
    ContractAdapter,
    LicenseOnClientAdapter,
    PoolAdapter,
    PoolMemberAdapter,
    SoftwareLicenseAdapter,
)
from fleetdeck.api.dialects.opsi.registry import Context
from fleetdeck.core.licenses.service import LicenseExhausted

_hosts = HostAdapter()
CONTRACTS = crud.register("licenseContract", ContractAdapter())
LICENSES = crud.register("softwareLicense", SoftwareLicenseAdapter(_hosts))
POOLS = crud.register("licensePool", PoolAdapter())
POOL_MEMBERS = crud.register("softwareLicenseToLicensePool", PoolMemberAdapter())
_on_client = LicenseOnClientAdapter(_hosts)
ON_CLIENT = crud.register("licenseOnClient", _on_client)


def _creator(registry: crud.Crud, kind: str) -> Any:
    def create(ctx: Context, **attrs: Any) -> None:
        registry.insert(ctx, {**attrs, "type": kind})

    return create


def get_or_create(
    ctx: Context,
    clientId: Any,
    licensePoolId: Any = None,
    productId: Any = None,
    windowsSoftwareId: Any = None,
) -> dict[str, Any]:
    """The client's license from the pool (named, or the pool that covers ``productId``):
    its current one, else a free one; none left is opsi's LicenseMissingError."""
    client = force_host_id(clientId)
    if ctx.is_client and client != ctx.host_id:
        raise BackendPermissionDeniedError(f"Access to '{client}' denied for {ctx.host_id}")
    pools = ctx.services.licenses.pools(ctx.actor)
    if licensePoolId:
        pool = str(licensePoolId).lower()
    elif productId:
        matching = [p.key for p in pools if str(productId).lower() in p.product_keys]
        if len(matching) != 1:
            raise BackendMissingDataError(
                f"No unique license pool for product '{productId}' ({len(matching)} found)"
            )
        pool = matching[0]
    else:
        raise BackendMissingDataError(
            "licensePoolId or productId required (windowsSoftwareId is not supported)"
        )
    computer_id = _on_client.computer(ctx, client)
    try:
        got = ctx.services.licenses.acquire(ctx.actor, computer_id, pool)
    except LicenseExhausted as exc:
        raise LicenseMissingError(f"No license available for client '{client}' in pool '{pool}'") from exc
    return {
        "softwareLicenseId": got.license_key,
        "licensePoolId": got.pool_key,
        "clientId": client,
        "licenseKey": got.license_value,
        "notes": got.notes,
        "type": "LicenseOnClient",
        "ident": f"{got.license_key};{got.pool_key};{client}",
    }


crud.declare("licenseContract_create", _creator(CONTRACTS, "LicenseContract"))
crud.declare("licensePool_create", _creator(POOLS, "LicensePool"))
crud.declare("softwareLicenseToLicensePool_create", _creator(POOL_MEMBERS, "SoftwareLicenseToLicensePool"))
crud.declare("licenseOnClient_create", _creator(ON_CLIENT, "LicenseOnClient"))
for _kind, _name in (
    ("RetailSoftwareLicense", "softwareLicense_createRetail"),
    ("OEMSoftwareLicense", "softwareLicense_createOEM"),
    ("VolumeSoftwareLicense", "softwareLicense_createVolume"),
    ("ConcurrentSoftwareLicense", "softwareLicense_createConcurrent"),
):
    crud.declare(_name, _creator(LICENSES, _kind))
crud.declare("licenseOnClient_getOrCreateObject", get_or_create)
