"""Saved reports (read-only SQL over the inventory), report groups and execution."""

from __future__ import annotations

from fastapi import APIRouter, Response

from fleetdeck.api.v1.deps import CurrentActor, ServicesDep
from fleetdeck.api.v1.listing import SYNTAX, ListQuery
from fleetdeck.api.v1.schemas.common import Data, DataList, IdPath, data_list, errors
from fleetdeck.api.v1.schemas.reports import (
    ReportCreate,
    ReportGroupCreate,
    ReportGroupOut,
    ReportGroupUpdate,
    ReportOut,
    ReportResultOut,
    ReportUpdate,
    SqlRun,
)

RUNS = """
Queries run sandboxed: a single `SELECT` (or `WITH ... SELECT`), read-only, without access to
secret columns (password and token hashes, agent keys, settings), with the caller's permissions
(the audit log and user accounts only for those who may read them elsewhere), stopped after the
setting `reports.timeout_sec`, refused past `reports.max_bytes` bytes of result, and cut after
`reports.max_rows` rows (`truncated: true`). A query that fails is a 400 with the database's
message and a `kind`.
"""

router = APIRouter(prefix="/reports", tags=["reports"], responses=errors(401, 403, 422))
groups = APIRouter(prefix="/report-groups", tags=["reports"], responses=errors(401, 403, 422))


@router.get("", description="Reports (fields: id, name, group_id, created_at, updated_at).\n" + SYNTAX)
def list_reports(query: ListQuery, actor: CurrentActor, services: ServicesDep) -> DataList[ReportOut]:
    page = services.reports.find(actor, query)
    return data_list([ReportOut.model_validate(r) for r in page.items], page.total)


@router.post("", status_code=201, responses=errors(404))
def create_report(body: ReportCreate, actor: CurrentActor, services: ServicesDep) -> Data[ReportOut]:
    report = services.reports.create(actor, body.name, body.query, notes=body.notes, group_id=body.group_id)
    return Data(data=ReportOut.model_validate(report))


@router.post("/query", responses=errors(400), description="Run ad-hoc SQL (administrators).\n" + RUNS)
def run_sql(body: SqlRun, actor: CurrentActor, services: ServicesDep) -> Data[ReportResultOut]:
    return Data(data=ReportResultOut.model_validate(services.reports.run_sql(actor, body.query)))


@router.get("/{report_id}", responses=errors(404))
def get_report(report_id: IdPath, actor: CurrentActor, services: ServicesDep) -> Data[ReportOut]:
    return Data(data=ReportOut.model_validate(services.reports.get(actor, report_id)))


@router.patch("/{report_id}", responses=errors(404))
def update_report(
    report_id: IdPath, body: ReportUpdate, actor: CurrentActor, services: ServicesDep
) -> Data[ReportOut]:
    fields = body.model_fields_set
    extra = {"group_id": body.group_id} if "group_id" in fields else {}
    report = services.reports.update(
        actor, report_id, name=body.name, query=body.query, notes=body.notes, **extra
    )
    return Data(data=ReportOut.model_validate(report))


@router.delete("/{report_id}", status_code=204, responses=errors(404))
def delete_report(report_id: IdPath, actor: CurrentActor, services: ServicesDep) -> Response:
    services.reports.delete(actor, report_id)
    return Response(status_code=204)


@router.post("/{report_id}/execute", responses=errors(400, 404), description="Run a saved report.\n" + RUNS)
def execute_report(report_id: IdPath, actor: CurrentActor, services: ServicesDep) -> Data[ReportResultOut]:
    return Data(data=ReportResultOut.model_validate(services.reports.execute(actor, report_id)))


@groups.get("", description="Report groups (fields: id, name, parent_id, created_at).\n" + SYNTAX)
def list_groups(query: ListQuery, actor: CurrentActor, services: ServicesDep) -> DataList[ReportGroupOut]:
    page = services.reports.groups.find(actor, query)
    return data_list([ReportGroupOut.model_validate(g) for g in page.items], page.total)


@groups.post("", status_code=201, responses=errors(404, 409))
def create_group(body: ReportGroupCreate, actor: CurrentActor, services: ServicesDep) -> Data[ReportGroupOut]:
    group = services.reports.groups.create(
        actor, body.name, parent_id=body.parent_id, description=body.description
    )
    return Data(data=ReportGroupOut.model_validate(group))


@groups.get("/{group_id}", responses=errors(404))
def get_group(group_id: IdPath, actor: CurrentActor, services: ServicesDep) -> Data[ReportGroupOut]:
    return Data(data=ReportGroupOut.model_validate(services.reports.groups.get(actor, group_id)))


@groups.patch("/{group_id}", responses=errors(404, 409))
def update_group(
    group_id: IdPath, body: ReportGroupUpdate, actor: CurrentActor, services: ServicesDep
) -> Data[ReportGroupOut]:
    group = services.reports.groups.update(
        actor,
        group_id,
        name=body.name,
        description=body.description,
        parent_id=body.parent_id,
        move="parent_id" in body.model_fields_set,
    )
    return Data(data=ReportGroupOut.model_validate(group))


@groups.delete("/{group_id}", status_code=204, responses=errors(404, 409))
def delete_group(group_id: IdPath, actor: CurrentActor, services: ServicesDep) -> Response:
    """Only an empty group (no reports, no subgroups) can be deleted (409)."""
    services.reports.groups.delete(actor, group_id)
    return Response(status_code=204)
