"""Checking package input; reasons are core's ``Reason``s (``detail["reason"]``), which each
transport maps onto its own texts."""

from __future__ import annotations

import re
from dataclasses import fields as dc_fields
from typing import Any

from fleetdeck.core.errors import Reason, ValidationFailed
from fleetdeck.core.packages.entities import POST_ACTIONS, UPGRADE_BEHAVIORS, PackageFields

MAX_TEXT = 1024 * 1024


def required(*values: str) -> None:
    if any(not v.strip() for v in values):
        raise ValidationFailed("please fill the required fields", reason=Reason.REQUIRED_MISSING)


def slug(name: str) -> str:
    s = re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-.")
    return s[:240] or "package"


def check_codes(text: str, field: str) -> str:
    for raw in text.split(","):
        part = raw.strip()
        if part and not part.lstrip("-").isdigit():
            raise ValidationFailed(
                f"{field} must be comma-separated integers", field=field, reason=Reason.INVALID
            )
    return text


def clean_fields(f: PackageFields) -> dict[str, Any]:
    """The given (non-None) fields, validated and normalised, as column values."""
    out: dict[str, Any] = {}
    for spec in dc_fields(f):
        value = getattr(f, spec.name)
        if value is None:
            continue
        if isinstance(value, str) and ("\x00" in value or len(value) > MAX_TEXT):
            raise ValidationFailed(f"{spec.name} is not valid text", field=spec.name, reason=Reason.INVALID)
        out[spec.name] = value
    for name in ("install_post_action", "uninstall_post_action"):
        if name in out and out[name] not in POST_ACTIONS:
            raise ValidationFailed(f"{name} must be 0, 1, 2 or 3", field=name, reason=Reason.INVALID)
    if "upgrade_behavior" in out and out["upgrade_behavior"] not in UPGRADE_BEHAVIORS:
        raise ValidationFailed(
            "upgrade_behavior must be 0, 1 or 2", field="upgrade_behavior", reason=Reason.INVALID
        )
    for name in ("install_success_codes", "uninstall_success_codes"):
        if name in out:
            out[name] = check_codes(out[name], name)
    if "priority" in out and not -100 <= out["priority"] <= 100:
        raise ValidationFailed(
            "priority must be between -100 and 100", field="priority", reason=Reason.INVALID
        )
    if "license_count" in out and out["license_count"] < 0:
        out["license_count"] = None
    if "line_endings" in out and out["line_endings"] == "":
        out["line_endings"] = None
    if out.get("line_endings") is not None and len(out["line_endings"]) > 10:
        raise ValidationFailed(
            "line_endings is at most 10 characters", field="line_endings", reason=Reason.INVALID
        )
    return out
