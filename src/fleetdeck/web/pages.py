"""The dashboard and the computers pages: parse the query string, call core as the logged-in
user, render. Lists use core's query spec (``core/query.py``), as ``/api/v1`` does, so paging,
sorting and filtering happen in the database however many computers there are."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from fleetdeck.core.authz import Perm
from fleetdeck.core.deployments.entities import ContainerStatus
from fleetdeck.core.errors import NotFound
from fleetdeck.core.jobs.entities import JobStatus
from fleetdeck.core.query import AnyOf, Cond, Expr, Op, Query, SortKey
from fleetdeck.web.app import Call, WebUI

PAGE_SIZES = (25, 50, 100, 200)
DEFAULT_PAGE_SIZE = 50
SORTS = {
    "hostname": "Name",
    "os": "Operating system",
    "remote_address": "Address",
    "ram_bytes": "RAM",
    "agent_version": "Agent",
    "last_seen": "Last seen",
    "online": "State",
}
SEARCHED = ("hostname", "fqdn", "remote_address", "os")
POLL_SEC = 5
JOB_HISTORY = 50
DAY = timedelta(days=1)

# Job states as the dashboard groups them (last 24 h).
JOB_BARS: tuple[tuple[str, tuple[JobStatus, ...]], ...] = (
    ("queued", (JobStatus.QUEUED,)),
    ("running", (JobStatus.SENT, JobStatus.RUNNING)),
    ("succeeded", (JobStatus.SUCCEEDED,)),
    ("failed", (JobStatus.FAILED, JobStatus.TIMEOUT, JobStatus.EXPIRED)),
    ("cancelled", (JobStatus.CANCELLED, JobStatus.SKIPPED)),
)


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: int
    css: str


@dataclass(frozen=True, slots=True)
class ListArgs:
    """The computers list's query string, checked: unknown sort keys, page sizes and negative
    pages fall back to defaults instead of failing (the URL is the user's to edit)."""

    q: str = ""
    group: int | None = None
    os: str = ""
    online: str = ""  # "", "yes", "no"
    sort: str = "hostname"
    page: int = 1
    size: int = DEFAULT_PAGE_SIZE

    @classmethod
    def parse(cls, call: Call) -> ListArgs:
        def number(name: str, default: int) -> int:
            text = call.arg(name)
            return int(text) if text.isdigit() and len(text) < 10 else default

        sort = call.arg("sort", "hostname")
        if sort.lstrip("-") not in SORTS:
            sort = "hostname"
        size = number("size", DEFAULT_PAGE_SIZE)
        group = number("group", 0)
        online = call.arg("online")
        return cls(
            q=call.arg("q").strip()[:200],
            group=group or None,
            os=call.arg("os").strip()[:200],
            online=online if online in ("yes", "no") else "",
            sort=sort,
            page=max(1, number("page", 1)),
            size=size if size in PAGE_SIZES else DEFAULT_PAGE_SIZE,
        )

    def query(self) -> Query:
        where: list[Expr] = []
        if self.q:
            pattern = self.q if "*" in self.q else f"*{self.q}*"
            where.append(AnyOf(tuple(Cond(f, Op.LIKE, pattern) for f in SEARCHED)))
        if self.group is not None:
            where.append(Cond("group_ids", Op.CONTAINS, self.group))
        if self.os:
            where.append(Cond("os", Op.LIKE, self.os if "*" in self.os else f"*{self.os}*"))
        if self.online:
            where.append(Cond("online", Op.EQ, self.online == "yes"))
        sort = (SortKey.parse(self.sort), SortKey("id"))
        return Query(tuple(where), sort, self.size, (self.page - 1) * self.size)

    def url(self, **changes: Any) -> str:
        """This list's URL with some arguments changed (paging, sorting)."""
        values = {
            "q": self.q,
            "group": self.group or "",
            "os": self.os,
            "online": self.online,
            "sort": self.sort,
            "page": self.page,
            "size": self.size,
            **changes,
        }
        defaults = {"sort": "hostname", "page": 1, "size": DEFAULT_PAGE_SIZE}
        kept = {k: v for k, v in values.items() if v not in ("", None) and defaults.get(k) != v}
        return "/computers" + (f"?{urlencode(kept)}" if kept else "")

    def sort_url(self, key: str) -> str:
        return self.url(sort=f"-{key}" if self.sort == key else key, page=1)


def routes(ui: WebUI) -> list[Route]:
    services = ui.services

    def dashboard(call: Call) -> Response:
        actor = call.user.actor
        online = services.computers.find(actor, Query((Cond("online", Op.EQ, True),), limit=1)).total
        total = services.computers.find(actor, Query(limit=1)).total
        since = datetime.now(UTC) - DAY
        jobs = [
            Bar(
                label,
                services.jobs.find(
                    actor,
                    Query(
                        (Cond("created_at", Op.GE, since), Cond("status", Op.IN, [s.value for s in states])),
                        limit=1,
                    ),
                ).total,
                label,
            )
            for label, states in JOB_BARS
        ]
        containers = services.deployments.list_containers(actor)
        active = [
            c
            for c in containers
            if c.status in (ContainerStatus.IN_PROGRESS, ContainerStatus.WAITING_FOR_START)
        ]
        deployments = [
            Bar(
                status.value.replace("_", " "), sum(1 for c in containers if c.status == status), status.value
            )
            for status in ContainerStatus
        ]
        return ui.render(
            call,
            "dashboard.html",
            computers=[Bar("online", online, "online"), Bar("offline", total - online, "offline")],
            total=total,
            online=online,
            jobs=jobs,
            deployments=deployments,
            active=sorted(active, key=lambda c: c.id, reverse=True)[:10],
            poll=POLL_SEC * 3,
        )

    def computers(call: Call) -> Response:
        actor = call.user.actor
        args = ListArgs.parse(call)
        page = services.computers.find(actor, args.query())
        pages = max(1, -(-page.total // args.size))
        context: dict[str, Any] = {
            "args": args,
            "rows": page.items,
            "total": page.total,
            "pages": pages,
            "poll": POLL_SEC,
        }
        if call.htmx and call.request.headers.get("hx-target") in ("computers-table", "rows"):
            response = ui.render(call, "computers_table.html", **context)
            if call.request.headers.get("hx-target") == "computers-table":
                response.headers["HX-Push-Url"] = args.url()  # the short form, not every empty field
            return response
        groups = services.groups.find(actor, Query(sort=(SortKey("name"),), limit=None)).items
        return ui.render(call, "computers.html", groups=groups, sorts=SORTS, sizes=PAGE_SIZES, **context)

    def computer(call: Call) -> Response:
        actor = call.user.actor
        computer_id = _id(call)
        detail = services.computers.get(actor, computer_id)
        jobs = services.jobs.find(
            actor, Query((Cond("computer_id", Op.EQ, computer_id),), (SortKey("id", True),), JOB_HISTORY)
        )
        installed = services.packages.list_installations(actor, computer_id=computer_id)
        return ui.render(
            call,
            "computer.html",
            c=detail,
            s=detail.summary,
            jobs=jobs.items,
            jobs_total=jobs.total,
            installed=installed,
            software=detail.software,
            software_q="",
            can_edit=call.user.can(Perm.MANAGE_COMPUTERS),
            can_run=call.user.can(Perm.RUN_COMMANDS),
            can_terminal=call.user.can(Perm.REMOTE_ACCESS),
            saved=call.arg("saved") == "1",
            poll=POLL_SEC,
        )

    def state(call: Call) -> Response:
        """The online badge of one computer, polled by its detail page."""
        s = services.computers.get(call.user.actor, _id(call)).summary
        return ui.render(call, "computer_state.html", s=s, poll=POLL_SEC)

    def software(call: Call) -> Response:
        """The installed-software table of one computer, filtered by name or version."""
        detail = services.computers.get(call.user.actor, _id(call))
        q = call.arg("q").strip().lower()
        rows = (
            [p for p in detail.software if q in p.name.lower() or q in p.version.lower()]
            if q
            else detail.software
        )
        return ui.render(call, "computer_software.html", c=detail, software=rows, software_q=q)

    def save_notes(call: Call) -> Response:
        computer_id = _id(call)
        services.computers.update(call.user.actor, computer_id, notes=call.field("notes")[:10_000])
        return RedirectResponse(f"/computers/{computer_id}?saved=1", 303)

    return [
        Route("/", ui.endpoint(dashboard), methods=["GET"]),
        Route("/computers", ui.endpoint(computers), methods=["GET"]),
        Route("/computers/{computer_id:int}", ui.endpoint(computer), methods=["GET"]),
        Route("/computers/{computer_id:int}/state", ui.endpoint(state), methods=["GET"]),
        Route("/computers/{computer_id:int}/software", ui.endpoint(software), methods=["GET"]),
        Route("/computers/{computer_id:int}/notes", ui.endpoint(save_notes), methods=["POST"]),
    ]


def _id(call: Call) -> int:
    value = call.request.path_params["computer_id"]
    if not isinstance(value, int) or not 0 < value < 2**63:
        raise NotFound("computer", value)
    return value
