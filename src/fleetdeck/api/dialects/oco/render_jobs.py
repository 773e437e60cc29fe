"""Job containers (deployments), their jobs, deployment rules and rule jobs as OCO rows.

OCO's numeric job ``state`` is ``job_state`` (queued/sent 0, downloading 1, executing 2,
succeeded 3, failed -1, expired -2, skipped -3/-4/-5), derived here from core's status, phase
and skip reason: core has no numeric states. Post actions appear in two spellings:
static jobs have ``restart``/``shutdown`` (the timeout in minutes, or -1), rule jobs have
``post_action`` + ``post_action_timeout``.
"""

from __future__ import annotations

from fleetdeck.api.dialects.oco.render import Row, UserIds, created_by, flag, num, ts
from fleetdeck.core.deployments.entities import ContainerInfo, DeploymentJob, RuleInfo
from fleetdeck.core.jobs.entities import JobStatus, SkipReason

RESTART, SHUTDOWN = 1, 2
_SKIPPED: dict[str, int] = {
    SkipReason.OS_INCOMPATIBLE: -3,
    SkipReason.PACKAGE_CONFLICT: -4,
    SkipReason.ALREADY_INSTALLED: -5,
}


def job_state(status: JobStatus, phase: str = "", skip_reason: str = "") -> int:
    """OCO's numeric job state, from core's status, phase and skip reason:

    =====  ===========================================  ==================================
    state  meaning                                      fleetdeck
    =====  ===========================================  ==================================
      0    waiting for the agent                        queued, sent
      1    download started (progress 0..100, >100      running, phase download / unpack
           = unpacking)
      2    execution started                            running, phase execute (or none)
      3    succeeded                                    succeeded
     -1    failed (return code -8888 = aborted after    failed, timeout, cancelled
           a failed job, -9999 = agent-side error)
     -2    expired                                      expired
     -3    OS incompatible                              skipped, skip_reason os_incompatible
     -4    package conflict                             skipped, skip_reason package_conflict
     -5    already installed                            skipped, skip_reason already_installed
    =====  ===========================================  ==================================
    """
    if status in (JobStatus.QUEUED, JobStatus.SENT):
        return 0
    if status is JobStatus.RUNNING:
        return 1 if phase in ("download", "unpack") else 2
    if status is JobStatus.SUCCEEDED:
        return 3
    if status is JobStatus.EXPIRED:
        return -2
    if status is JobStatus.SKIPPED:
        return _SKIPPED.get(skip_reason, -3)
    return -1


def joined(values: list[str]) -> str | None:
    """IP ranges and time frames: OCO stores the list as one ``", "``-joined text, NULL when
    empty."""
    return ", ".join(values) if values else None


def container(c: ContainerInfo, user_id: UserIds) -> Row:
    """A ``job_container.list`` row: the seed's fields and current OCO's whole
    ``JobContainer`` object with its joined user names and ``execution_finished``."""
    creator_id, creator = created_by(c.created_by, user_id)
    return {
        "id": c.id,
        "name": c.name,
        "enabled": flag(c.enabled),
        "start_time": ts(c.start_at),
        "end_time": ts(c.end_at),
        "notes": c.description,
        "wol_sent": c.wol_sent,
        "shutdown_waked_after_completion": flag(c.shutdown_waked_after_completion),
        "sequence_mode": c.sequence_mode,
        "priority": c.priority,
        "agent_ip_ranges": joined(c.agent_ip_ranges),
        "time_frames": joined(c.time_frames),
        "self_service": 0,
        "created": ts(c.created_at),
        "created_by_system_user_id": creator_id,
        "created_by_domain_user_id": None,
        "created_by_system_user_username": creator,
        "created_by_domain_user_username": None,
        "execution_finished": ts(c.execution_finished),
        "last_update": ts(c.execution_finished or c.created_at),
    }


def _last_update(j: DeploymentJob) -> str | None:
    return ts(j.finished_at or j.started_at or j.sent_at or j.created_at)


def _post_action_as_timeouts(j: DeploymentJob) -> Row:
    return {
        "restart": num(j.post_action_timeout_min) if j.post_action == RESTART else -1,
        "shutdown": num(j.post_action_timeout_min) if j.post_action == SHUTDOWN else -1,
    }


