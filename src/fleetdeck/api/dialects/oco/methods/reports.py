"""``oco.report.*``: stored read-only queries."""

from __future__ import annotations

from typing import Any

from fleetdeck.api.dialects.oco.registry import METHODS, Context
from fleetdeck.api.dialects.oco.render import cell, num
from fleetdeck.api.dialects.oco.schemas import OptId
from fleetdeck.core.errors import NotFound


@METHODS.method("oco.report.list")
def report_list(ctx: Context, report_group_id: OptId = None) -> dict[str, Any]:
    """All reports and the root report groups, or one group's reports and subgroups."""
    listing = ctx.services.reports.list_reports(ctx.actor, report_group_id)
    reports = [
        {
            "id": num(r.id),
            "report_group_id": num(r.group_id),
            "name": r.name,
            "notes": r.notes,
            "query": r.query,
        }
        for r in listing.reports
    ]
    groups = [
        {"id": num(g.id), "parent_report_group_id": num(g.parent_id), "name": g.name} for g in listing.groups
    ]
    if report_group_id is None:
        return {"reports": reports, "groups": groups}
    group = ctx.services.reports.groups.get(ctx.actor, report_group_id)
    return {"name": group.name, "reports": reports, "groups": groups}


@METHODS.method("oco.report.execute")
def report_execute(ctx: Context, id: OptId = None) -> list[Any]:
    """Run a report (read-only); rows as objects of column name -> value."""
    if not id:
        raise NotFound("report", id)
    result = ctx.services.reports.execute(ctx.actor, id)
    return [{k: cell(v) for k, v in row.items()} for row in result.rows]
