"""Computers: list, inventory detail, pre-registration, notes, deletion and their jobs."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Response

from fleetdeck.api.v1.deps import CurrentActor, ServicesDep
from fleetdeck.api.v1.listing import SYNTAX, ListQuery
from fleetdeck.api.v1.schemas.common import Data, DataList, IdPath, data_list, errors
from fleetdeck.api.v1.schemas.computers import (
    ComputerCreate,
    ComputerDetailOut,
    ComputerEventOut,
    ComputerOut,
    ComputerPasswordOut,
    ComputerUpdate,
    MeasurementOut,
    ReenrollAllow,
    ReenrollOut,
)
from fleetdeck.api.v1.schemas.jobs import JobOut
from fleetdeck.core.errors import NotFound
from fleetdeck.core.query import Cond, Op

router = APIRouter(prefix="/computers", tags=["computers"], responses=errors(401, 403, 422))


@router.get("", description="Computers, with filters on their summary fields.\n" + SYNTAX)
def list_computers(query: ListQuery, actor: CurrentActor, services: ServicesDep) -> DataList[ComputerOut]:
    page = services.computers.find(actor, query)
    return data_list([ComputerOut.model_validate(c) for c in page.items], page.total)


@router.post("", status_code=201, responses=errors(400, 409))
def create_computer(body: ComputerCreate, actor: CurrentActor, services: ServicesDep) -> Data[ComputerOut]:
    """Pre-register a computer; an agent that enrolls with this host name takes it over."""
    return Data(data=ComputerOut.model_validate(services.computers.create(actor, body.hostname, body.notes)))


@router.get("/{computer_id}", responses=errors(404))
def get_computer(computer_id: IdPath, actor: CurrentActor, services: ServicesDep) -> Data[ComputerDetailOut]:
    """The summary plus the whole inventory and the groups the computer is in."""
    return Data(data=ComputerDetailOut.of(services.computers.get(actor, computer_id)))


@router.patch("/{computer_id}", responses=errors(400, 404))
def update_computer(
    computer_id: IdPath, body: ComputerUpdate, actor: CurrentActor, services: ServicesDep
) -> Data[ComputerOut]:
    computer = services.computers.update(actor, computer_id, notes=body.notes, fqdn=body.fqdn)
    return Data(data=ComputerOut.model_validate(computer))


@router.delete("/{computer_id}", status_code=204, responses=errors(404))
def delete_computer(computer_id: IdPath, actor: CurrentActor, services: ServicesDep) -> Response:
    services.computers.delete(actor, computer_id)
    return Response(status_code=204)


@router.post("/{computer_id}/allow-reenroll", responses=errors(400, 404))
def allow_reenroll(
    computer_id: IdPath, body: ReenrollAllow, actor: CurrentActor, services: ServicesDep
) -> Data[ReenrollOut]:
    """Let the next agent that enrolls from this same machine (a re-install) replace the enrolled
    one, within ``within_sec``. Without this, a second agent presenting the machine's identity
    becomes a computer of its own, as a clone does (docs/operations.md)."""
    until = services.enrollment.allow_reenroll(actor, computer_id, timedelta(seconds=body.within_sec))
    assert until is not None
    return Data(data=ReenrollOut(computer_id=computer_id, reenroll_until=until))


@router.delete("/{computer_id}/allow-reenroll", status_code=204, responses=errors(404))
def disallow_reenroll(computer_id: IdPath, actor: CurrentActor, services: ServicesDep) -> Response:
    """Take the permission to re-enroll back before it runs out."""
    services.enrollment.allow_reenroll(actor, computer_id, None)
    return Response(status_code=204)


@router.get("/{computer_id}/jobs", responses=errors(404), description="The computer's jobs.\n" + SYNTAX)
def computer_jobs(
    computer_id: IdPath, query: ListQuery, actor: CurrentActor, services: ServicesDep
) -> DataList[JobOut]:
    page = services.jobs.find(actor, query.and_(Cond("computer_id", Op.EQ, computer_id)))
    if not page.items and computer_id not in services.computers.exists([computer_id]):
        raise NotFound("computer", computer_id)
    return data_list([JobOut.of(j) for j in page.items], page.total)


@router.get("/{computer_id}/events", responses=errors(404))
def computer_events(
    computer_id: IdPath, actor: CurrentActor, services: ServicesDep
) -> DataList[ComputerEventOut]:
    """Event log entries its polling (OCO) agent sent for the event queries
    (``polling.event_queries``), newest first; purged after ``polling.event_retention_sec``."""
    rows = services.agent_records.events(actor, computer_id)
    return data_list([ComputerEventOut.model_validate(e) for e in rows], len(rows))


@router.get(
    "/{computer_id}/metrics",
    responses=errors(400, 404, 503),
    description="Measurements its agent sent (newest first; fields id and taken_at, unix seconds);"
    " 503 while monitoring is disabled (monitoring.enabled).\n" + SYNTAX,
)
def computer_metrics(
    computer_id: IdPath, query: ListQuery, actor: CurrentActor, services: ServicesDep
) -> DataList[MeasurementOut]:
    page = services.monitoring.find(actor, computer_id, query)
    return data_list(
        [
            MeasurementOut.model_validate(
                {**asdict(i), "time": datetime.fromtimestamp(i.taken_at, UTC)}, from_attributes=False
            )
            for i in page.items
        ],
        page.total,
    )


@router.get("/{computer_id}/passwords", responses=errors(404))
def computer_passwords(
    computer_id: IdPath, actor: CurrentActor, services: ServicesDep
) -> DataList[ComputerPasswordOut]:
    """Local account passwords its polling (OCO) agent rotated, in clear text, newest first per
    account (then the history). Needs ``read_passwords`` (admins, not read-only tokens); every
    read is audited (``computer.passwords_read``)."""
    rows = services.agent_records.passwords(actor, computer_id)
    return data_list([ComputerPasswordOut.model_validate(p) for p in rows], len(rows))


@router.post("/{computer_id}/force-inventory", responses=errors(404))
def force_inventory(computer_id: IdPath, actor: CurrentActor, services: ServicesDep) -> Data[ComputerOut]:
    """Ask a polling (OCO) agent for its inventory at its next poll (OCO's "force update");
    fleetdeck's own agent sends its inventory whenever it changes."""
    services.agent_records.force_inventory(actor, computer_id)
    return Data(data=ComputerOut.model_validate(services.computers.get(actor, computer_id).summary))
