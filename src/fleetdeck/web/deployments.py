"""Deployments (job containers that install packages) and deployment rules.

Each change is one core call (``deployments.deploy``/``remove_container``/``remove_job``,
``jobs.cancel``, ``deployments.create_rule``/``update_rule``/``delete_rule``): the permission
check and the audit record are core's, as for ``/api/v1/deployments``. A deployment's page
shows its jobs 50 at a time, paged and filtered by state in the database (a deployment of 10,000
jobs is never sent whole), and follows the jobs on screen live through server-sent events
(``GET /deployments/{id}/events?job=...``). A stream reads the deployment's counts and those
jobs only when core announces that jobs of this deployment changed (``JobNotifier.jobs_changed``,
followed through core's ``JobWatch.batch``; at most every ``COALESCE_SEC``), sends a heartbeat
comment while nothing changes (no query), and ends when no job is pending.
Core has no "renew" of failed jobs; the page offers a new deployment of the same packages to
the computers whose jobs failed (the form, filled in).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from fleetdeck.core.authz import Actor, Perm
from fleetdeck.core.deployments.entities import ContainerInfo, ContainerStatus, DeploymentJob
from fleetdeck.core.errors import FleetdeckError, NotFound, ValidationFailed
from fleetdeck.core.jobs.entities import FINAL, JobStatus
from fleetdeck.core.query import Cond, Op, Query, SortKey
from fleetdeck.web import format as fmt
from fleetdeck.web.app import PAGE_HEADERS, Call, LoginRequired, WebUI, capped

PAGE = 50
JOBS_PAGE = 50  # a deployment's jobs per page (paged in the database)
JOBS_FOLLOWED = 200  # job ids one event stream follows (a page shows 50)
STATES = tuple(s.value for s in JobStatus)
AGAIN = ("failed", "expired", "timeout")  # jobs "Deploy again" offers
MAX_SELECTION = 1000
CHOICES = 1000  # packages offered by the form (search narrows it on /packages)
COALESCE_SEC = 0.25  # at most one read per this many seconds while jobs change
HEARTBEAT_SEC = 15.0  # a comment line when nothing changed for this long
HEARTBEAT = ": heartbeat\n\n"
STREAM_SEC = 600  # one stream's life; the page opens a new one while jobs are pending
LIVE = (ContainerStatus.IN_PROGRESS, ContainerStatus.WAITING_FOR_START)
FORM_FIELDS = (
    "name",
    "description",
    "start",
    "end",
    "restart_timeout_min",
    "sequence_mode",
    "priority",
    "computer_names",
)
DEPLOY_ERRORS = {
    "name": "name",
    "start": "start",
    "end": "end",
    "restart_timeout_min": "restart_timeout_min",
    "sequence_mode": "sequence_mode",
    "priority": "priority",
}
RULE_FIELDS = (
    "name",
    "notes",
    "computer_group_id",
    "package_group_id",
    "priority",
    "sequence_mode",
    "post_action_timeout_min",
)


def _ids(values: list[str]) -> list[int]:
    ids = sorted({int(v) for v in values if v.isdigit() and 0 < len(v) < 19})
    return ids[:MAX_SELECTION]


def _when(text: str) -> datetime:
    """A ``datetime-local`` field (no zone: UTC, the zone every page shows)."""
    value = datetime.fromisoformat(text)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _int(text: str, low: int, high: int) -> int | None:
    text = text.strip()
    digits = text.removeprefix("-")
    if not digits.isdigit() or len(digits) > 6:
        return None
    value = int(text)
    return value if low <= value <= high else None


def _sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


def job_state(j: DeploymentJob) -> dict[str, Any]:
    return {
        "id": j.id,
        "status": j.status.value,
        "final": j.status in FINAL,
        "phase": fmt.phase(j.phase, j.progress_bytes, j.progress_total),
        "progress": j.progress,
        "bytes": j.progress_bytes,
        "total": j.progress_total,
        "exit_code": j.exit_code,
        "message": j.message or j.skip_reason,
    }


def container_state(c: ContainerInfo, jobs: list[DeploymentJob]) -> dict[str, Any]:
    """The deployment's status and job counts by state (so the filter's counts stay live),
    and the followed jobs: those on screen, never the whole deployment."""
    return {
        "status": c.status.value,
        "live": c.status in LIVE,
        "counts": dict(sorted(c.counts.items())),
        "jobs": [job_state(j) for j in jobs],
    }


def routes(ui: WebUI) -> list[Route]:
    services = ui.services

    # ------------------------------------------------------------------ list

    def listing(call: Call) -> Response:
        rows = sorted(services.deployments.list_containers(call.user.actor), key=lambda c: c.id, reverse=True)
        page_no = call.page_number()
        pages = max(1, -(-len(rows) // PAGE))
        return ui.render(
            call,
            "deployments.html",
            containers=rows[(page_no - 1) * PAGE : page_no * PAGE],
            total=len(rows),
            page=page_no,
            pages=pages,
            can_deploy=call.user.can(Perm.DEPLOY),
        )

    # ------------------------------------------------------------------ new deployment

    def form_page(call: Call, status: int = 200, **context: Any) -> Response:
        actor = call.user.actor
        actor.require(Perm.DEPLOY)  # a viewer gets "not allowed", not a form that fails later
        computer_ids = context.pop("computer_ids", None)
        if computer_ids is None:
            computer_ids = _ids(call.fields("computer"))
        chosen = (
            services.computers.find(actor, Query((Cond("id", Op.IN, computer_ids),), limit=None)).items
            if computer_ids
            else []
        )
        packages = services.packages.find(
            actor, Query((), (SortKey("family_name"), SortKey("created_at", True)), CHOICES)
        ).items
        context.setdefault(
            "form",
            {
                "name": "",
                "description": "",
                "computer_names": "",
                "start": "",
                "end": "",
                "restart_timeout_min": "5",
                "sequence_mode": "0",
                "priority": "0",
                "package": [str(i) for i in _ids(call.fields("package"))],
                "package_group": [],
                "computer_group": [str(i) for i in _ids(call.fields("computer_group"))],
                "use_wol": "",
                "shutdown_waked_after_completion": "",
                "force_same_version": "",
            },
        )
        return ui.render(
            call,
            "deployment_new.html",
            status,
            computers=sorted(chosen, key=lambda c: c.hostname),
            packages=packages,
            package_groups=services.packages.list_groups(actor, all_levels=True),
            computer_groups=services.groups.find(actor, Query((), (SortKey("name"),), limit=None)).items,
            **context,
        )

    def new(call: Call) -> Response:
        return form_page(call)

    def create(call: Call) -> Response:
        form: dict[str, Any] = {name: call.field(name) for name in FORM_FIELDS}
        for name in ("package", "package_group", "computer_group"):
            form[name] = [str(i) for i in _ids(call.fields(name))]
        for name in ("use_wol", "shutdown_waked_after_completion", "force_same_version"):
            form[name] = "1" if call.field(name) else ""
        computer_ids = _ids(call.fields("computer"))
        errors: dict[str, str] = {}
        names = sorted({n for n in form["computer_names"].replace(",", " ").split() if n})[:MAX_SELECTION]
        if names:  # computers by name: a read; the deployment is one core call below
            found = services.computers.find(
                call.user.actor, Query((Cond("hostname", Op.IN, names),), limit=None)
            ).items
            missing = sorted(set(names) - {c.hostname for c in found})
            if missing:
                errors["computer_names"] = "No computer is named " + ", ".join(missing[:10]) + "."
            computer_ids = sorted({*computer_ids, *(c.id for c in found)})
        when: dict[str, datetime | None] = {"start": None, "end": None}
        for name in ("start", "end"):
            text = form[name].strip()
            if text:
                try:
                    when[name] = _when(text)
                except ValueError:
                    errors[name] = f"“{text[:40]}” is not a date and time (e.g. 2026-12-02T14:30)."
        timeout = _int(form["restart_timeout_min"], 1, 10_000)
        if timeout is None:
            errors["restart_timeout_min"] = "The restart timeout is a number of minutes from 1 to 10000."
        priority = _int(form["priority"], -100, 100)
        if priority is None:
            errors["priority"] = "The priority is a whole number from -100 to 100."
        mode = _int(form["sequence_mode"], 0, 1)
        if mode is None:
            errors["sequence_mode"] = "Choose what happens after a failed job."
        if not form["package"] and not form["package_group"]:
            errors["package"] = "Choose at least one package or package group."
        if not computer_ids and not form["computer_group"]:
            errors["computer"] = "Choose at least one computer or computer group."
        if not errors:
            try:
                created = services.deployments.deploy(
                    call.user.actor,
                    form["name"],
                    description=form["description"].strip(),
                    computer_ids=computer_ids,
                    computer_group_ids=[int(i) for i in form["computer_group"]],
                    package_ids=[int(i) for i in form["package"]],
                    package_group_ids=[int(i) for i in form["package_group"]],
                    start=when["start"],
                    end=when["end"],
                    use_wol=bool(form["use_wol"]),
                    shutdown_waked_after_completion=bool(form["shutdown_waked_after_completion"]),
                    restart_timeout_min=timeout,
                    force_same_version=bool(form["force_same_version"]),
                    sequence_mode=mode or 0,
                    priority=priority or 0,
                )
                return RedirectResponse(f"/deployments/{created.id}", 303)
            except ValidationFailed as exc:
                errors[DEPLOY_ERRORS.get(exc.field or "", "form")] = str(exc)
        return form_page(call, 400, form=form, errors=errors, computer_ids=computer_ids)

    # ------------------------------------------------------------------ one deployment

    def show(call: Call) -> Response:
        actor = call.user.actor
        container_id = call.path_id("container_id")
        info = services.deployments.get_container(actor, container_id)
        state = call.arg("status")
        errors: dict[str, str] = {}
        statuses: tuple[JobStatus, ...] = ()
        if state in STATES:
            statuses = (JobStatus(state),)
        elif state:
            errors["status"] = f"“{state[:40]}” is not a job state; every job is shown."
            state = ""
        page_no = call.page_number()
        found = services.deployments.container_jobs_page(
            actor, container_id, statuses=statuses, offset=(page_no - 1) * JOBS_PAGE, limit=JOBS_PAGE
        )
        again = ""
        if any(info.counts.get(st) for st in AGAIN):
            failed = services.deployments.container_jobs_page(
                actor, container_id, statuses=tuple(JobStatus(st) for st in AGAIN), limit=MAX_SELECTION
            ).items
            pairs = [("computer", j.computer_id) for j in failed] + [
                ("package", p) for p in sorted({j.package_id for j in failed if j.package_id})
            ]
            again = "/deployments/new?" + urlencode(sorted(set(pairs)))
        pages = max(1, -(-found.total // JOBS_PAGE))
        live = info.status in LIVE
        events = ""
        if live:
            events = f"/deployments/{container_id}/events?" + urlencode([("job", j.id) for j in found.items])
        return ui.render(
            call,
            "deployment.html",
            400 if errors else 200,
            c=info,
            jobs=found.items,
            total=found.total,
            page=page_no,
            pages=pages,
            state=state,
            states=STATES,
            errors=errors,
            final=FINAL,
            live=live,
            events=events,
            again=again,
            can_deploy=call.user.can(Perm.DEPLOY),
            can_cancel=call.user.can(Perm.RUN_COMMANDS),
        )

    def remove(call: Call) -> Response:
        services.deployments.remove_container(call.user.actor, call.path_id("container_id"))
        return RedirectResponse("/deployments?deleted=1", 303)

    def cancel_job(call: Call) -> Response:
        job = services.jobs.cancel(call.user.actor, call.path_id("job_id"))
        return RedirectResponse(f"/deployments/{job.batch_id}#job-{job.id}", 303)

    def remove_job(call: Call) -> Response:
        container_id = _ids([call.field("container")])
        services.deployments.remove_job(call.user.actor, call.path_id("job_id"))
        target = f"/deployments/{container_id[0]}" if container_id else "/deployments"
        return RedirectResponse(target, 303)

    async def events(request: Request) -> Response:
        """Server-sent events for one deployment: ``state`` (its status and every job's status,
        phase, progress, exit code) at once and whenever it changes, then ``end`` when no job
        is pending (or after ``STREAM_SEC``: the page reconnects, which also reads again after
        an announcement the bus lost: it delivers at most once)."""
        try:
            caller = await run_in_threadpool(ui.caller, request)
        except LoginRequired:
            return Response("log in first", 401, media_type="text/plain")
        raw = request.path_params["container_id"]
        container_id = raw if isinstance(raw, int) and 0 < raw < 2**63 else 0

        job_ids = _ids(request.query_params.getlist("job"))[:JOBS_FOLLOWED]

        def read(actor: Actor) -> dict[str, Any]:
            info = services.deployments.get_container(actor, container_id)
            shown = services.deployments.container_jobs_by_id(actor, container_id, job_ids)
            return container_state(info, shown)

        async def stream() -> AsyncGenerator[str, None]:
            until = time.monotonic() + STREAM_SEC
            try:
                # subscribed before the first read: a change in between wakes the next read
                async with ui.watch.batch(container_id) as feed:
                    last: dict[str, Any] | None = None
                    while True:
                        read_at = time.monotonic()
                        state = await run_in_threadpool(read, caller.actor)
                        if state != last:
                            yield _sse("state", state)
                            last = state
                        if not state["live"]:
                            break
                        changed = False
                        while not changed and (left := until - time.monotonic()) > 0:
                            changed = await feed.changed(min(HEARTBEAT_SEC, left))
                            if not changed:  # quiet: a comment keeps proxies from closing it
                                yield HEARTBEAT
                        if not changed:
                            break  # STREAM_SEC passed: the page opens a new stream
                        # coalesced: a burst of progress notices is one read, not one each
                        gap = read_at + COALESCE_SEC - time.monotonic()
                        if gap > 0:
                            await asyncio.sleep(gap)
                            await feed.changed(0.001)  # take along what came meanwhile
            except FleetdeckError as exc:
                yield _sse("failure", {"message": str(exc)})
            yield _sse("end", {})

        headers = {**PAGE_HEADERS, "X-Accel-Buffering": "no"}
        live = capped(ui.live_views, caller.actor.username, stream())
        return StreamingResponse(live, media_type="text/event-stream", headers=headers)

    # ------------------------------------------------------------------ rules

    def rules_page(call: Call, status: int = 200, **context: Any) -> Response:
        actor = call.user.actor
        context.setdefault(
            "form",
            {
                "name": "",
                "notes": "",
                "priority": "0",
                "sequence_mode": "0",
                "post_action_timeout_min": "5",
                "enabled": "1",
            },
        )
        return ui.render(
            call,
            context.pop("template", "rules.html"),
            status,
            rules=services.deployments.list_rules(actor),
            package_groups=services.packages.list_groups(actor, all_levels=True),
            computer_groups=services.groups.find(actor, Query((), (SortKey("name"),), limit=None)).items,
            can_deploy=call.user.can(Perm.DEPLOY),
            done=call.arg("done")[:80],
            **context,
        )

    def rule_form(call: Call) -> tuple[dict[str, str], dict[str, Any], dict[str, str]]:
        form = {name: call.field(name) for name in RULE_FIELDS} | {
            "enabled": "1" if call.field("enabled") else ""
        }
        errors: dict[str, str] = {}
        values: dict[str, Any] = {
            "name": form["name"],
            "notes": form["notes"].strip(),
            "enabled": bool(form["enabled"]),
        }
        for name, low, high, message in (
            ("computer_group_id", 1, 2**62, "Choose a computer group."),
            ("package_group_id", 1, 2**62, "Choose a package group."),
            ("priority", -100, 100, "The priority is a whole number from -100 to 100."),
            ("sequence_mode", 0, 1, "Choose what happens after a failed job."),
            ("post_action_timeout_min", 1, 10_000, "The timeout is a number of minutes from 1 to 10000."),
        ):
            text = form[name]
            value = int(text) if text.isdigit() and len(text) < 19 else _int(text, low, high)
            if value is None or not low <= value <= high:
                errors[name] = message
            else:
                values[name] = value
        return form, values, errors

    def rule_error(exc: FleetdeckError) -> tuple[str, str]:
        if isinstance(exc, NotFound):
            return (
                f"{exc.object_type.replace(' ', '_')}_id",
                f"The {exc.object_type} {exc.object_id} does not exist.",
            )
        field = exc.field if isinstance(exc, ValidationFailed) and exc.field in RULE_FIELDS else "name"
        return field, str(exc)

    def rules(call: Call) -> Response:
        return rules_page(call)

    def create_rule(call: Call) -> Response:
        form, values, errors = rule_form(call)
        if not errors:
            try:
                rule = services.deployments.create_rule(
                    call.user.actor,
                    values.pop("name"),
                    values.pop("computer_group_id"),
                    values.pop("package_group_id"),
                    **values,
                )
                return RedirectResponse(
                    f"/deployment-rules?{urlencode({'done': f'rule {rule.name} created'})}", 303
                )
            except (ValidationFailed, NotFound) as exc:
                field, message = rule_error(exc)
                errors[field] = message
        return rules_page(call, 400, form=form, errors=errors)

    def rule(call: Call, status: int = 200, **context: Any) -> Response:
        actor = call.user.actor
        rule_id = call.path_id("rule_id")
        info = services.deployments.get_rule(actor, rule_id)
        context.setdefault(
            "form",
            {
                "name": info.name,
                "notes": info.notes,
                "computer_group_id": str(info.computer_group_id),
                "package_group_id": str(info.package_group_id),
                "priority": str(info.priority),
                "sequence_mode": str(info.sequence_mode),
                "post_action_timeout_min": str(info.post_action_timeout_min),
                "enabled": "1" if info.enabled else "",
            },
        )
        return rules_page(
            call,
            status,
            template="rule.html",
            rule=info,
            jobs=services.deployments.rule_jobs(actor, rule_id),
            **context,
        )

    def show_rule(call: Call) -> Response:
        return rule(call)

    def update_rule(call: Call) -> Response:
        rule_id = call.path_id("rule_id")
        form, values, errors = rule_form(call)
        if not errors:
            try:
                services.deployments.update_rule(call.user.actor, rule_id, **values)
                return RedirectResponse(f"/deployment-rules/{rule_id}?done=saved", 303)
            except (ValidationFailed, NotFound) as exc:
                if isinstance(exc, NotFound) and exc.object_type == "deployment rule":
                    raise
                field, message = rule_error(exc)
                errors[field] = message
        return rule(call, 400, form=form, errors=errors)

    def delete_rule(call: Call) -> Response:
        services.deployments.delete_rule(call.user.actor, call.path_id("rule_id"))
        return RedirectResponse("/deployment-rules?done=rule+deleted", 303)

    return [
        Route("/deployments", ui.endpoint(listing), methods=["GET"]),
        Route("/deployments", ui.endpoint(create), methods=["POST"]),
        Route("/deployments/new", ui.endpoint(new), methods=["GET"]),
        # the computers list's selection (a POST carrying the CSRF token): the form, filled in
        Route("/deployments/new", ui.endpoint(new), methods=["POST"]),
        Route("/deployments/{container_id:int}", ui.endpoint(show), methods=["GET"]),
        Route("/deployments/{container_id:int}/delete", ui.endpoint(remove), methods=["POST"]),
        Route("/deployments/{container_id:int}/events", events, methods=["GET"]),
        Route("/deployment-jobs/{job_id:int}/cancel", ui.endpoint(cancel_job), methods=["POST"]),
        Route("/deployment-jobs/{job_id:int}/delete", ui.endpoint(remove_job), methods=["POST"]),
        Route("/deployment-rules", ui.endpoint(rules), methods=["GET"]),
        Route("/deployment-rules", ui.endpoint(create_rule), methods=["POST"]),
        Route("/deployment-rules/{rule_id:int}", ui.endpoint(show_rule), methods=["GET"]),
        Route("/deployment-rules/{rule_id:int}", ui.endpoint(update_rule), methods=["POST"]),
        Route("/deployment-rules/{rule_id:int}/delete", ui.endpoint(delete_rule), methods=["POST"]),
    ]
