"""Packages, families, package groups and installation records as OCO rows."""

from __future__ import annotations

import base64

from fleetdeck.api.dialects.oco.render import Row, UserIds, created_by, flag, num, ts
from fleetdeck.core.packages.entities import FamilyInfo, InstallationInfo, PackageInfo


def family(f: FamilyInfo, *, show_icons: bool = False) -> Row:
    """A ``package_family.list`` row: the seed's fields and current OCO's aggregates. The icon
    is base64 with ``show_icons`` and null without (OCO cannot send the raw bytes either)."""
    return {
        "id": f.id,
        "name": f.name,
        "notes": f.notes,
        "license_count": f.license_count,
        "icon": _icon(f.icon) if show_icons else None,
        "package_count": f.package_count,
        "install_count": f.install_count,
        "newest_package_created": ts(f.newest_package_created),
        "oldest_package_created": ts(f.oldest_package_created),
    }


def _icon(icon: bytes | None) -> str | None:
    return base64.b64encode(icon).decode("ascii") if icon else None


def package(p: PackageInfo, user_id: UserIds, sequence: int | None = None, icon: bytes | None = None) -> Row:
    """A ``package.list`` row and ``package.get``'s ``general``: one key set, the union of the
    seed's two shapes and current OCO's whole ``Package`` object (issue #14). ``sequence`` is
    the position in the listed package group; ``icon`` the family's, when asked for."""
    creator_id, creator = created_by(p.created_by, user_id)
    return {
        "id": p.id,
        "package_family_id": p.family_id,
        "package_family_name": p.family_name,
        "version": p.version,
        "notes": p.description,
        "author": None,
        "install_procedure": p.install_procedure,
        "install_procedure_success_return_codes": p.install_success_codes,
        "install_procedure_post_action": p.install_post_action,
        "upgrade_behavior": p.upgrade_behavior,
        "uninstall_procedure": p.uninstall_procedure,
        "uninstall_procedure_success_return_codes": p.uninstall_success_codes,
        "download_for_uninstall": flag(p.download_for_uninstall),
        "uninstall_procedure_post_action": p.uninstall_post_action,
        "compatible_os": p.compatible_os,
        "compatible_os_version": p.compatible_os_version,
        "compatible_architecture": p.compatible_architecture,
        "license_count": p.license_count if p.license_count is not None and p.license_count >= 0 else None,
        "line_endings": p.line_endings or None,
        "install_count": p.install_count,
        "created": ts(p.created_at),
        "created_by_system_user_id": creator_id,
        "created_by_system_user_username": creator,
        "last_update": ts(p.updated_at),
        "last_update_by_system_user_id": None,
        "updated": ts(p.updated_at),
        "package_group_member_sequence": num(sequence),
        "package_family_icon": _icon(icon),
        "self_service_enabled": 0,
    }


def _installed_by() -> Row:
    """Current OCO records who installed (the user whose deployment it was); fleetdeck's
    installation records do not keep that yet."""
    return {
        "installed_by_system_user_id": None,
        "installed_by_domain_user_id": None,
        "installed_by_system_user_username": None,
        "installed_by_domain_user_username": None,
    }


def installation_of_package(i: InstallationInfo) -> Row:
    """A row of ``package.get``'s ``installations``."""
    return {
        "id": num(i.id),
        "computer_id": num(i.computer_id),
        "installed_procedure": i.procedure,
        **_installed_by(),
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
        **_installed_by(),
        "installed": ts(i.installed_at),
        "package_family_name": i.family_name,
        "package_version": i.version,
        "package_family_id": num(i.family_id),
    }
