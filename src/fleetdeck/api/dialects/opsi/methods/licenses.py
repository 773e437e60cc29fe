"""opsi's license management methods over core licenses (see ``objects/licenses.py``)."""

from __future__ import annotations

from typing import Any

from fleetdeck.api.dialects.opsi.errors import (
    BackendPermissionDeniedError,
    LicenseConfigurationError,
    LicenseMissingError,
    OpsiValueError,
)
from fleetdeck.api.dialects.opsi.methods.audit import SOFTWARE
from fleetdeck.api.dialects.opsi.objects import crud
from fleetdeck.api.dialects.opsi.objects.hosts import HostAdapter, force_host_id
from fleetdeck.api.dialects.opsi.objects.licenses import (
    ContractAdapter,
    LicenseOnClientAdapter,
    PoolAdapter,
    PoolMemberAdapter,
    PoolSoftwareAdapter,
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
POOL_SOFTWARE = crud.register("auditSoftwareToLicensePool", PoolSoftwareAdapter())


def _creator(registry: crud.Crud, kind: str) -> Any:
    def create(ctx: Context, **attrs: Any) -> None:
        registry.insert(ctx, {**attrs, "type": kind})

    return create


def pool_for(ctx: Context, licensePoolId: Any, productId: Any, windowsSoftwareId: Any) -> str:
    """opsi's pool lookup: the named pool, else the one pool whose productIds has the product,
    else the pool that AuditSoftwareToLicensePool gives for software with that windowsSoftwareId
    (fleetdeck's agent reports none on Linux, so that lookup finds nothing there)."""
    pools = {p.key: p for p in ctx.services.licenses.pools(ctx.actor)}
    if licensePoolId:
        pool = str(licensePoolId).lower()
        if pool not in pools:
            raise LicenseConfigurationError(f"License pool '{pool}' not found")
        return pool
    found: list[str] = []
    if productId:
        found = [k for k, p in pools.items() if str(productId).lower() in p.product_keys]
    elif windowsSoftwareId:
        relations = ctx.services.licenses.pool_software(ctx.actor)
        for sw in SOFTWARE.get_objects(ctx, None, windowsSoftwareId=str(windowsSoftwareId)):
            match = [
                r.pool_key
                for r in relations
                if (r.name, r.version, r.sub_version, r.language, r.architecture)
                == tuple(
                    str(sw[a] or "") for a in ("name", "version", "subVersion", "language", "architecture")
                )
            ]
            if match:
                found.append(match[0])
    if not found:
        raise LicenseConfigurationError(
            f"No license pool for product id '{productId}', windowsSoftwareId '{windowsSoftwareId}' found"
        )
    if len(set(found)) > 1:
        raise LicenseConfigurationError(
            f"Multiple license pools for product id '{productId}', windowsSoftwareId"
            f" '{windowsSoftwareId}' found: {sorted(set(found))}"
        )
    return found[0]


def delete_usage(
    ctx: Context,
    hostId: Any,
    softwareLicenseId: Any = None,
    licensePoolId: Any = "",
    productId: Any = "",
    windowsSoftwareId: Any = "",
) -> None:
    """Free the host's licenses: of the pool (named, or found as for getOrCreate), or the one
    license named; with neither, every license the host uses (opsi's ExtLegacy method)."""
    host = force_host_id(hostId)
    pool = None
    if licensePoolId or productId or windowsSoftwareId:
        pool = pool_for(ctx, licensePoolId, productId, windowsSoftwareId)
    ON_CLIENT.delete(ctx, softwareLicenseId=softwareLicenseId or None, licensePoolId=pool, clientId=host)


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
    if not (licensePoolId or productId or windowsSoftwareId):
        raise OpsiValueError("You have to specify one of: licensePoolId, productId, windowsSoftwareId")
    pool = pool_for(ctx, licensePoolId, productId, windowsSoftwareId)
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
crud.declare("deleteSoftwareLicenseUsage", delete_usage)
crud.declare("auditSoftwareToLicensePool_create", _creator(POOL_SOFTWARE, "AuditSoftwareToLicensePool"))
