"""Remote commands (a batch of jobs, one per computer) and jobs."""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from starlette.concurrency import run_in_threadpool

from fleetdeck.api.kit.concurrency import PerCaller, TooMany
from fleetdeck.api.v1.deps import CurrentActor, ServicesDep, get_watch
from fleetdeck.api.v1.listing import SYNTAX, ListQuery
from fleetdeck.api.v1.schemas.common import Data, DataList, IdPath, data_list, errors
from fleetdeck.api.v1.schemas.jobs import ActionCreate, BatchOut, CommandCreate, CommandCreated, JobOut
from fleetdeck.core.jobs.entities import FINAL, ActionRequest, BatchInfo, CommandRequest
from fleetdeck.core.ports import JobWatch

router = APIRouter(tags=["jobs"], responses=errors(401, 403, 422))

# How long one GET /commands/{id}?wait= may hold its connection: below the 60 s at which
# reverse proxies commonly cut an idle request; a script waiting longer asks again.
MAX_COMMAND_WAIT_SEC = 55
# Long polls one caller may have open at once: each holds a connection and a subscription that
# every final status is handed to, so a script may not open thousands (429 beyond this).
MAX_WAITS_PER_CALLER = 8


@router.post("/commands", status_code=201, responses=errors(400, 404))
def create_command(body: CommandCreate, actor: CurrentActor, services: ServicesDep) -> Data[CommandCreated]:
    """Run a command on computers and on the members of groups: one job per computer, queued
    until its agent is reachable. An unknown computer or group is a 404."""
    request = CommandRequest(
        command=body.command,
        interpreter=body.interpreter,
        cwd=body.cwd,
        timeout_sec=body.timeout_sec,
        env=body.env,
    )
    expires = timedelta(seconds=body.expires_in_sec) if body.expires_in_sec is not None else None
    batch = services.jobs.create_commands(
        actor, request, computer_ids=body.computer_ids, group_ids=body.group_ids, expires_in=expires
    )
    return Data(data=CommandCreated(id=batch.batch_id, job_ids=batch.job_ids))


@router.post("/actions", status_code=201, responses=errors(400, 404))
def create_action(body: ActionCreate, actor: CurrentActor, services: ServicesDep) -> Data[CommandCreated]:
    """Reboot or shut down computers, or show their users a message: one ``action`` job per
    computer, run by its agent (``GET /commands/{id}`` and ``/jobs`` show them). Same permission
    as commands."""
    request = ActionRequest(action=body.action, delay_min=body.delay_min, message=body.message)
    expires = timedelta(seconds=body.expires_in_sec) if body.expires_in_sec is not None else None
    batch = services.jobs.create_actions(
        actor, request, computer_ids=body.computer_ids, group_ids=body.group_ids, expires_in=expires
    )
    return Data(data=CommandCreated(id=batch.batch_id, job_ids=batch.job_ids))


@router.get("/commands/{batch_id}", responses=errors(404, 429))
async def get_command(
    request: Request,
    batch_id: IdPath,
    actor: CurrentActor,
    services: ServicesDep,
    watch: Annotated[JobWatch, Depends(get_watch)],
    wait: Annotated[
        float,
        Query(
            ge=0,
            le=MAX_COMMAND_WAIT_SEC,
            description="Seconds to wait for all of the command's jobs to be final before "
            "answering (a long poll: answers as soon as the last result is stored; 0, the "
            "default, answers at once). The counts say whether they all are.",
        ),
    ] = 0,
) -> Data[BatchOut]:
    """The command and how many of its jobs are in each status. With ``wait``, the answer
    comes when the last job is final (or ``wait`` seconds have passed), so a script need not
    poll: results are announced on the bus when stored, and no worker thread is held while
    waiting. A caller may wait on 8 at once; beyond that the answer is a 429."""
    batch = await run_in_threadpool(services.jobs.get_batch, actor, batch_id)
    if wait > 0 and not _all_final(batch):
        waits: PerCaller = request.app.state.command_waits
        try:
            with waits.slot(actor.username):
                await watch.await_final(batch.job_ids, wait, partial(services.jobs.final_among, actor))
        except TooMany as exc:
            raise HTTPException(
                429, f"at most {exc.limit} waits at once per caller", headers={"Retry-After": "1"}
            ) from None
        batch = await run_in_threadpool(services.jobs.get_batch, actor, batch_id)
    return Data(data=BatchOut.of(batch))


def _all_final(batch: BatchInfo) -> bool:
    return all(status in FINAL for status, n in batch.counts.items() if n)


@router.get(
    "/jobs",
    description="Jobs, newest first (fields: id, batch_id, computer_id, kind, status, "
    "exit_code, created_at, created_by, started_at, finished_at).\n" + SYNTAX,
)
def list_jobs(query: ListQuery, actor: CurrentActor, services: ServicesDep) -> DataList[JobOut]:
    page = services.jobs.find(actor, query)
    return data_list([JobOut.of(j) for j in page.items], page.total)


@router.get("/jobs/{job_id}", responses=errors(404))
def get_job(job_id: IdPath, actor: CurrentActor, services: ServicesDep) -> Data[JobOut]:
    """A job with its output. Live output: the WebSocket ``/jobs/{job_id}/stream``."""
    return Data(data=JobOut.of(services.jobs.get(actor, job_id)))


@router.post("/jobs/{job_id}/cancel", responses=errors(404, 409))
def cancel_job(job_id: IdPath, actor: CurrentActor, services: ServicesDep) -> Data[JobOut]:
    """A queued job is cancelled at once; a delivered one is stopped by its agent, which reports
    the final status. A job that has finished already is a 409."""
    return Data(data=JobOut.of(services.jobs.cancel(actor, job_id)))
