"""``oco.package_family.*`` and ``oco.package.*``: packages, families and package groups
(fleetdeck groups of kind "package", with ordered members)."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from fleetdeck.api.dialects.oco import render_jobs, render_packages
from fleetdeck.api.dialects.oco.errors import OcoError
from fleetdeck.api.dialects.oco.methods.jobs import containers_of
from fleetdeck.api.dialects.oco.registry import METHODS, Context
from fleetdeck.api.dialects.oco.render import created_id, package_group
from fleetdeck.api.dialects.oco.schemas import Flag, OptId, OptInt, OptText, PackageFile, Text
from fleetdeck.core.errors import NotFound
from fleetdeck.core.packages.entities import PackageFields, PayloadFile
from fleetdeck.core.packages.validation import required


def decode_files(files: tuple[PackageFile, ...] | None) -> list[PayloadFile]:
    """Entries without name or content are skipped; content must be strict base64."""
    out = []
    for f in files or ():
        if not f.name or not f.content:
            continue
        try:
            content = base64.b64decode(f.content, validate=True)
        except (binascii.Error, ValueError):
            raise OcoError.reason("payload_corrupt") from None
        out.append(PayloadFile(name=f.name, content=content))
    return out


@METHODS.method("oco.package_family.list")
def package_family_list(ctx: Context, show_icons: Flag = False) -> list[Any]:
    """All package families (icons as base64 with ``show_icons``)."""
    families = ctx.services.packages.list_families(ctx.actor, show_icons=show_icons)
    return [render_packages.family(f, show_icons=show_icons) for f in families]


@METHODS.method("oco.package.list")
def package_list(
    ctx: Context, package_family_id: OptId = None, package_group_id: OptId = None
) -> dict[str, Any]:
    """The packages of a package group (group order) or of a family; the group wins."""
    listing = ctx.services.packages.list_packages(
        ctx.actor, family_id=package_family_id, group_id=package_group_id
    )
    in_group = package_group_id is not None
    return {
        "name": listing.name,
        "packages": [
            render_packages.package(p, ctx.user_id, n if in_group else None)
            for n, p in enumerate(listing.packages, 1)
        ],
        "groups": [package_group(g) for g in listing.groups],
    }


@METHODS.method("oco.package.get")
def package_get(ctx: Context, id: OptId = None, show_icons: Flag = False) -> dict[str, Any]:
    """A package with its groups, installations and pending jobs."""
    if not id:
        raise NotFound("package", id)
    detail = ctx.services.packages.get(ctx.actor, id)
    icon = ctx.services.packages.get_family(ctx.actor, detail.package.family_id).icon if show_icons else None
    jobs = [ctx.services.deployments.get_job(ctx.actor, j.id) for j in detail.pending_jobs]
    containers = containers_of(ctx, jobs)
    return {
        "general": render_packages.package(detail.package, ctx.user_id, icon=icon),
        "groups": [package_group(g) for g in detail.groups],
        "installations": [render_packages.installation_of_package(i) for i in detail.installations],
        "pending_jobs": [render_jobs.static_job(j, containers[j.container_id], ctx.user_id) for j in jobs],
    }


@METHODS.method("oco.package.add_to_group")
def package_add_to_group(ctx: Context, package_id: OptId = None, package_group_id: OptId = None) -> list[Any]:
    """Append a package to a package group (no-op when it is a member already)."""
    if not package_group_id:
        raise NotFound("package group", package_group_id)
    if not package_id:
        raise NotFound("package", package_id)
    ctx.services.packages.add_to_group(ctx.actor, package_group_id, package_id)
    return []


@METHODS.method("oco.package.remove_from_group")
def package_remove_from_group(
    ctx: Context, package_id: OptId = None, package_group_id: OptId = None
) -> list[Any]:
    """Remove a package from a package group (the others are renumbered)."""
    if not package_group_id:
        raise NotFound("package group", package_group_id)
    if not package_id:
        raise NotFound("package", package_id)
    ctx.services.packages.get(ctx.actor, package_id)  # OCO: both must exist
    ctx.services.packages.remove_from_group(ctx.actor, package_group_id, package_id)
    return []


@METHODS.method("oco.package.create")
def package_create(
    ctx: Context,
    package_family_name: Text = "",
    version: Text = "",
    license_count: OptInt = None,
    description: Text = "",
    install_procedure: Text = "",
    install_procedure_success_return_codes: Text = "0",
    install_procedure_post_action: int = 0,
    upgrade_behavior: int = 0,
    uninstall_procedure: Text = "",
    uninstall_procedure_success_return_codes: Text = "0",
    download_for_uninstall: Flag = False,
    uninstall_procedure_post_action: int = 0,
    line_endings: OptText = None,
    compatible_os: Text = "",
    compatible_os_version: Text = "",
    compatible_architecture: Text = "",
    files: tuple[PackageFile, ...] | None = None,
) -> dict[str, Any]:
    """Create a package (and its family when no family has that name), with an optional payload.

    OCO's order of failures: a corrupt payload, the permission, the required fields (family
    name, version, install procedure), then a duplicate family + version."""
    payload = decode_files(files)
    fields = PackageFields(
        description=description,
        install_procedure=install_procedure,
        install_success_codes=install_procedure_success_return_codes,
        install_post_action=install_procedure_post_action,
        uninstall_procedure=uninstall_procedure,
        uninstall_success_codes=uninstall_procedure_success_return_codes,
        download_for_uninstall=download_for_uninstall,
        uninstall_post_action=uninstall_procedure_post_action,
        upgrade_behavior=upgrade_behavior,
        line_endings=line_endings or "",
        compatible_os=compatible_os,
        compatible_os_version=compatible_os_version,
        compatible_architecture=compatible_architecture,
        license_count=license_count if license_count is not None else -1,
    )
    created = ctx.services.packages.create(
        ctx.actor,
        package_family_name,
        version,
        fields,
        files=payload,
        precheck=lambda: required(package_family_name, version, install_procedure),
    )
    return {"id": created_id(created.id)}


@METHODS.method("oco.package.remove")
def package_remove(ctx: Context, id: OptId = None, force: Flag = True) -> list[Any]:
    """Delete a package and its payload (``force`` false: not while jobs or dependants exist).

    Without ``force``, pending jobs for the package or packages depending on it refuse it."""
    if not id:
        raise NotFound("package", id)
    ctx.services.packages.delete(ctx.actor, id, force=force)
    return []
