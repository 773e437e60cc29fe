"""Topic names shared by publishers and subscribers, so they are spelled once."""

from __future__ import annotations

JOBS_QUEUED = "jobs.queued"  # payload: JSON list of computer ids with new queued jobs
JOBS_CANCEL = "jobs.cancel"  # payload: JSON list of [computer_id, job_id]


def job_output_topic(job_id: int) -> str:
    """Payload: the agent's JobOutput frame, verbatim."""
    return f"job.output.{job_id}"


def job_status_topic(job_id: int) -> str:
    """Payload: b"final" once the job's result is committed."""
    return f"job.status.{job_id}"
