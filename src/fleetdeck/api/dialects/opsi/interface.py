"""opsi's published interface (490 methods, from opsiconfd 4.3) and fleetdeck's answer to it.

``data/interface.json`` holds opsiconfd's ``backend_getInterface`` record for every method. A
method fleetdeck declares in ``METHODS`` is answered; every other name of that list gets a clear
"not supported" error, and ``python -m fleetdeck.api.dialects.opsi`` writes
``docs/compat/opsi.md`` from the same two sources, so the document cannot drift from the code.
A declared method listed in ``REFUSED`` is answered, but only ever with opsi's permission error:
it is counted apart, not as supported.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from fleetdeck.api.kit.registry import REQUIRED, Method


def _load() -> dict[str, dict[str, Any]]:
    raw = json.loads(resources.files(__package__).joinpath("data/interface.json").read_text("utf-8"))
    return {item["entry"]["name"]: item for item in raw}


SPEC: dict[str, dict[str, Any]] = _load()

_AUDIT_READ_ONLY = "the audit data is the agent's inventory (it reports it itself) and is read-only"

# Why a method is not answered, by name prefix, for the ones fleetdeck leaves out on purpose.
# Anything else that is not declared is simply not built yet.
OUT_OF_SCOPE: dict[str, str] = {
    "dhcpd_": "fleetdeck does not install operating systems over the network (no DHCP/PXE)",
    "opsipxeconfd_": "fleetdeck does not install operating systems over the network (no DHCP/PXE)",
    "updateWIMConfig": "fleetdeck does not install operating systems over the network (no WIM images)",
    "driver_": "fleetdeck does not install operating systems over the network (no driver integration)",
    "depot_": "fleetdeck has no depot file share: package payloads are stored content-addressed"
    " and agents download them over the agent endpoint (depot_installPackage imports .opsi files)",
    "workbench_": "fleetdeck builds no packages: build them with opsi-makepackage and install the"
    " .opsi file (workbench_installPackage, depot_installPackage)",
    "getDepotSelectionAlgorithm": "fleetdeck has one depot, the server itself",
    "changeWANConfig": "the fleetdeck agent keeps one connection to the server;"
    " opsiclientd's WAN mode does not apply",
    "network_sendBroadcast": "fleetdeck sends Wake-on-LAN itself (hostControl_start)",
    "user_getCredentials": "fleetdeck has no depot share user: agents download payloads over HTTPS",
    "user_setCredentials": "fleetdeck has no depot share user: agents download payloads over HTTPS",
    "getPcpatchPassword": "fleetdeck has no depot share user: agents download payloads over HTTPS",
    "user_updateMultiFactorAuth": "fleetdeck user logins have no second factor yet",
    "host_renameOpsiDepotserver": "fleetdeck has one depot, the server itself, named by its own FQDN",
    "service_createBackup": "back up the database with its own tools (docs/operations.md)",
    "service_setAppState": "fleetdeck has no maintenance or shutdown state to switch at run time;"
    " stop and start the server with its service manager (docs/operations.md)",
    "service_updateConfig": "fleetdeck's server options are set at start (FLEETDECK_* variables or"
    " flags); its run-time settings are changed with PUT /api/v1/settings/{key} or `fleetdeck settings set`",
    "service_restoreBackup": "back up the database with its own tools (docs/operations.md)",
}


_WRITES = ("insertObject", "updateObject", "createObjects", "updateObjects", "deleteObjects", "delete")
# What opsi's swaudit writes from a client's own login: stored as auditSoftwareOnClient_create.
_REPORTED = {
    f"auditSoftwareOnClient_{verb}"
    for verb in ("insertObject", "updateObject", "createObjects", "updateObjects")
}
_ONE_DEPOT = "fleetdeck has exactly one depot, the server itself, and it offers every package"

# Declared methods that refuse every caller, admins included, with opsi's
# BackendPermissionDeniedError and this reason: the data is the agent's read-only inventory, or
# fleetdeck has exactly one depot. They are declared so opsi clients get opsi's own error for a
# forbidden write, but they are not "supported". (A call with nothing in it, such as
# ``*_deleteObjects([])``, returns without error, as in opsi; it changes nothing either.)
# tests/dialects/opsi/test_refused.py calls each one as an admin, so the list cannot go stale.
REFUSED: dict[str, str] = {
    **{
        f"{family}_{verb}": _AUDIT_READ_ONLY
        for family in ("auditSoftware", "auditSoftwareOnClient", "auditHardware", "auditHardwareOnHost")
        for verb in _WRITES
        if f"{family}_{verb}" in SPEC and f"{family}_{verb}" not in _REPORTED
    },
    "host_createOpsiDepotserver": _ONE_DEPOT,
    "host_createOpsiConfigserver": _ONE_DEPOT,
    "backend_deleteBase": "fleetdeck does not drop its database through the API",
}


def out_of_scope(name: str) -> str | None:
    for prefix, reason in OUT_OF_SCOPE.items():
        if name.startswith(prefix):
            return reason
    return None


def _own_record(method: Method) -> dict[str, Any]:
    """For a method opsi does not publish: the same record shape, built from our declaration."""
    names = [p.name for p in method.params]
    defaults = [p.default for p in method.params if not p.required]
    params = [p.name if p.required else f"*{p.name}" for p in method.params]
    if method.varkw:
        params.append(f"**{method.varkw}")
    return {
        "name": method.name,
        "params": params,
        "args": ["self", *names],
        "varargs": None,
        "keywords": method.varkw,
        "defaults": defaults or None,
        "deprecated": method.deprecated,
        "drop_version": None,
        "alternative_method": method.alternative,
        "doc": method.summary or None,
        "annotations": {},
    }


def record(method: Method) -> dict[str, Any]:
    item = SPEC.get(method.name)
    if item is None:
        return _own_record(method)
    return dict(item["entry"])


def _check(method: Method) -> list[str]:
    """Differences between our declaration and opsi's (names and defaults), for the tests."""
    item = SPEC.get(method.name)
    if item is None:
        return []
    entry = item["entry"]
    ours = [p.name for p in method.params]
    theirs = [a for a in entry["args"] if a != "self"]
    problems = []
    if ours != theirs:
        problems.append(f"{method.name}: params {ours} != opsi {theirs}")
    if (method.varkw is not None) != (entry["keywords"] is not None):
        problems.append(f"{method.name}: **kwargs {method.varkw} != opsi {entry['keywords']}")
    defaults = [p.default for p in method.params if p.default is not REQUIRED]
    if ours == theirs and defaults != (entry["defaults"] or []):
        problems.append(f"{method.name}: defaults {defaults} != opsi {entry['defaults']}")
    return problems


