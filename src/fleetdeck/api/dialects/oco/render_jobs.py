"""Job containers (deployments), their jobs, deployment rules and rule jobs as OCO rows.

OCO's numeric job ``state`` is ``job_state`` (queued/sent 0, downloading 1, executing 2,
succeeded 3, failed -1, expired -2, skipped -3/-4/-5), derived here from core's status, phase
and skip reason: core has no numeric states. Post actions appear in two spellings:
static jobs have ``restart``/``shutdown`` (the timeout in minutes, or -1), rule jobs have
``post_action`` + ``post_action_timeout``.
"""

from __future__ import annotations

from fleetdeck.api.dialects.oco.render import Row, UserIds, flag, num, ts
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


def container(c: ContainerInfo, user_id: UserIds) -> Row:
    return {
        "id": num(c.id),
        "name": c.name,
        "start_time": ts(c.start_at),
        "end_time": ts(c.end_at),
        "notes": c.description,
        "wol_sent": num(c.wol_sent),
        "created": ts(c.created_at),
        "created_by_system_user_id": user_id(c.created_by),
        "created_by_domain_user_id": None,
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
        "download_progress": num(j.progress),
        "return_code": num(j.exit_code),
        "message": j.message,
    }


def container_job(j: DeploymentJob) -> Row:
    """A row of ``job_container.job.list``."""
    return {
        "id": num(j.id),
        "job_container_id": num(j.container_id),
        "computer_id": num(j.computer_id),
        "package_id": num(j.package_id),
        "procedure": j.procedure,
        "success_return_codes": j.success_codes,
        "is_uninstall": flag(j.is_uninstall),
        "download": flag(j.download),
        **_post_action_as_timeouts(j),
        **_execution(j),
        "last_update": _last_update(j),
        "computer_hostname": j.hostname,
        "package_family_name": j.family_name,
        "package_version": j.version,
        "job_container_start_time": ts(j.container_start),
    }


def computer_pending_job(j: DeploymentJob, container_name: str) -> Row:
    """A row of ``computer.get``'s ``pending_jobs``."""
    return {
        "id": num(j.id),
        "job_container_id": num(j.container_id),
        "computer_id": num(j.computer_id),
        "package_id": num(j.package_id),
        "procedure": j.procedure,
        "success_return_codes": j.success_codes,
        "is_uninstall": flag(j.is_uninstall),
        "download": flag(j.download),
        **_post_action_as_timeouts(j),
        **_execution(j),
        "last_update": _last_update(j),
        "package_family_name": j.family_name,
        "package_version": j.version,
        "job_container_start_time": ts(j.container_start),
        "job_container_name": container_name,
    }


def package_pending_job(j: DeploymentJob, container_name: str) -> Row:
    """A row of ``package.get``'s ``pending_jobs``."""
    return {
        "id": num(j.id),
        "job_container_id": num(j.container_id),
        "computer_id": num(j.computer_id),
        "success_return_codes": j.success_codes,
        "is_uninstall": flag(j.is_uninstall),
        "download": flag(j.download),
        **_post_action_as_timeouts(j),
        **_execution(j),
        "wol_shutdown_set": ts(j.wol_shutdown_set),
        "last_update": _last_update(j),
        "computer_hostname": j.hostname,
        "package_family_name": j.family_name,
        "package_version": j.version,
        "job_container_start_time": ts(j.container_start),
        "job_container_name": container_name,
        "procedure": j.procedure,
    }


def rule(r: RuleInfo, user_id: UserIds) -> Row:
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
        "created_by_system_user_id": user_id(r.created_by),
        "sequence_mode": num(r.sequence_mode),
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
        "post_action": num(j.post_action),
        "post_action_timeout": num(j.post_action_timeout_min),
        **_execution(j),
        "wol_shutdown_set": None,
        "download_started": ts(j.started_at)
        if job_state(j.status, j.phase, j.skip_reason) in (1, 2, 3, -1)
        else None,
        "execution_started": ts(j.started_at),
        "execution_finished": ts(j.finished_at),
        "computer_hostname": j.hostname,
        "package_family_name": j.family_name,
        "package_version": j.version,
    }
