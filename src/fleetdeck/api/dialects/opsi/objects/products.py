"""opsi products over fleetdeck packages.

- ``LocalbootProduct`` = a package: ``id`` is the package family's key, ``productVersion`` the
  package version, ``packageVersion`` its package version; ``setupScript``/``uninstallScript``
  are the install/uninstall procedures (``update``/``always``/``once``/``custom`` scripts are not
  stored). ``NetbootProduct`` is not supported.
- ``ProductOnDepot``: the server is the only depot and offers every package.
- ``ProductOnClient``: core's stored package state of a family on a computer (one row per
  product and client, written by job outcomes and by admins through any dialect). Its
  attributes are stored as given; setting ``actionRequest`` to setup/update/always/once
  deploys the family's newest package through the deployment engine (a real job the agent
  runs), ``uninstall`` of an installed product uninstalls it, ``none`` withdraws a job that
  has not reached the agent and keeps the row; ``uninstall`` of a product that is not
  installed and ``custom`` are stored and create no job.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

import msgspec

from fleetdeck.api.dialects.opsi.errors import (
    BackendBadValueError,
    BackendMissingDataError,
    BackendPermissionDeniedError,
    BackendReferentialIntegrityError,
    NotSupportedError,
    OpsiValueError,
)
from fleetdeck.api.dialects.opsi.objects.filters import plain_values, sql_conditions, type_matches
from fleetdeck.api.dialects.opsi.objects.hosts import HostAdapter, force_host_id, server_host_id
from fleetdeck.api.dialects.opsi.registry import Context
from fleetdeck.core.authz import Perm
from fleetdeck.core.computers.entities import ComputerSummary
from fleetdeck.core.deployments.entities import PackageAction
from fleetdeck.core.errors import NotFound, Reason, ValidationFailed
from fleetdeck.core.jobs.entities import JobStatus
from fleetdeck.core.packages.entities import PackageFields, PackageInfo
from fleetdeck.core.packages.states import ListedState
from fleetdeck.core.query import Query

Row = dict[str, Any]
LOCALBOOT = "LocalbootProduct"
ON_CLIENT_TYPE = "ProductOnClient"
T = TypeVar("T")
PRODUCT_ID_RE = re.compile(r"^[a-z0-9-_\.]{1,128}$")
VERSION_RE = re.compile(r"^[a-zA-Z0-9.]{1,32}$")
ACTIONS = {"setup", "uninstall", "update", "always", "once", "custom", "none"}
INSTALL_ACTIONS = {"setup", "update", "always", "once"}
PENDING = {JobStatus.QUEUED, JobStatus.SENT}
FINISHED_OK = {JobStatus.SUCCEEDED}

PRODUCT_ATTRS = (
    "id",
    "productVersion",
    "packageVersion",
    "name",
    "licenseRequired",
    "setupScript",
    "uninstallScript",
    "updateScript",
    "alwaysScript",
    "onceScript",
    "customScript",
    "userLoginScript",
    "priority",
    "description",
    "advice",
    "changelog",
    "productClassIds",
    "windowsSoftwareIds",
)
POC_ATTRS = (
    "productId",
    "productType",
    "clientId",
    "targetConfiguration",
    "installationStatus",
    "actionRequest",
    "lastAction",
    "actionProgress",
    "actionResult",
    "productVersion",
    "packageVersion",
    "modificationTime",
    "actionSequence",
)


def force_product_id(value: Any) -> str:
    text = str(value or "").strip().lower()
    if not PRODUCT_ID_RE.match(text):
        raise OpsiValueError(f"Bad product id: '{value}'")
    return text


def force_version(value: Any, what: str) -> str:
    text = str(value if value is not None else "").strip()
    if not VERSION_RE.match(text):
        raise OpsiValueError(f"Bad {what}: '{value}'")
    return text


# opsi attribute -> core package field, filtered in SQL (issue #10 §2). The other attributes
# are constants here ("updateScript": "", "productClassIds": []) or opsi's numeric/boolean rules
# (``priority`` compares as a number, ``licenseRequired`` is computed): ``matches`` applies those
# to the rows the database returned.
PRODUCT_SQL = {
    "id": "family_key",
    "productVersion": "version",
    "packageVersion": "package_version",
    "name": "family_name",
    "setupScript": "install_procedure",
    "uninstallScript": "uninstall_procedure",
    "description": "description",
}
PRODUCT_ON_DEPOT_SQL = {
    "productId": "family_key",
    "productVersion": "version",
    "packageVersion": "package_version",
}


def packages(
    ctx: Context, flt: Mapping[str, Any] | None = None, columns: Mapping[str, str] | None = None
) -> list[PackageInfo]:
    """Every package, or with ``flt`` only those the filter's stored attributes (``columns``:
    opsi attribute -> core field) keep, chosen by the database; in id order either way."""
    where = sql_conditions(flt, columns) if flt and columns else ()
    return list(ctx.services.packages.find(ctx.actor, Query(where=where, limit=None)).items)


def newest(pkgs: list[PackageInfo], family_key: str) -> PackageInfo | None:
    mine = [p for p in pkgs if p.family_key == family_key]
    return max(mine, key=lambda p: (p.created_at, p.id)) if mine else None


class ProductAdapter:
    ident: tuple[str, ...] = ("id", "productVersion", "packageVersion")
    attributes: tuple[str, ...] = PRODUCT_ATTRS
    family: Mapping[str, tuple[str, ...]] = {
        LOCALBOOT: (LOCALBOOT, "Product"),
        "NetbootProduct": ("NetbootProduct", "Product"),
    }

    def fetch(self, ctx: Context, flt: Mapping[str, Any]) -> list[Row]:
        if not type_matches(LOCALBOOT, flt.get("type"), self.family):
            return []  # every product is a LocalbootProduct: nothing to read
        return [
            {
                "id": p.family_key,
                "productVersion": p.version,
                "packageVersion": p.package_version,
                "name": p.family_name,
                "licenseRequired": p.license_count is not None,
                "setupScript": p.install_procedure,
                "uninstallScript": p.uninstall_procedure,
                "updateScript": "",
                "alwaysScript": "",
                "onceScript": "",
                "customScript": "",
                "userLoginScript": "",
                "priority": p.priority,
                "description": p.description,
                "advice": "",
                "changelog": "",
                "productClassIds": None,  # opsi's defaults: null, not []
                "windowsSoftwareIds": None,
                "type": LOCALBOOT,
            }
            for p in packages(ctx, flt, PRODUCT_SQL)
        ]

    def coerce(self, obj: Mapping[str, Any], partial: bool) -> Row:
        kind = obj.get("type") or LOCALBOOT
        if kind == "NetbootProduct":
            raise NotSupportedError("NetbootProduct objects are not supported by fleetdeck")
        if kind != LOCALBOOT:
            raise OpsiValueError(f"Invalid product type '{kind}'")
        out: Row = {
            "type": kind,
            "id": force_product_id(obj.get("id")),
            "productVersion": force_version(obj.get("productVersion"), "product version"),
            "packageVersion": force_version(obj.get("packageVersion"), "package version"),
        }
        for key in ("name", "setupScript", "uninstallScript", "description"):
            if obj.get(key) is not None:
                out[key] = str(obj[key])
        if obj.get("priority") is not None:
            try:
                priority = int(obj["priority"])
            except (TypeError, ValueError):
                raise OpsiValueError(f"Bad priority: '{obj['priority']}'") from None
            if not -100 <= priority <= 100:
                raise OpsiValueError(f"Bad priority: {priority} (-100 to 100)")
            out["priority"] = priority
        return out

    def _find(self, ctx: Context, obj: Row) -> PackageInfo | None:
        for p in packages(ctx):
            if (p.family_key, p.version, p.package_version) == (
                obj["id"],
                obj["productVersion"],
                obj["packageVersion"],
            ):
                return p
        return None

    def _fields(self, obj: Row, full: bool) -> PackageFields:
        def pick(key: str) -> str | None:
            return obj.get(key, "" if full else None)

        priority = obj.get("priority", 0 if full else None)
        return PackageFields(
            description=pick("description"),
            install_procedure=pick("setupScript"),
            uninstall_procedure=pick("uninstallScript"),
            priority=None if priority is None else int(priority),
        )

    def insert(self, ctx: Context, obj: Row) -> None:
        """Create the product, or replace the fields of the version that exists (one core call:
        core decides which, in the transaction that writes)."""
        self._put(ctx, obj, self._fields(obj, full=True), create=True)

    def update(self, ctx: Context, obj: Row, create: bool) -> None:
        self._put(ctx, obj, self._fields(obj, full=False), create=create)

    def _put(self, ctx: Context, obj: Row, fields: PackageFields, create: bool) -> None:
        """No setupScript is fine (opsi's meta and uninstall-only products): installing such a
        product runs nothing, its dependencies do the work."""
        ctx.services.packages.put_version(
            ctx.actor,
            obj["id"],
            obj["productVersion"],
            obj["packageVersion"],
            fields,
            new_fields=self._fields(obj, full=True) if create else None,
            name=obj.get("name") or None,
        )

    def delete(self, ctx: Context, idents: list[Row]) -> int:
        done = 0
        for ident in idents:
            found = self._find(ctx, {k: str(v) for k, v in ident.items()})
            if found is not None:
                ctx.services.packages.delete(ctx.actor, found.id)
                done += 1
        return done


class ProductOnDepotAdapter:
    ident: tuple[str, ...] = ("productId", "productType", "productVersion", "packageVersion", "depotId")
    attributes: tuple[str, ...] = (*ident, "locked")
    family: Mapping[str, tuple[str, ...]] = {"ProductOnDepot": ("ProductOnDepot",)}

    def fetch(self, ctx: Context, flt: Mapping[str, Any]) -> list[Row]:
        depot = server_host_id(ctx)
        return [
            {
                "productId": p.family_key,
                "productType": LOCALBOOT,
                "productVersion": p.version,
                "packageVersion": p.package_version,
                "depotId": depot,
                "locked": False,
                "type": "ProductOnDepot",
            }
            for p in packages(ctx, flt, PRODUCT_ON_DEPOT_SQL)
        ]

    def coerce(self, obj: Mapping[str, Any], partial: bool) -> Row:
        out: Row = {"type": "ProductOnDepot"}
        for key in ("productId", "productVersion", "packageVersion", "depotId"):
            if not obj.get(key):
                raise OpsiValueError(f"Ident attribute '{key}' must not be null")
            out[key] = str(obj[key]).strip().lower() if key in ("productId", "depotId") else str(obj[key])
        out["productType"] = obj.get("productType") or LOCALBOOT
        if out["productType"] != LOCALBOOT:
            raise BackendBadValueError(
                f"Invalid product type '{out['productType']}': fleetdeck has localboot products only"
            )
        if obj.get("locked") is not None:
            out["locked"] = obj["locked"]
        return out

    def _offered(self, ctx: Context, obj: Row) -> PackageInfo:
        """The package a productOnDepot names, on the server's depot; opsi's errors otherwise.
        Nothing is written, so core's check of the permission is asked for explicitly: a
        read-only caller must not be told that a write succeeded."""
        ctx.actor.require(Perm.MANAGE_PACKAGES)
        if obj["depotId"] != server_host_id(ctx):
            raise BackendReferentialIntegrityError(
                f"Depot '{obj['depotId']}' does not exist: fleetdeck's only depot is '{server_host_id(ctx)}'"
            )
        if obj.get("locked") not in (None, False, "false", 0):
            raise BackendBadValueError("fleetdeck does not lock products on its depot (locked must be false)")
        flt = {k: obj[k] for k in ("productId", "productVersion", "packageVersion")}
        found = packages(ctx, flt, PRODUCT_ON_DEPOT_SQL)
        if not found:
            raise BackendReferentialIntegrityError(
                f"Product '{obj['productId']}' version '{obj['productVersion']}-{obj['packageVersion']}'"
                " does not exist: create the product first"
            )
        return found[0]

    def insert(self, ctx: Context, obj: Row) -> None:
        """The server's depot offers every product that exists: putting one there is a check."""
        self._offered(ctx, obj)

    def update(self, ctx: Context, obj: Row, create: bool) -> None:
        self._offered(ctx, obj)

    def delete(self, ctx: Context, idents: list[Row]) -> int:
        """The server is the only depot: a product version it no longer offers is gone, so
        this deletes that product version (opsi-package-manager -r does the same on the last
        depot)."""
        done = 0
        for ident in idents:
            row = {**ident, "depotId": str(ident.get("depotId") or "").lower()}
            if row["depotId"] != server_host_id(ctx):
                continue
            found = packages(
                ctx,
                {k: str(ident[k]) for k in ("productId", "productVersion", "packageVersion")},
                PRODUCT_ON_DEPOT_SQL,
            )
            for p in found:
                ctx.services.packages.delete(ctx.actor, p.id)
                done += 1
        return done


class ProductOnClientObject(msgspec.Struct, gc=False, rename="camel"):
    """One productOnClient as ``productOnClient_getObjects()`` answers it: msgspec encodes a
    struct as a map of its fields in this order (named in camel case: ``product_id`` is
    ``productId``), so exactly as the dict ``fetch`` makes plus ``Crud``'s ident
    (``tests/dialects/opsi/test_poc_whole_list.py`` pins that). Not tracked by the garbage
    collector (it holds only strings and numbers)."""

    product_id: str
    product_type: str
    client_id: str
    target_configuration: str | None
    installation_status: str | None
    action_request: str | None
    last_action: str | None
    action_progress: str | None
    action_result: str | None
    product_version: str | None
    package_version: str | None
    modification_time: str | None
    action_sequence: int
    type: str
    ident: str


def _dicts(names: dict[int, str], keys: dict[int, str], states: Iterator[ListedState]) -> list[Row]:
    """The states as dicts (``ProductOnClientAdapter.fetch``): the tuples unpacked as they come
    (``states.ListedState``), one dict display per row, the cheapest way to build dicts."""
    rows: list[Row] = []
    append = rows.append
    for cid, fid, status, request, last, result, progress, target, ver, pver, stamp in states:
        client = names.get(cid)
        if client is None:
            continue
        append(
            {
                "productId": keys[fid],
                "productType": LOCALBOOT,
                "clientId": client,
                "targetConfiguration": target,
                "installationStatus": status,
                "actionRequest": request,
                "lastAction": last,
                "actionProgress": progress,
                "actionResult": result,
                "productVersion": ver,
                "packageVersion": pver,
                "modificationTime": stamp,
                "actionSequence": -1,
                "type": ON_CLIENT_TYPE,
            }
        )
    return rows


def _structs(
    names: dict[int, str], keys: dict[int, str], states: Iterator[ListedState]
) -> list[ProductOnClientObject]:
    """The states as ``ProductOnClientObject`` (``ProductOnClientAdapter.whole_list``), with
    their ident."""
    out: list[ProductOnClientObject] = []
    append = out.append
    make = ProductOnClientObject
    for cid, fid, status, request, last, result, progress, target, ver, pver, stamp in states:
        client = names.get(cid)
        if client is None:
            continue
        family = keys[fid]
        append(
            make(
                family,
                LOCALBOOT,
                client,
                target,
                status,
                request,
                last,
                progress,
                result,
                ver,
                pver,
                stamp,
                -1,
                ON_CLIENT_TYPE,
                f"{family};{LOCALBOOT};{client}",
            )
        )
    return out


class ProductOnClientAdapter:
    ident: tuple[str, ...] = ("productId", "productType", "clientId")
    fresh_rows = True  # fetch builds new dicts every call (see ``Crud.get_objects``)

    @staticmethod
    def ident_of(row: Row) -> str:
        """``ident_string`` of a row (none of the three is ever null), at a third of its cost."""
        return f"{row['productId']};{row['productType']};{row['clientId']}"

    attributes: tuple[str, ...] = POC_ATTRS
    family: Mapping[str, tuple[str, ...]] = {"ProductOnClient": ("ProductOnClient",)}

    def __init__(self, hosts: HostAdapter) -> None:
        self.hosts = hosts

    def _states(
        self,
        ctx: Context,
        flt: Mapping[str, Any],
        make: Callable[[dict[int, str], dict[int, str], Iterator[ListedState]], list[T]],
    ) -> list[T]:
        """``make(host ids by computer id, family keys by id, states)`` over the stored states
        (core's package states, read in two queries and handed over as the driver makes them);
        a filter naming clients or products exactly narrows them in SQL."""
        wanted = plain_values(flt.get("clientId"))
        if ctx.is_client and wanted is None:
            wanted = [str(ctx.host_id)]  # a client sees its own states only
        _, computers = self.hosts.computers(ctx, wanted)
        names = {c.id: hid for hid, c in computers.items()}
        if ctx.is_client:
            names = {cid: hid for cid, hid in names.items() if hid == ctx.host_id}
        only = None if wanted is None else list(names)
        return ctx.services.deployments.package_states(
            ctx.actor, only, plain_values(flt.get("productId")), lambda keys, rows: make(names, keys, rows)
        )

    def fetch(self, ctx: Context, flt: Mapping[str, Any]) -> list[Row]:
        """The states as opsi's objects (without their ident, which ``Crud`` adds)."""
        return self._states(ctx, flt, _dicts)

    def whole_list(self, ctx: Context) -> list[ProductOnClientObject]:
        """Every state the caller may see, as ``productOnClient_getObjects()`` answers it
        without attributes or filter: half a million objects for 10,000 clients x 50 products
        (issue #13), so not dicts but ``ProductOnClientObject`` structs, which cost about half
        as much to make and to encode, and encode to the same bytes as the dicts would."""
        return self._states(ctx, {}, _structs)

    def coerce(self, obj: Mapping[str, Any], partial: bool) -> Row:
        """opsi's checks of a productOnClient. A whole object (insert/create) gets opsi's
        defaults for what it leaves out; a partial one (update) changes only what it names."""
        out: Row = {
            "type": "ProductOnClient",
            "productId": force_product_id(obj.get("productId")),
            "productType": obj.get("productType") or LOCALBOOT,
            "clientId": force_host_id(obj.get("clientId")),
        }
        if out["productType"] != LOCALBOOT:
            raise NotSupportedError("only LocalbootProduct states are supported by fleetdeck")
        for attr, (choices, what) in POC_CHOICES.items():
            value = obj.get(attr)
            if value == "undefined" and attr == "actionRequest":
                value = None
            if value is not None and value not in choices:
                raise OpsiValueError(f"Bad {what}: '{value}'")
            if value is not None or not partial:
                out[attr] = value if value is not None else POC_DEFAULTS.get(attr)
        progress = obj.get("actionProgress")
        if progress is not None or not partial:
            out["actionProgress"] = "" if progress is None else str(progress)[:250]
        for attr, what in (("productVersion", "product version"), ("packageVersion", "package version")):
            if obj.get(attr) is not None:
                out[attr] = force_version(obj[attr], what)
            elif not partial:
                out[attr] = None
        return out

    def insert(self, ctx: Context, obj: Row) -> None:
        self.update(ctx, obj, create=True)

    def update(self, ctx: Context, obj: Row, create: bool) -> None:
        """Stores the state's attributes the object names (one core call); a requested
        setup/update/always/once/uninstall becomes a job for the agent in the same call."""
        if ctx.is_client and obj["clientId"] != ctx.host_id:
            raise BackendPermissionDeniedError(f"Access to client '{obj['clientId']}' denied")
        changes = {core: obj[attr] for attr, core in POC_CORE.items() if attr in obj}
        if not changes:
            return
        computer = self._computer(ctx, obj["clientId"])
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
        action = obj.get("actionRequest") or "state"
        name = f"opsi {action} {obj['productId']} on {obj['clientId']} ({stamp})"
        with _opsi_errors(obj["clientId"]):
            ctx.services.deployments.set_package_state(
                ctx.actor, computer.id, obj["productId"], changes, name=name
            )

    def _computer(self, ctx: Context, client_id: str) -> ComputerSummary:
        _, computers = self.hosts.computers(ctx)
        computer = computers.get(client_id)
        if computer is None:
            raise BackendMissingDataError(f"Client '{client_id}' not found")
        return computer

    def apply_sequence(self, ctx: Context, client_id: str, actions: list[tuple[str, str]]) -> None:
        """Carry out ``(productId, action)`` in this order on one client, in one core call:
        consecutive installs go into one deployment (its jobs run in that order, after every
        earlier deployment's); an uninstall or a withdrawal is its own step, so the order holds
        across them."""
        if ctx.is_client and client_id != ctx.host_id:
            raise BackendPermissionDeniedError(f"Access to client '{client_id}' denied")
        computer = self._computer(ctx, client_id)
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
        with _opsi_errors(client_id):
            ctx.services.deployments.apply_package_actions(
                ctx.actor,
                computer.id,
                [(product, CORE_ACTION[action]) for product, action in actions],
                name=f"opsi actions on {client_id} ({stamp})",
            )

    def delete(self, ctx: Context, idents: list[Row]) -> int:
        """Forgets the state: withdraws pending jobs and the installation record (nothing runs)."""
        done = 0
        _, computers = self.hosts.computers(ctx)
        for ident in idents:
            computer = computers.get(str(ident["clientId"]).lower())
            if computer is None:
                continue
            product = str(ident["productId"]).lower()
            with contextlib.suppress(NotFound):  # a product no longer offered has nothing left
                ctx.services.deployments.request_package_action(
                    ctx.actor, computer.id, product, PackageAction.FORGET, name=f"opsi forget {product}"
                )
            done += 1
        return done


POC_CHOICES: Mapping[str, tuple[frozenset[str], str]] = {
    "installationStatus": (frozenset({"installed", "not_installed", "unknown"}), "installation status"),
    "actionRequest": (frozenset(ACTIONS), "action request"),
    "lastAction": (frozenset(ACTIONS), "last action"),
    "actionResult": (frozenset({"none", "failed", "successful"}), "action result"),
    "targetConfiguration": (
        frozenset({"installed", "always", "forbidden", "undefined"}),
        "target configuration",
    ),
}
# opsi's defaults of a whole productOnClient (setDefaults; actionResult as opsiconfd answers)
POC_DEFAULTS = {"installationStatus": "not_installed", "actionRequest": "none", "actionResult": "none"}
# opsi attribute -> core package state field
POC_CORE = {
    "installationStatus": "installation_status",
    "actionRequest": "action_request",
    "lastAction": "last_action",
    "actionResult": "action_result",
    "actionProgress": "action_progress",
    "targetConfiguration": "target_configuration",
    "productVersion": "version",
    "packageVersion": "package_version",
}

CORE_ACTION = {
    **dict.fromkeys(INSTALL_ACTIONS, PackageAction.INSTALL),
    "uninstall": PackageAction.UNINSTALL,
    "none": PackageAction.WITHDRAW,
    "custom": PackageAction.WITHDRAW,  # fleetdeck runs no custom scripts: nothing to request
}  # for productOnClient_generateSequence/updateObjectsWithDependencies (apply_sequence)


@contextlib.contextmanager
def _opsi_errors(client_id: str) -> Iterator[None]:
    """Core's refusals of a package request in opsi's words."""
    try:
        yield
    except NotFound as exc:
        if exc.object_type != "package family":
            raise
        raise BackendMissingDataError(f"Product '{exc.object_id}' not found on depot") from exc
    except ValidationFailed as exc:
        if exc.detail.get("reason") != Reason.NOT_INSTALLED:
            raise
        product = exc.detail.get("family_key")
        raise BackendBadValueError(f"Product '{product}' is not installed on '{client_id}'") from exc
