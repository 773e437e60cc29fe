"""What real opsi clients report about themselves (opsiclientd's hwaudit/swaudit):
``auditSoftware_create``, ``auditSoftwareOnClient_create``, ``auditHardware_create``,
``auditHardwareOnHost_create`` and the ``*_setObsolete`` calls before a fresh audit, stored by
core's ``reported_audit`` beside the agent's inventory (``core/computers/reported.py`` says which
one is shown: the agent's inventory once the agent reported one). A client reports for itself
from its own host login; administrators and operators may report for any client."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from fleetdeck.api.dialects.opsi.errors import (
    BackendMissingDataError,
    BackendPermissionDeniedError,
    OpsiValueError,
)
from fleetdeck.api.dialects.opsi.objects import crud
from fleetdeck.api.dialects.opsi.objects.audit import SOFTWARE_IDENT
from fleetdeck.api.dialects.opsi.objects.hosts import HostAdapter, force_host_id
from fleetdeck.api.dialects.opsi.registry import Context

_hosts = HostAdapter()
MAX_TEXT = 1024


def computer_of(ctx: Context, host_value: Any) -> int:
    host = force_host_id(host_value)
    if ctx.is_client:
        if host != ctx.host_id or ctx.actor.computer_id is None:
            raise BackendPermissionDeniedError(f"Access to host '{host}' denied for {ctx.host_id}")
        return ctx.actor.computer_id
    found = _hosts.computers(ctx, [host])[1].get(host)
    if found is None:
        raise BackendMissingDataError(f"Host '{host}' not found")
    return found.id


def _text(name: str, value: Any) -> str:
    text = "" if value is None else str(value)
    if len(text) > MAX_TEXT:
        raise OpsiValueError(f"{name} is longer than {MAX_TEXT} characters")
    return text


def software_ident(attrs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    for key in ("name", "version"):
        if not _text(key, attrs.get(key)).strip():
            raise OpsiValueError(f"Invalid {key}: '{attrs.get(key)}'")
    clean = {k: (v if isinstance(v, int | bool) or v is None else _text(k, v)) for k, v in attrs.items()}
    ident = ";".join(str(clean.get(k) or "") for k in SOFTWARE_IDENT).lower()
    return ident, clean


def hardware_ident(hardware_class: Any, attrs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    cls = _text("hardwareClass", hardware_class).strip().upper()
    if not cls:
        raise OpsiValueError("Invalid hardwareClass: ''")
    data = {"hardwareClass": cls, **{k: v for k, v in attrs.items() if k not in ("type", "ident")}}
    try:
        canonical = json.dumps(data, sort_keys=True, default=str)
    except (TypeError, ValueError):
        raise OpsiValueError("hardware attributes must be plain values") from None
    return f"{cls};{hashlib.sha256(canonical.encode()).hexdigest()[:32]}", data


def audit_software_create(ctx: Context, **attrs: Any) -> None:
    ident, data = software_ident(attrs)
    ctx.services.reported_audit.report(ctx.actor, "software_title", None, [(ident, data)])


def audit_software_on_client_create(ctx: Context, clientId: Any, **attrs: Any) -> None:
    computer_id = computer_of(ctx, clientId)
    ident, data = software_ident(attrs)
    ctx.services.reported_audit.report(ctx.actor, "software", computer_id, [(ident, data)])


def audit_hardware_create(ctx: Context, hardwareClass: Any, **attrs: Any) -> None:
    ident, data = hardware_ident(hardwareClass, attrs)
    ctx.services.reported_audit.report(ctx.actor, "hardware_device", None, [(ident, data)])


def audit_hardware_on_host_create(
    ctx: Context,
    hostId: Any,
    hardwareClass: Any,
    firstseen: Any = None,
    lastseen: Any = None,
    state: Any = None,
    **attrs: Any,
) -> None:
    computer_id = computer_of(ctx, hostId)
    ident, data = hardware_ident(hardwareClass, attrs)
    ctx.services.reported_audit.report(ctx.actor, "hardware", computer_id, [(ident, data)])


def audit_hardware_on_host_set_obsolete(ctx: Context, hostId: Any) -> None:
    ctx.services.reported_audit.set_obsolete(ctx.actor, "hardware", computer_of(ctx, hostId))


def audit_software_on_client_set_obsolete(ctx: Context, clientId: Any) -> None:
    for host in clientId if isinstance(clientId, list) else [clientId]:
        ctx.services.reported_audit.set_obsolete(ctx.actor, "software", computer_of(ctx, host))


crud.declare("auditSoftware_create", audit_software_create)
crud.declare("auditSoftwareOnClient_create", audit_software_on_client_create)
crud.declare("auditHardware_create", audit_hardware_create)
crud.declare("auditHardwareOnHost_create", audit_hardware_on_host_create)
crud.declare("auditHardwareOnHost_setObsolete", audit_hardware_on_host_set_obsolete)
crud.declare("auditSoftwareOnClient_setObsolete", audit_software_on_client_set_obsolete)
