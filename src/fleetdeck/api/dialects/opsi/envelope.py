"""One JSON-RPC call as opsiconfd runs it: version-dependent shapes, opsi's parameter rules, and
the mapping of every failure onto an opsi error (``code`` 0 and ``data.class`` in 2.0).

A failure is always the call's own error object with HTTP 200; nothing here raises to the
transport, so one bad element of a batch never spoils the others.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fleetdeck.api.dialects.opsi import errors as oe
from fleetdeck.api.dialects.opsi.interface import SPEC, out_of_scope
from fleetdeck.api.dialects.opsi.registry import METHODS, Context
from fleetdeck.api.dialects.rpc import Method, ParamsInvalid
from fleetdeck.core import errors as core

log = logging.getLogger("fleetdeck.api.opsi")

# What an opsi client (host id + host key) may call; opsiconfd's acl.conf. Row-level "self"
# restrictions are the methods' business (``Context.host_id``).
CLIENT_PREFIXES = (
    "backend_",
    "accessControl_",
    "log_",
    "host_get",
    "host_update",
    "productOnClient_",
    "configState_",
    "productPropertyState_",
    "licenseOnClient_",
    "auditHardwareOnHost_",
    "auditSoftwareOnClient_",
    "config_create",
    "user_getCredentials",
    "getDomain",
    "getKioskProductInfosForClient",  # opsiconfd skips its ACL; the method checks "self" itself
)


def client_may_call(name: str) -> bool:
    if name.startswith(CLIENT_PREFIXES) or "_get" in name:
        return True
    return name.startswith(("auditSoftware_", "auditHardware_")) and "_delete" not in name


def error_of(exc: BaseException) -> tuple[str, str]:
    """(opsi class, message) for any failure; unexpected ones are logged, never shown."""
    if isinstance(exc, oe.OpsiError):
        return exc.opsi_class, exc.message
    if isinstance(exc, ParamsInvalid):
        return "TypeError", exc.message
    if isinstance(exc, core.NotFound):
        return "BackendMissingDataError", str(exc)
    if isinstance(exc, core.PermissionDenied):
        return "BackendPermissionDeniedError", str(exc)
    if isinstance(exc, core.ValidationFailed):
        return "ValueError", str(exc)
    if isinstance(exc, core.Conflict):
        return "BackendBadValueError", str(exc)
    if isinstance(exc, core.NotImplementedYet):
        return "BackendError", str(exc)
    if isinstance(exc, core.FleetdeckError):
        return "BackendError", str(exc)
    log.exception("opsi call failed")
    return "BackendError", "Internal error (see the server log)"


def render_error(rpc_id: Any, version2: bool, cls: str, message: str) -> dict[str, Any]:
    if version2:
        return {
            "id": rpc_id,
            "error": {"message": message, "code": 0, "data": {"class": cls, "details": None}},
            "jsonrpc": "2.0",
        }
    return {"id": rpc_id, "result": None, "error": {"message": message, "class": cls, "details": None}}


def render_result(rpc_id: Any, version2: bool, result: Any) -> dict[str, Any]:
    if version2:
        return {"id": rpc_id, "result": result, "jsonrpc": "2.0"}
    return {"id": rpc_id, "result": result, "error": None}


def lookup(name: str) -> Method:
    method = METHODS.get(name)
    if method is not None:
        return method
    if name in SPEC:
        reason = out_of_scope(name) or "not built yet"
        raise oe.NotSupportedError(
            f"Method '{name}' is not supported by fleetdeck: {reason} (see docs/compat/opsi.md)"
        )
    raise oe.OpsiValueError(f"Invalid method '{name}'")


def split_params(method: Method, params: Any) -> tuple[list[Any], dict[str, Any]]:
    """opsi's rules: named params are keywords; in a positional list the LAST element is the
    ``**filter`` dict only when every declared parameter is given before it."""
    if params is None:
        return [], {}
    if isinstance(params, Mapping):
        kwargs = {str(k): v for k, v in params.items()}
        known = {p.name for p in method.params}
        unknown = [k for k in kwargs if k not in known]
        if unknown and method.varkw is None:
            raise oe.OpsiTypeError(f"{method.name}() got an unexpected keyword argument '{unknown[0]}'")
        return [], kwargs
    if not isinstance(params, Sequence) or isinstance(params, str | bytes):
        raise oe.OpsiTypeError("params must be a list or an object")
    args = list(params)
    if method.varkw is not None and len(args) >= len(method.params) + 1:
        extra = args.pop()
        if not isinstance(extra, Mapping):
            raise oe.OpsiTypeError(
                f"{method.name}() keyword arguments must be an object, not {type(extra).__name__}"
            )
        return args, {str(k): v for k, v in extra.items()}
    if len(args) > len(method.params):
        raise oe.OpsiTypeError(
            f"{method.name}() takes {len(method.params)} positional arguments but {len(args)} were given"
        )
    return args, {}


def run_call(ctx: Context, element: Any) -> dict[str, Any]:
    if not isinstance(element, Mapping):
        return render_error(0, False, "ValueError", "Invalid request: not an object")
    version2 = element.get("jsonrpc") == "2.0"
    rpc_id = element.get("id") or 0
    try:
        name = element.get("method")
        if not isinstance(name, str) or not name:
            raise oe.OpsiValueError("Invalid request: method missing")
        method = lookup(name)
        if ctx.is_client and not client_may_call(name):
            raise oe.BackendPermissionDeniedError(
                f"Access to method '{name}' denied for {ctx.actor.username}"
            )
        args, kwargs = split_params(method, element.get("params"))
        result = method.invoke(ctx, kwargs, args)
    except Exception as exc:  # each call answers its own error
        cls, message = error_of(exc)
        return render_error(rpc_id, version2, cls, message)
    return render_result(rpc_id, version2, result)
