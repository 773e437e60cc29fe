"""Schedules: commands and scripts run on computers on a cron schedule, as their creator, and
the runs each tick made (``core.jobs.schedules``; the ``schedules.run`` housekeeping duty)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from fleetdeck.api.v1.deps import CurrentActor, ServicesDep
from fleetdeck.api.v1.listing import SYNTAX, ListQuery
from fleetdeck.api.v1.schemas.common import Data, DataList, IdPath, data_list, errors
from fleetdeck.api.v1.schemas.jobs import BatchOut
from fleetdeck.api.v1.schemas.schedules import ScheduleOut, ScheduleWrite
from fleetdeck.core import query as q

router = APIRouter(tags=["schedules"], responses=errors(401, 403, 422))


@router.get(
    "/schedules",
    description="Schedules (fields: id, uid, name, type, schedule, created_by, created_at, "
    "next_run_at, last_run_at).\n" + SYNTAX,
)
def list_schedules(query: ListQuery, actor: CurrentActor, services: ServicesDep) -> DataList[ScheduleOut]:
    page = services.schedules.find(actor, query)
    return data_list([ScheduleOut.of(i) for i in page.items], page.total)


@router.post("/schedules", status_code=201, responses=errors(400, 404))
def create_schedule(body: ScheduleWrite, actor: CurrentActor, services: ServicesDep) -> Data[ScheduleOut]:
    """A schedule that runs as its creator; its first tick is the next time the expression
    gives after now. An unknown computer is a 404, an unknown rule group a 422."""
    return Data(data=ScheduleOut.of(services.schedules.save(actor, body.input())))


@router.get("/schedules/{schedule_id}", responses=errors(404))
def get_schedule(schedule_id: IdPath, actor: CurrentActor, services: ServicesDep) -> Data[ScheduleOut]:
    return Data(data=ScheduleOut.of(services.schedules.get(actor, schedule_id)))


@router.put("/schedules/{schedule_id}", responses=errors(404))
def replace_schedule(
    schedule_id: IdPath, body: ScheduleWrite, actor: CurrentActor, services: ServicesDep
) -> Data[ScheduleOut]:
    """Replace every field (only the creator or an admin may: it runs as its creator)."""
    return Data(data=ScheduleOut.of(services.schedules.save(actor, body.input(), schedule_id)))


@router.delete("/schedules/{schedule_id}", status_code=204, responses=errors(404))
def delete_schedule(schedule_id: IdPath, actor: CurrentActor, services: ServicesDep) -> Response:
    """Delete a schedule; its runs stay (their batches keep its id)."""
    services.schedules.delete(actor, schedule_id)
    return Response(status_code=204)


@router.get("/schedules/{schedule_id}/runs", responses=errors(404))
def list_runs(
    schedule_id: IdPath, query: ListQuery, actor: CurrentActor, services: ServicesDep
) -> DataList[BatchOut]:
    """The runs of a schedule, newest first: one batch of jobs per tick (GET /commands/{id}
    for a run's counts, GET /jobs?filter[batch_id]= for its jobs)."""
    where = (q.Cond("schedule_id", q.Op.EQ, schedule_id), *query.where)
    sort = query.sort or (q.SortKey("id", descending=True),)
    page = services.jobs.find_batches(
        actor, q.Query(where=where, sort=sort, limit=query.limit, offset=query.offset)
    )
    services.schedules.get(actor, schedule_id)  # 404 for no such schedule, 403 without the permission
    return data_list([BatchOut.of(b) for b in page.items], page.total)
