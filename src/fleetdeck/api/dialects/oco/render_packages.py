"""Packages, families, package groups and installation records as OCO rows."""

from __future__ import annotations

import base64

from fleetdeck.api.dialects.oco.render import Row, UserIds, flag, num, ts
from fleetdeck.core.packages.entities import FamilyInfo, InstallationInfo, PackageInfo


def family(f: FamilyInfo, *, show_icons: bool = False) -> Row:
    row: Row = {"id": num(f.id), "name": f.name, "notes": f.notes}
    if show_icons and f.icon is not None:
        row["icon"] = base64.b64encode(f.icon).decode("ascii")
    return row


def _procedures(p: PackageInfo) -> Row:
    return {
        "install_procedure": p.install_procedure,
        "install_procedure_success_return_codes": p.install_success_codes,
        "install_procedure_post_action": num(p.install_post_action),
        "uninstall_procedure": p.uninstall_procedure,
        "uninstall_procedure_success_return_codes": p.uninstall_success_codes,
        "download_for_uninstall": flag(p.download_for_uninstall),
        "uninstall_procedure_post_action": num(p.uninstall_post_action),
    }


def package(p: PackageInfo, user_id: UserIds, sequence: int | None = None) -> Row:
    """A ``package.list`` row; ``sequence`` is the position in the listed package group."""
    return {
        "id": num(p.id),
        "package_family_id": num(p.family_id),
        "package_family_name": p.family_name,
        "version": p.version,
        "notes": p.description,
        **_procedures(p),
        "created": ts(p.created_at),
        "created_by_system_user_id": user_id(p.created_by),
        "last_update": ts(p.updated_at),
        "package_group_member_sequence": num(sequence),
    }


def package_general(p: PackageInfo, user_id: UserIds, icon: bytes | None = None) -> Row:
    """``package.get``'s ``general`` (OCO repeats ``package_family_id`` from the join)."""
    return {
        "id": num(p.id),
        "package_family_id": num(p.family_id),
        "version": p.version,
        "notes": p.description,
        **_procedures(p),
        "compatible_os": p.compatible_os,
        "compatible_os_version": p.compatible_os_version,
        "created": ts(p.created_at),
        "created_by_system_user_id": user_id(p.created_by),
        "last_update": ts(p.updated_at),
        "package_group_member_sequence": None,
        "package_family_name": p.family_name,
        "package_family_icon": base64.b64encode(icon).decode("ascii") if icon else None,
        "self_service_enabled": 0,
    }


def installation_of_package(i: InstallationInfo) -> Row:
    """A row of ``package.get``'s ``installations``."""
    return {
        "id": num(i.id),
        "computer_id": num(i.computer_id),
        "installed_procedure": i.procedure,
        "installed": ts(i.installed_at),
        "computer_hostname": i.hostname,
        "package_family_name": i.family_name,
        "package_version": i.version,
    }


def installation_on_computer(i: InstallationInfo) -> Row:
    """A row of ``computer.get``'s ``installed_packages``."""
    return {
        "id": num(i.id),
        "computer_id": num(i.computer_id),
        "package_id": num(i.package_id),
        "installed_procedure": i.procedure,
        "installed": ts(i.installed_at),
        "package_family_name": i.family_name,
        "package_version": i.version,
        "package_family_id": num(i.family_id),
    }
