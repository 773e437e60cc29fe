"""opsi's ``depot_installPackage`` and ``workbench_installPackage``: a real ``.opsi`` package
file (or, for the workbench, a package source directory) imported as a fleetdeck package with its
properties, dependency rules and CLIENT_DATA payload (``api/kit/opsi_package.py`` reads it; one
core call, ``packages.import_package``, stores it).

The server's own directories stand for opsi's: ``<data_dir>/repository`` for
``/var/lib/opsi/repository`` and ``<data_dir>/workbench`` for ``/var/lib/opsi/workbench``. A file
name is looked up in that directory (opsi's absolute paths are mapped onto it); a path that
leaves it is refused.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from fleetdeck.api.dialects.opsi.errors import (
    BackendBadValueError,
    BackendIOError,
    BackendMissingDataError,
    BackendPermissionDeniedError,
)
from fleetdeck.api.dialects.opsi.objects.products import force_product_id
from fleetdeck.api.dialects.opsi.registry import METHODS, Context
from fleetdeck.api.kit.opsi_package import (
    OpsiPackageError,
    read_opsi_package,
    read_opsi_source_dir,
    spool_dir,
)
from fleetdeck.core.authz import Perm
from fleetdeck.core.errors import ValidationFailed
from fleetdeck.core.packages.entities import PackageImport

REPOSITORY, WORKBENCH = "repository", "workbench"


def _resolve(ctx: Context, given: Any, area: str) -> Path:
    """The file ``given`` names inside ``<data_dir>/<area>``, or an opsi error."""
    ctx.actor.require(Perm.MANAGE_PACKAGES)  # before anything about the file system is told
    data_dir = (ctx.extras or {}).get("data_dir")
    if data_dir is None:
        raise BackendMissingDataError(f"this server has no {area} directory")
    if not isinstance(given, str) or not given.strip():
        raise BackendBadValueError(f"Invalid package file: {given!r}")
    base = (Path(data_dir) / area).resolve()
    text = given.strip().replace("\\", "/")
    opsi_dir = f"/var/lib/opsi/{area}/"
    if text.startswith(opsi_dir):
        text = text[len(opsi_dir) :]
    elif text.startswith(str(base) + "/"):
        text = text[len(str(base)) + 1 :]
    parts = PurePosixPath(text).parts
    if text.startswith("/") or ".." in parts or not parts:
        raise BackendPermissionDeniedError(
            f"fleetdeck imports packages only from its {area} directory ({base}): {given!r} is outside it"
        )
    target = base.joinpath(*parts)
    if not target.resolve().is_relative_to(base):
        raise BackendPermissionDeniedError(f"{given!r} leads outside the {area} directory")
    if not target.exists():
        raise BackendIOError(f"Package file '{given}' not found in {base}")
    return target


def _import(ctx: Context, path: Path, defaults: Any, product_id: Any) -> None:
    if defaults is not None and not isinstance(defaults, dict):
        raise BackendBadValueError(f"propertyDefaultValues must be a dict, not {type(defaults).__name__}")
    forced = force_product_id(product_id) if product_id else None

    spool = spool_dir((ctx.extras or {}).get("data_dir"))

    def read() -> PackageImport:  # run by core after its permission check
        try:
            if path.is_dir():
                if forced:
                    raise BackendBadValueError("forceProductId applies to package files, not directories")
                return read_opsi_source_dir(path, property_defaults=defaults, spool_dir=spool)
            return read_opsi_package(
                path, property_defaults=defaults, force_product_id=forced, spool_dir=spool
            )
        except OpsiPackageError as exc:
            raise BackendBadValueError(f"Invalid opsi package '{path.name}': {exc}") from None

    try:
        ctx.services.packages.import_package(ctx.actor, read)
    except ValidationFailed as exc:
        raise BackendBadValueError(f"Package '{path.name}' cannot be installed: {exc}") from None


@METHODS.method("depot_installPackage")
def depot_install_package(
    ctx: Context,
    *,
    filename: str,
    force: bool = False,
    propertyDefaultValues: dict[str, Any] | None = None,
    tempDir: str | None = None,
    forceProductId: str | None = None,
    suppressPackageContentFileGeneration: bool = False,
) -> None:
    """Imports the ``.opsi`` file ``filename`` from the server's repository directory. A package
    with the same product id, product and package version is replaced (opsi re-installs it);
    ``force``, ``tempDir`` and ``suppressPackageContentFileGeneration`` change nothing here
    (fleetdeck locks no products and keeps no package content files). SERVER_DATA and
    preinst/postinst are kept with the package and never run (the audit record's ``not_run``
    names them; the answer stays opsi's ``null``)."""
    _import(ctx, _resolve(ctx, filename, REPOSITORY), propertyDefaultValues, forceProductId)


@METHODS.method("workbench_installPackage")
def workbench_install_package(ctx: Context, *, package_file_or_dir: str) -> None:
    """Imports a ``.opsi`` file or a package source directory from the server's workbench."""
    _import(ctx, _resolve(ctx, package_file_or_dir, WORKBENCH), None, None)
