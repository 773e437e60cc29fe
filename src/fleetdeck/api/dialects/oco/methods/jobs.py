"""``oco.job_container.*`` and ``oco.remove_installation_assignment``: deployments (job
containers), their jobs, and installation records."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from fleetdeck.api.dialects.oco import render_jobs
from fleetdeck.api.dialects.oco.errors import OcoError
from fleetdeck.api.dialects.oco.registry import METHODS, Context
from fleetdeck.api.dialects.oco.render import DATE_FORMAT, created_id
from fleetdeck.api.dialects.oco.schemas import Flag, IdList, OptId, OptInt, OptText, StrList, Text
from fleetdeck.core.deployments.entities import ContainerInfo, DeploymentJob
from fleetdeck.core.deployments.validation import check_name
from fleetdeck.core.errors import NotFound, Reason, ValidationFailed
from fleetdeck.core.jobs.entities import PACKAGE_KINDS, PENDING
from fleetdeck.core.query import Cond, Op, Query

DATE_FORMATS = (DATE_FORMAT, "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d")


def parse_date(text: str | None, reason: str) -> datetime | None:
    """OCO's ``YYYY-MM-DD HH:MM:SS`` (read as UTC, as fleetdeck renders it); empty = None."""
    if text is None or not text.strip():
        return None
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(text.strip(), fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise OcoError.reason(reason)


def in_oco_order(
    name: str, start: datetime | None, end: datetime | None, restart_timeout: int | None
) -> Callable[[datetime], None]:
    """OCO reports the first of these failures, in this order (after the permission): an empty
    name, a missing restart timeout, an end before the start. Core runs this before its own
    checks (which it may do in any order), so OCO's answer stays when several are wrong."""

    def check(now: datetime) -> None:
        check_name(name)
        if not restart_timeout or restart_timeout < 0:
            raise ValidationFailed(
                "restart timeout is required", field="restart_timeout", reason=Reason.REQUIRED_MISSING
            )
        if end is not None and end <= (start or now):
            raise ValidationFailed(
                "the end time cannot be before the start time", field="end", reason=Reason.END_BEFORE_START
            )

    return check


def pending_jobs_of_computer(ctx: Context, computer_id: int, limit: int | None = None) -> list[DeploymentJob]:
    """The computer's pending package jobs of job containers (not of deployment rules)."""
    query = Query(
        where=(
            Cond("computer_id", Op.EQ, computer_id),
            Cond("status", Op.IN, sorted(s.value for s in PENDING)),
            Cond("kind", Op.IN, list(PACKAGE_KINDS)),
        ),
        sort=(),
        limit=limit,
    )
    jobs = [
        ctx.services.deployments.get_job(ctx.actor, j.id)
        for j in ctx.services.jobs.find(ctx.actor, query).items
    ]
    return sorted((j for j in jobs if j.rule_id is None), key=lambda j: (j.sequence, j.id))


def containers_of(ctx: Context, jobs: Sequence[DeploymentJob]) -> dict[int, ContainerInfo | None]:
    """The container of each job (one read per container), for the joined ``job_container_*``
    fields; None for one deleted in the meantime."""
    found: dict[int, ContainerInfo | None] = {}
    for j in jobs:
        if j.container_id not in found:
            try:
                found[j.container_id] = ctx.services.deployments.get_container(ctx.actor, j.container_id)
            except NotFound:
                found[j.container_id] = None
    return found


def report_targets(ctx: Context, report_ids: Sequence[int], column: str) -> list[int]:
    ids: list[int] = []
    for rid in report_ids:
        ids += ctx.services.reports.target_ids(ctx.actor, rid, column)
    return ids


@METHODS.method("oco.job_container.list")
def job_container_list(ctx: Context) -> list[Any]:
    """All job containers."""
    return [
        render_jobs.container(c, ctx.user_id) for c in ctx.services.deployments.list_containers(ctx.actor)
    ]


@METHODS.method("oco.job_container.job.list")
def job_container_job_list(ctx: Context, id: OptId = None) -> list[Any]:
    """The jobs of one container, by computer and sequence."""
    if not id:
        raise NotFound("job container", id)
    jobs = ctx.services.deployments.container_jobs(ctx.actor, id)
    containers = containers_of(ctx, jobs)
    return [render_jobs.static_job(j, containers[j.container_id], ctx.user_id) for j in jobs]


@METHODS.method("oco.job_container.deploy")
def job_container_deploy(
    ctx: Context,
    name: Text = "",
    description: Text = "",
    computer_ids: IdList = (),
    computer_group_ids: IdList = (),
    computer_report_ids: IdList = (),
    package_ids: IdList = (),
    package_group_ids: IdList = (),
    package_report_ids: IdList = (),
    date_start: OptText = None,
    date_end: OptText = None,
    use_wol: Flag = True,
    shutdown_waked_after_completion: Flag = False,
    restart_timeout: OptInt = 5,
    force_install_same_version: Flag = False,
    sequence_mode: int = 0,
    priority: int = 0,
    agent_ip_ranges: StrList = (),
    time_frames: StrList = (),
) -> dict[str, Any]:
    """Create a job container that installs packages (and their dependencies) on computers."""
    start = parse_date(date_start, "please_fill_required_fields")
    end = parse_date(date_end, "end_time_before_start_time")
    created = ctx.services.deployments.deploy(
        ctx.actor,
        name,
        description=description,
        computer_ids=[*computer_ids, *report_targets(ctx, computer_report_ids, "computer_id")],
        computer_group_ids=list(computer_group_ids),
        package_ids=[*package_ids, *report_targets(ctx, package_report_ids, "package_id")],
        package_group_ids=list(package_group_ids),
        start=start,
        end=end,
        use_wol=use_wol,
        shutdown_waked_after_completion=shutdown_waked_after_completion,
        restart_timeout_min=restart_timeout,
        force_same_version=force_install_same_version,
        sequence_mode=sequence_mode,
        priority=priority,
        agent_ip_ranges=list(agent_ip_ranges),
        time_frames=list(time_frames),
        precheck=in_oco_order(name, start, end, restart_timeout),
    )
    return {"id": created_id(created.id)}


@METHODS.method("oco.job_container.uninstall")
def job_container_uninstall(
    ctx: Context,
    name: Text = "",
    description: Text = "",
    installation_ids: IdList = (),
    date_start: OptText = None,
    date_end: OptText = None,
    use_wol: Flag = True,
    shutdown_waked_after_completion: Flag = False,
    restart_timeout: OptInt = 5,
    sequence_mode: int = 0,
    priority: int = 0,
    agent_ip_ranges: StrList = (),
) -> dict[str, Any]:
    """Create a job container that uninstalls installations (returns ``{"id": null}``, as OCO)."""
    ctx.services.deployments.uninstall(
        ctx.actor,
        name,
        description=description,
        installation_ids=list(installation_ids),
        start=parse_date(date_start, "please_fill_required_fields"),
        end=parse_date(date_end, "end_time_before_start_time"),
        use_wol=use_wol,
        shutdown_waked_after_completion=shutdown_waked_after_completion,
        restart_timeout_min=restart_timeout,
        sequence_mode=sequence_mode,
        priority=priority,
        agent_ip_ranges=list(agent_ip_ranges),
    )
    return {"id": None}


@METHODS.method("oco.remove_installation_assignment")
def remove_installation_assignment(ctx: Context, id: OptId = None) -> list[Any]:
    """Forget that a package is installed on a computer (without uninstalling it)."""
    if not id:
        raise NotFound("installation", id)
    ctx.services.packages.remove_installation(ctx.actor, id)
    return []


@METHODS.method("oco.job_container.remove")
def job_container_remove(ctx: Context, id: OptId = None) -> list[Any]:
    """Delete a container and its jobs; pending jobs are not run any more."""
    if not id:
        raise NotFound("job container", id)
    ctx.services.deployments.remove_container(ctx.actor, id)
    return []


@METHODS.method("oco.job_container.job.remove")
def job_container_job_remove(ctx: Context, id: OptId = None) -> list[Any]:
    """Delete one job of a container."""
    if not id:
        raise NotFound("job", id)
    ctx.services.deployments.remove_job(ctx.actor, id)
    return []
