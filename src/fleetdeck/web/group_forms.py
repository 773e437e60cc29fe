"""The form of a report group and of a package group (``_group_form.html``: name, parent,
description), read and checked the same way for both, and core's refusals mapped to its fields.
Computer groups (``groups.py``) show the tree in the parent select; these show a flat list, and
core refuses a move below the group itself, which is then said next to the parent field."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fleetdeck.core.errors import FleetdeckError, NotFound
from fleetdeck.web.app import Call

FIELDS = ("name", "parent", "description")
MAX_DESCRIPTION = 2000  # the form's maxlength
CORE_FIELDS = {"name": "name", "parent_id": "parent", "description": "description"}  # core's -> ours


def positive_id(text: str) -> int | None:
    """A row id from a form field; anything else (empty, 0, signs, huge) is None."""
    text = text.strip()
    return int(text) if text.isdigit() and 0 < len(text) < 19 and int(text) > 0 else None


def read(call: Call, errors: dict[str, str]) -> dict[str, str]:
    form = {k: call.field(k) for k in FIELDS}
    form["name"] = form["name"].strip()
    if not form["name"]:
        errors["name"] = "Enter a name."
    if form["parent"] and positive_id(form["parent"]) is None:
        errors["parent"] = "Choose a parent group from the list."
    if len(form["description"]) > MAX_DESCRIPTION:
        errors["description"] = f"The description is at most {MAX_DESCRIPTION} characters."
    return form


def refusal(exc: FleetdeckError) -> tuple[str, str]:
    """The field core's refusal belongs next to, and what to say there."""
    if isinstance(exc, NotFound):
        return "parent", "That parent group no longer exists."
    return CORE_FIELDS.get(str(exc.detail.get("field")), "name"), str(exc)


def parents(groups: Iterable[tuple[int, str]], leave_out: int | None = None) -> list[dict[str, Any]]:
    """(id, name) pairs as the parent choices ``_group_form.html`` takes, without the group
    being edited."""
    return [{"group": {"id": i, "name": n}, "depth": 0} for i, n in groups if i != leave_out]
