"""Report groups: the list (50 a page, in the database), create, rename, move, describe and
delete (``manage_reports``: admins). Each change is one core call
(``reports.groups.create``/``update``/``delete``), which checks the permission, writes the audit
record and holds the rules (a unique name among siblings, no group moved below itself, no delete
while reports or subgroups are in it); a refusal is shown next to what caused it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from fleetdeck.core.authz import Perm
from fleetdeck.core.errors import Conflict, NotFound, ValidationFailed
from fleetdeck.core.query import Cond, Op, Query, SortKey
from fleetdeck.core.reports.entities import ReportGroupInfo
from fleetdeck.web import group_forms
from fleetdeck.web.app import Call, WebUI

PAGE = 50


def routes(ui: WebUI) -> list[Route]:
    services = ui.services

    def choices(call: Call) -> dict[int, str]:
        """Every report group by id: the parent select and the parents' names."""
        found = services.reports.groups.find(call.user.actor, Query(sort=(SortKey("name"),), limit=None))
        return {g.id: g.name for g in found.items}

    def list_page(call: Call, status: int = 200, **context: Any) -> Response:
        actor = call.user.actor
        page_no = call.page_number()
        found = services.reports.groups.find(
            actor, Query((), (SortKey("name"), SortKey("id")), PAGE, (page_no - 1) * PAGE)
        )
        context.setdefault("form", dict.fromkeys(group_forms.FIELDS, ""))
        names = choices(call)
        return ui.render(
            call,
            "report_groups.html",
            status,
            rows=found.items,
            total=found.total,
            page=page_no,
            pages=max(1, -(-found.total // PAGE)),
            names=names,
            parents=group_forms.parents(names.items()),
            can_edit=call.user.can(Perm.MANAGE_REPORTS),
            done=call.arg("done")[:80],
            **context,
        )

    def create(call: Call) -> Response:
        errors: dict[str, str] = {}
        form = group_forms.read(call, errors)
        if not errors:
            try:
                g = services.reports.groups.create(
                    call.user.actor,
                    form["name"],
                    parent_id=group_forms.positive_id(form["parent"]),
                    description=form["description"].strip(),
                )
                return RedirectResponse(f"/report-groups?{urlencode({'done': f'{g.name} created'})}", 303)
            except (ValidationFailed, Conflict, NotFound) as exc:
                field, message = group_forms.refusal(exc)
                errors[field] = message
        return list_page(call, 400, form=form, errors=errors)

    def group_page(call: Call, group: ReportGroupInfo, status: int = 200, **context: Any) -> Response:
        actor = call.user.actor
        context.setdefault(
            "form",
            {"name": group.name, "parent": str(group.parent_id or ""), "description": group.description},
        )
        reports = services.reports.find(
            actor, Query((Cond("group_id", Op.EQ, group.id),), (SortKey("name"),), PAGE)
        )
        subgroups = services.reports.groups.find(
            actor, Query((Cond("parent_id", Op.EQ, group.id),), (SortKey("name"),), PAGE)
        )
        names = choices(call)
        return ui.render(
            call,
            "report_group.html",
            status,
            g=group,
            names=names,
            parents=group_forms.parents(names.items(), group.id),
            reports=reports.items,
            report_total=reports.total,
            subgroups=subgroups.items,
            subgroup_total=subgroups.total,
            can_edit=call.user.can(Perm.MANAGE_REPORTS),
            done=call.arg("done")[:80],
            **context,
        )

    def show(call: Call) -> Response:
        return group_page(call, services.reports.groups.get(call.user.actor, call.path_id("group_id")))

    def update(call: Call) -> Response:
        group_id = call.path_id("group_id")
        errors: dict[str, str] = {}
        form = group_forms.read(call, errors)
        if not errors:
            try:
                services.reports.groups.update(
                    call.user.actor,
                    group_id,
                    name=form["name"],
                    description=form["description"].strip(),
                    parent_id=group_forms.positive_id(form["parent"]),
                    move=True,
                )
                return RedirectResponse(f"/report-groups/{group_id}?done=saved", 303)
            except (ValidationFailed, Conflict, NotFound) as exc:
                if isinstance(exc, NotFound) and exc.object_id == group_id:
                    raise
                field, message = group_forms.refusal(exc)
                errors[field] = message
        group = services.reports.groups.get(call.user.actor, group_id)
        return group_page(call, group, 400, form=form, errors=errors)

    def delete(call: Call) -> Response:
        group_id = call.path_id("group_id")
        try:
            services.reports.groups.delete(call.user.actor, group_id)
        except Conflict as exc:
            group = services.reports.groups.get(call.user.actor, group_id)
            return group_page(call, group, 409, errors={"delete": f"Not deleted: {exc}."})
        return RedirectResponse("/report-groups?done=deleted", 303)

    return [
        Route("/report-groups", ui.endpoint(list_page), methods=["GET"]),
        Route("/report-groups", ui.endpoint(create), methods=["POST"]),
        Route("/report-groups/{group_id:int}", ui.endpoint(show), methods=["GET"]),
        Route("/report-groups/{group_id:int}", ui.endpoint(update), methods=["POST"]),
        Route("/report-groups/{group_id:int}/delete", ui.endpoint(delete), methods=["POST"]),
    ]
