"""``cmdb.reports.read``: fleetdeck's saved reports (the reports engine of ``/api/v1/reports``,
sandboxed read-only SQL) in i-doit's shapes: without ``id`` the list of reports (``category``
is the report's group), with ``id`` the report's rows, each an object keyed by column name."""

from __future__ import annotations

from typing import Any

from fleetdeck.api.dialects.idoit import render
from fleetdeck.api.dialects.idoit.registry import METHODS, Context
from fleetdeck.api.dialects.idoit.schemas import numeric


@METHODS.method("cmdb.reports.read")
def reports_read(ctx: Context, id: Any = None) -> list[dict[str, Any]]:
    """The reports, or (``id``) the rows of one, run with the caller's report permissions."""
    if id is not None:
        return ctx.services.reports.execute(ctx.actor, numeric(id, "id")).rows
    return [
        {
            "id": str(r.id),
            "category": group,
            "title": r.name,
            "description": r.notes,
            "created": render.when(r.created_at),
        }
        for r, group in ctx.services.reports.with_groups(ctx.actor)
    ]
