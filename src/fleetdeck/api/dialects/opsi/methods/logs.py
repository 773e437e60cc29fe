"""opsi's ``log_read`` / ``log_write`` over core's client logs."""

from __future__ import annotations

from typing import Any

from fleetdeck.api.dialects.opsi.errors import (
    BackendBadValueError,
    BackendPermissionDeniedError,
    OpsiValueError,
)
from fleetdeck.api.dialects.opsi.registry import METHODS, Context
from fleetdeck.core.errors import ValidationFailed

LOG_TYPES = ("bootimage", "clientconnect", "instlog", "opsiconfd", "userlogin", "winpe")


def _check(ctx: Context, log_type: Any, object_id: Any, required: bool) -> tuple[str, str]:
    if log_type not in LOG_TYPES:
        raise BackendBadValueError(f"Unknown log type '{log_type}'")
    if object_id is None or object_id == "":
        if required:
            raise BackendBadValueError(f"Log type '{log_type}' requires objectId")
        return str(log_type), str(log_type)
    oid = str(object_id).strip().lower()
    if ctx.is_client and oid != ctx.host_id:
        raise BackendPermissionDeniedError(f"Access to log of '{oid}' denied for {ctx.host_id}")
    return str(log_type), oid


@METHODS.method("log_read")
def log_read(ctx: Context, *, logType: str, objectId: str | None = None, maxSize: int = 0) -> str:
    """The log's text ("" when there is none); ``maxSize`` > 0 keeps its end, from a line start."""
    log_type, oid = _check(ctx, logType, objectId, required=logType != "opsiconfd")
    try:
        return ctx.services.logs.read(ctx.actor, log_type, oid, max(0, int(maxSize or 0)))
    except ValidationFailed as exc:
        raise OpsiValueError(str(exc)) from None


@METHODS.method("log_write")
def log_write(
    ctx: Context, *, logType: str, data: str, objectId: str | None = None, append: bool = False
) -> None:
    log_type, oid = _check(ctx, logType, objectId, required=True)
    computer_id = ctx.actor.computer_id if ctx.is_client else None
    try:
        ctx.services.logs.write(
            ctx.actor, log_type, oid, str(data or ""), append=bool(append), computer_id=computer_id
        )
    except ValidationFailed as exc:
        raise OpsiValueError(str(exc)) from None
