"""Computer groups and package families are CMDB objects too (``core.cmdb.link`` inserts them;
the foreign key removes them with their group or family). A computer group is an object group
(``C__OBJECT_TYPE__GROUP``) whose ``C__CATS__GROUP`` entries are its member computers'
objects; a package family is an application (``C__OBJTYPE__APPLICATION``) whose
``C__CATG__VERSION`` entries are its packages. Both are read at request time from the rows
core owns, so they are read-only here: change the group or the package instead."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fleetdeck.core.cmdb.values import Entry, ObjectRef
from fleetdeck.storage.tables import PackageFamily

MEMBERS = "C__CATS__GROUP"
APPLICATION = "C__CATS__APPLICATION"
VERSION = "C__CATG__VERSION"
GROUP_CATEGORIES = frozenset({MEMBERS})
PACKAGE_CATEGORIES = frozenset({APPLICATION, VERSION})
NORMAL = 2


def render_group(object_id: int, members: Sequence[ObjectRef]) -> list[Entry]:
    """The entries of a group's members category: one per member computer (entry id = the
    member's object id, stable while it is a member)."""
    return [
        Entry(
            m.id or 0,
            object_id,
            MEMBERS,
            NORMAL,
            {"object": m, "object_type": m.type_title, "description": None},
            inventory=True,
        )
        for m in members
    ]


def render_family(category: str, object_id: int, f: PackageFamily, packages: Sequence[Any]) -> list[Entry]:
    """The entries of an application category: the application itself (one entry, id = the
    object's) or one version entry per package (entry id = the package's id)."""
    if category == APPLICATION:
        values: dict[str, Any] = {
            "specification": None,
            "manufacturer": None,
            "installation": None,
            "registration_key": None,
            "install_path": None,
            "installation_count": None,
            "description": f.notes or None,
        }
        return [Entry(object_id, object_id, APPLICATION, NORMAL, values, inventory=True)]
    return [
        Entry(
            p.id,
            object_id,
            VERSION,
            NORMAL,
            {
                "title": p.version,
                "servicepack": None,
                "kernel": None,
                "patchlevel": p.package_version,
                "description": p.description or None,
            },
            inventory=True,
        )
        for p in packages
    ]