def mismatches(methods: list[Method]) -> list[str]:
    return [p for m in methods for p in _check(m)]


def markdown(methods: list[Method]) -> str:
    declared = {m.name: m for m in methods}
    lines = [
        "# opsi methods: what fleetdeck answers",
        "",
        "Generated by `python -m fleetdeck.api.dialects.opsi > docs/compat/opsi.md`;",
        "a test fails when this file and the code disagree. *supported* = fleetdeck answers it;",
        "*refused* = fleetdeck answers every caller, admins included, with opsi's",
        "`BackendPermissionDeniedError` and the reason given (it could never succeed);",
        "*not supported* = the call answers an opsi error (class `BackendError`) that says so.",
        "",
    ]
    supported = [n for n in SPEC if n in declared and n not in REFUSED]
    live = [n for n in supported if not SPEC[n]["entry"]["deprecated"]]
    refused = [n for n in SPEC if n in declared and n in REFUSED]
    lines.append(
        f"{len(supported)} of {len(SPEC)} opsi methods supported ({len(live)} of"
        f" {sum(1 for i in SPEC.values() if not i['entry']['deprecated'])} non-deprecated);"
        f" {len(refused)} more are declared but refused for every caller."
    )
    lines += ["", "| method | group | status | note |", "|---|---|---|---|"]
    for name in sorted(SPEC):
        item = SPEC[name]
        entry = item["entry"]
        group = str(item.get("group") or "").removeprefix("RPC").removesuffix("Mixin")
        note = f"deprecated, use `{entry['alternative_method']}`" if entry["deprecated"] else ""
        if name in declared and name in REFUSED:
            status = "refused"
            note = (note + "; " if note else "") + REFUSED[name]
        elif name in declared:
            status = "supported"
        else:
            status = "not supported"
            note = (note + "; " if note else "") + (out_of_scope(name) or "not built yet")
        lines.append(f"| `{name}` | {group} | {status} | {note} |")
    extra = sorted(set(declared) - set(SPEC))
    if extra:
        lines += ["", "fleetdeck-only methods: " + ", ".join(f"`{n}`" for n in extra)]
    return "\n".join(lines) + "\n"