def _execution(j: DeploymentJob) -> Row:
    return {
        "sequence": num(j.sequence),
        "state": job_state(j.status, j.phase, j.skip_reason),
        # OCO's agents send more than 100 while unpacking; fleetdeck's agent reports the phase.
        "download_progress": 101
        if j.status is JobStatus.RUNNING and j.phase == "unpack"
        else num(j.progress),
        "return_code": num(j.exit_code),
        "message": j.message,
    }


def _timestamps(j: DeploymentJob) -> Row:
    """OCO's per-transition times. fleetdeck records when the agent started the job (its
    download comes first when it has a payload) and when it finished."""
    started = ts(j.started_at)
    return {
        "download_started": started
        if j.download and job_state(j.status, j.phase, j.skip_reason) in (1, 2, 3, -1)
        else None,
        "execution_started": started,
        "execution_finished": ts(j.finished_at),
    }


def static_job(j: DeploymentJob, c: ContainerInfo | None, user_id: UserIds) -> Row:
    """A job of a job container, as ``job_container.job.list``, ``computer.get``'s and
    ``package.get``'s ``pending_jobs`` show it: one key set, the union of the seed's three
    shapes and current OCO's whole ``StaticJob`` with its joined ``job_container_*`` fields
    (issue #14). ``c`` is the job's container (None only if it vanished meanwhile)."""
    creator_id = created_by(c.created_by, user_id)[0] if c is not None else None
    return {
        "id": j.id,
        "job_container_id": j.container_id,
        "computer_id": j.computer_id,
        "package_id": num(j.package_id),
        "procedure": j.procedure,
        "success_return_codes": j.success_codes,
        "upgrade_behavior": j.upgrade_behavior,
        "is_uninstall": flag(j.is_uninstall),
        "download": flag(j.download),
        **_post_action_as_timeouts(j),
        "post_action": j.post_action,
        "post_action_timeout": j.post_action_timeout_min,
        **_execution(j),
        "wol_shutdown_set": ts(j.wol_shutdown_set),
        **_timestamps(j),
        "last_update": _last_update(j),
        "computer_hostname": j.hostname,
        "package_family_name": j.family_name,
        "package_version": j.version,
        "job_container_name": c.name if c is not None else None,
        "job_container_start_time": ts(j.container_start),
        "job_container_created_by_system_user_id": creator_id,
        "job_container_created_by_domain_user_id": None,
        "job_container_enabled": flag(c.enabled) if c is not None else None,
        "job_container_sequence_mode": c.sequence_mode if c is not None else None,
        "job_container_priority": j.container_priority,
        "job_container_agent_ip_ranges": joined(c.agent_ip_ranges) if c is not None else None,
        "job_container_time_frames": joined(c.time_frames) if c is not None else None,
        "job_container_self_service": 0,
    }


def rule(r: RuleInfo, user_id: UserIds) -> Row:
    creator_id, creator = created_by(r.created_by, user_id)
    return {
        "id": num(r.id),
        "name": r.name,
        "notes": r.notes,
        "enabled": flag(r.enabled),
        "computer_group_id": num(r.computer_group_id),
        "package_group_id": num(r.package_group_id),
        "priority": num(r.priority),
        "post_action_timeout": num(r.post_action_timeout_min),
        "created": ts(r.created_at),
        "created_by_system_user_id": creator_id,
        "sequence_mode": num(r.sequence_mode),
        "created_by_system_user_username": creator,
    }


def rule_job(j: DeploymentJob, r: RuleInfo) -> Row:
    return {
        "deployment_rule_id": num(r.id),
        "deployment_rule_name": r.name,
        "deployment_rule_enabled": flag(r.enabled),
        "deployment_rule_sequence_mode": num(r.sequence_mode),
        "deployment_rule_priority": num(r.priority),
        "id": num(j.id),
        "computer_id": num(j.computer_id),
        "package_id": num(j.package_id),
        "procedure": j.procedure,
        "success_return_codes": j.success_codes,
        "is_uninstall": flag(j.is_uninstall),
        "download": flag(j.download),
        "upgrade_behavior": j.upgrade_behavior,
        "post_action": num(j.post_action),
        "post_action_timeout": num(j.post_action_timeout_min),
        **_execution(j),
        "wol_shutdown_set": None,
        **_timestamps(j),
        "computer_hostname": j.hostname,
        "package_family_name": j.family_name,
        "package_version": j.version,
    }
