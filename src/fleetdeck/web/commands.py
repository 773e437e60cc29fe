"""Running commands from the UI: the form (for a selection of computers), a command's page with
each computer's output streamed live, cancel, and the command history.

Every change is one core call (``jobs.create_commands``, ``jobs.cancel``): the permission check
and the audit record are core's, as for ``POST /api/v1/commands``. Live output follows core's
``JobWatch`` port, the one ``/api/v1/jobs/{id}/stream`` uses, and reaches the browser as
server-sent events (``EventSource`` reconnects by itself; a WebSocket would need more script).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from fleetdeck.core.authz import Actor, Perm
from fleetdeck.core.errors import FleetdeckError, NotFound, ValidationFailed
from fleetdeck.core.jobs.entities import FINAL, CommandRequest, JobInfo
from fleetdeck.core.query import Cond, Op, Query, SortKey
from fleetdeck.web.app import PAGE_HEADERS, Call, LoginRequired, WebUI, capped

log = logging.getLogger("fleetdeck.web")

HISTORY_PAGE = 50
MAX_SELECTION = 1000  # computers per form; larger runs go through groups on /api/v1
DEFAULT_TIMEOUT = 300


def _ids(values: list[str]) -> list[int]:
    """Checkbox values as computer ids; anything else is dropped (the URL is the user's to edit)."""
    ids = sorted({int(v) for v in values if v.isdigit() and 0 < len(v) < 19})
    return ids[:MAX_SELECTION]


def _sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


def _job_state(job: JobInfo) -> dict[str, Any]:
    state: dict[str, Any] = {
        "id": job.id,
        "status": job.status.value,
        "exit_code": job.exit_code,
        "message": job.message,
        "final": job.status in FINAL,
    }
    if job.status in FINAL:  # the stored output is the whole truth once the job has ended
        state["stdout"], state["stderr"] = job.stdout, job.stderr
    return state


def routes(ui: WebUI) -> list[Route]:
    services = ui.services

    def names(actor: Actor, ids: list[int]) -> dict[int, str]:
        if not ids:
            return {}
        page = services.computers.find(actor, Query((Cond("id", Op.IN, ids),), limit=None))
        return {c.id: c.hostname for c in page.items}

    def form_page(call: Call, ids: list[int], status: int = 200, **context: Any) -> Response:
        actor = call.user.actor
        actor.require(Perm.RUN_COMMANDS)  # a viewer gets "not allowed", not a form that fails later
        chosen = names(actor, ids)
        return ui.render(
            call,
            "command_new.html",
            status,
            computers=sorted(chosen.items(), key=lambda kv: kv[1]),
            command=context.pop("command", ""),
            timeout=context.pop("timeout", DEFAULT_TIMEOUT),
            **context,
        )

    def new_command(call: Call) -> Response:
        return form_page(call, _ids(call.fields("computer")))

    def run_command(call: Call) -> Response:
        ids = _ids(call.fields("computer"))
        command = call.field("command")
        timeout_text = call.field("timeout", str(DEFAULT_TIMEOUT)).strip()
        errors: dict[str, str] = {}
        if not ids:
            errors["computer"] = "Choose at least one computer."
        if not command.strip():
            errors["command"] = "Enter a command."
        timeout = DEFAULT_TIMEOUT
        if not timeout_text.isdigit() or not 1 <= int(timeout_text[:7]) <= 86_400:
            errors["timeout"] = "The timeout is a number of seconds from 1 to 86400."
        else:
            timeout = int(timeout_text)
        if not errors:
            try:
                batch = services.jobs.create_commands(
                    call.user.actor, CommandRequest(command=command, timeout_sec=timeout), computer_ids=ids
                )
                return RedirectResponse(f"/commands/{batch.batch_id}", 303)
            except ValidationFailed as exc:
                errors[exc.field if exc.field in ("command", "timeout") else "command"] = str(exc)
            except NotFound as exc:
                errors["computer"] = f"{exc.object_type.capitalize()} {exc.object_id} no longer exists."
        return form_page(call, ids, 400, errors=errors, command=command, timeout=timeout_text)

    def batch(call: Call) -> Response:
        actor = call.user.actor
        batch_id = call.path_id("batch_id")
        info = services.jobs.get_batch(actor, batch_id)
        jobs = services.jobs.find(
            actor, Query((Cond("batch_id", Op.EQ, batch_id),), (SortKey("id"),), limit=None)
        ).items
        hosts = names(actor, sorted({j.computer_id for j in jobs}))
        return ui.render(
            call,
            "command.html",
            batch=info,
            jobs=jobs,
            hosts=hosts,
            final=FINAL,
            can_cancel=call.user.can(Perm.RUN_COMMANDS),
        )

    def history(call: Call) -> Response:
        actor = call.user.actor
        page_no = call.page_number()
        page = services.jobs.find(
            actor,
            Query(
                (Cond("kind", Op.EQ, "command"),),
                (SortKey("id", True),),
                HISTORY_PAGE,
                (page_no - 1) * HISTORY_PAGE,
            ),
        )
        hosts = names(actor, sorted({j.computer_id for j in page.items}))
        pages = max(1, -(-page.total // HISTORY_PAGE))
        return ui.render(
            call,
            "commands.html",
            jobs=page.items,
            total=page.total,
            hosts=hosts,
            page=page_no,
            pages=pages,
            can_run=call.user.can(Perm.RUN_COMMANDS),
        )

    def cancel(call: Call) -> Response:
        job = services.jobs.cancel(call.user.actor, call.path_id("job_id"))
        return RedirectResponse(f"/commands/{job.batch_id}#job-{job.id}", 303)

    async def events(request: Request) -> Response:
        """Server-sent events for one job: ``job`` (status, exit code; with the stored output
        once final), ``output`` (each frame the agent sends), then ``end``."""
        try:
            caller = await run_in_threadpool(ui.caller, request)
        except LoginRequired:
            return Response("log in first", 401, media_type="text/plain")
        raw = request.path_params["job_id"]
        job_id = raw if isinstance(raw, int) and 0 < raw < 2**63 else 0

        async def stream() -> AsyncGenerator[str, None]:
            actor = caller.actor
            try:
                async with ui.watch.follow(job_id) as feed:  # subscribed before the first read
                    job = await run_in_threadpool(services.jobs.get, actor, job_id)
                    yield _sse("job", _job_state(job))
                    if job.status not in FINAL:

                        async def is_final() -> bool:
                            got = await run_in_threadpool(services.jobs.get, actor, job_id)
                            return got.status in FINAL

                        started = job.started_at is not None
                        async for out in feed.outputs(is_final):
                            if await request.is_disconnected():
                                return
                            if not started:  # output means it runs: show "running" from now on
                                started = True
                                job = await run_in_threadpool(services.jobs.get, actor, job_id)
                                yield _sse("job", _job_state(job))
                            yield _sse("output", {"stream": out.stream, "data": out.data})
                        job = await run_in_threadpool(services.jobs.get, actor, job_id)
                        yield _sse("job", _job_state(job))
            except FleetdeckError as exc:
                yield _sse("failure", {"message": str(exc)})
            yield _sse("end", {})

        headers = {**PAGE_HEADERS, "X-Accel-Buffering": "no"}
        live = capped(ui.live_views, caller.actor.username, stream())
        return StreamingResponse(live, media_type="text/event-stream", headers=headers)

    return [
        Route("/commands", ui.endpoint(history), methods=["GET"]),
        Route("/commands", ui.endpoint(run_command), methods=["POST"]),
        Route("/commands/new", ui.endpoint(new_command), methods=["GET"]),
        # the computers list's selection form (a POST: it carries the CSRF token for its other
        # buttons, wake, reboot and add to group); only shows the form
        Route("/commands/new", ui.endpoint(new_command), methods=["POST"]),
        Route("/commands/{batch_id:int}", ui.endpoint(batch), methods=["GET"]),
        Route("/jobs/{job_id:int}/cancel", ui.endpoint(cancel), methods=["POST"]),
        Route("/jobs/{job_id:int}/events", events, methods=["GET"]),
    ]
