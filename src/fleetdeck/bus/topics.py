"""Topic names shared by publishers and subscribers, so they are spelled once."""

from __future__ import annotations

JOBS_QUEUED = "jobs.queued"  # payload: JSON list of computer ids with new queued jobs
JOBS_CANCEL = "jobs.cancel"  # payload: JSON list of [computer_id, job_id]
COMPUTERS_DELETED = "computers.deleted"  # payload: JSON list of computer ids
# A computer's agent was replaced by a re-enrollment: every node closes the connections of that
# computer authenticated with a key issued before. Payload: JSON list of [computer_id, unix time].
AGENTS_REKEYED = "agents.rekeyed"


def job_output_topic(job_id: int) -> str:
    """Payload: the agent's JobOutput frame, verbatim."""
    return f"job.output.{job_id}"


def job_status_topic(job_id: int) -> str:
    """Payload: b"final" once the job's result is committed."""
    return f"job.status.{job_id}"


# Jobs of these batches (a deployment, a command run) changed state, phase or progress, committed.
# Payload: JSON list of batch ids. Wakes the pages that show a batch live (the deployment page).
JOBS_CHANGED = "jobs.changed"

JOB_STATUS_ALL = "job.status.*"  # every job's final announcement (waiting for many jobs at once)


def agent_request_topic(node_id: str) -> str:
    """Payload: ``bus.gateway.AgentCall``. Subscribed by the hub of the server process (node)
    that holds the agents; the answer goes to the call's ``reply_to``."""
    return f"agent.request.{node_id}"


AGENT_REPLY_PREFIX = "agent.reply."  # + "<process token>.<call token>"; payload: ``bus.gateway.AgentAnswer``

# Committed changes of computers and package states (``core.changes``). Payload: JSON list of
# ``core.changes.Change`` objects, in commit order.
CHANGES = "changes"
