"""Saved reports: the list, a report run as a table (paged), its CSV download, create, edit and
delete (``manage_reports``: admins), and ad-hoc SQL for the same role.

A run is core's ``reports.execute`` (or ``run_sql``): read-only, sandboxed, bounded by the
settings ``reports.max_rows``, ``reports.max_bytes`` and ``reports.timeout_sec``, run with the
caller's own read permissions and recorded in the audit log. A run is a POST (so a reload, a
prefetch or a crawler never runs and audits it again); its result is kept for the session that
ran it (``web/results.py``: 30 minutes, bounded in bytes), and paging it or downloading its CSV
reads what is kept. The CSV holds every row the run returned.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any
from urllib.parse import quote, urlencode

from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from fleetdeck.core.authz import Perm
from fleetdeck.core.errors import FleetdeckError, NotFound, ValidationFailed
from fleetdeck.core.query import Cond, Op, Query, SortKey
from fleetdeck.core.reports.entities import ReportInfo
from fleetdeck.core.reports.policy import ReportFailed, ReportResult
from fleetdeck.web.app import PAGE_HEADERS, Call, WebUI
from fleetdeck.web.results import KeptRun

RESULT_PAGE = 100
REPORTS_PAGE = 50
MAX_QUERY_FIELD = 100_000
MAX_NOTES = 10_000


def cell(value: Any) -> str:
    """A result value as text for the table and the CSV (JSON for lists and objects)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def csv_text(result: ReportResult) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(result.columns)
    for row in result.rows:
        writer.writerow([_safe_csv(cell(row.get(c))) for c in result.columns])
    return out.getvalue()


def _safe_csv(text: str) -> str:
    """A value a spreadsheet would take for a formula (``=``, ``+``, ``-``, ``@``, tab, CR) gets
    a leading apostrophe (CSV injection); numbers such as ``-5`` stay numbers."""
    if text and text[0] in "=+-@\t\r":
        try:
            float(text)
        except ValueError:
            return "'" + text
    return text


def _group(text: str) -> int | None:
    return int(text) if text.isdigit() and 0 < len(text) < 19 else None


def _file_name(name: str) -> str:
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in name).strip("-.")[:80]
    return (safe or "report") + ".csv"


def routes(ui: WebUI) -> list[Route]:
    services = ui.services
    results = ui.results  # one store per UI: logout (auth.py) forgets the session's runs

    def report_groups(call: Call) -> dict[int, str]:
        found = services.reports.groups.find(call.user.actor, Query(sort=(SortKey("name"),), limit=None))
        return {g.id: g.name for g in found.items}

    def render(call: Call, template: str, status: int, **context: Any) -> Response:
        """A page with the report form: the report groups to choose from, and whether to show it."""
        return ui.render(
            call,
            template,
            status,
            groups=report_groups(call),
            can_edit=call.user.can(Perm.MANAGE_REPORTS),
            done=call.arg("done"),
            **context,
        )

    def list_page(call: Call, status: int = 200, **context: Any) -> Response:
        """The reports, ``REPORTS_PAGE`` a page in the database, optionally of one report group."""
        actor = call.user.actor
        errors: dict[str, str] = context.pop("errors", {})
        text = call.arg("group")
        group = _group(text)
        where: tuple[Cond, ...] = ()
        if group is not None:
            where = (Cond("group_id", Op.EQ, group),)
        elif text:
            errors["filter_group"] = f"“{text[:40]}” is not a report group; every report is shown."
            status = 400
        page_no = call.page_number()
        found = services.reports.find(
            actor,
            Query(where, (SortKey("name"), SortKey("id")), REPORTS_PAGE, (page_no - 1) * REPORTS_PAGE),
        )
        context.setdefault("form", {"name": "", "query": "", "notes": "", "group": str(group or "")})
        return render(
            call,
            "reports.html",
            status,
            reports=found.items,
            total=found.total,
            page=page_no,
            pages=max(1, -(-found.total // REPORTS_PAGE)),
            group=group,
            errors=errors,
            **context,
        )

    def show_reports(call: Call) -> Response:
        return list_page(call)

    def read_form(call: Call, errors: dict[str, str]) -> dict[str, str]:
        form = {k: call.field(k) for k in ("name", "query", "notes", "group")}
        form["name"] = form["name"].strip()
        if not form["name"]:
            errors["name"] = "Enter a name."
        elif len(form["name"]) > 255:
            errors["name"] = "The name is at most 255 characters."
        if not form["query"].strip():
            errors["query"] = "Enter the query (one SELECT or WITH statement)."
        elif len(form["query"]) > MAX_QUERY_FIELD:
            errors["query"] = f"The query is at most {MAX_QUERY_FIELD} characters."
        if len(form["notes"]) > MAX_NOTES:
            errors["notes"] = f"The notes are at most {MAX_NOTES} characters."
        if form["group"] and _group(form["group"]) is None:
            errors["group"] = "Choose a report group from the list."
        return form

    def field_of(exc: FleetdeckError) -> str:
        field = exc.detail.get("field")
        return field if field in ("name", "query", "notes") else "query"

    def create_report(call: Call) -> Response:
        errors: dict[str, str] = {}
        form = read_form(call, errors)
        if not errors:
            try:
                r = services.reports.create(
                    call.user.actor,
                    form["name"],
                    form["query"],
                    notes=form["notes"],
                    group_id=_group(form["group"]),
                )
                return RedirectResponse(f"/reports/{r.id}?{urlencode({'done': 'created'})}", 303)
            except ValidationFailed as exc:
                errors[field_of(exc)] = str(exc)
            except NotFound:
                errors["group"] = "That report group no longer exists."
        return list_page(call, 400, form=form, errors=errors)

    def report_page(call: Call, report: ReportInfo, status: int = 200, **context: Any) -> Response:
        context.setdefault(
            "form",
            {
                "name": report.name,
                "query": report.query,
                "notes": report.notes,
                "group": str(report.group_id or ""),
            },
        )
        return render(call, "report.html", status, r=report, **context)

    def show_report(call: Call) -> Response:
        return report_page(call, services.reports.get(call.user.actor, call.path_id("report_id")))

    def update_report(call: Call) -> Response:
        report_id = call.path_id("report_id")
        errors: dict[str, str] = {}
        form = read_form(call, errors)
        if not errors:
            try:
                services.reports.update(
                    call.user.actor,
                    report_id,
                    name=form["name"],
                    query=form["query"],
                    notes=form["notes"],
                    group_id=_group(form["group"]),
                )
                return RedirectResponse(f"/reports/{report_id}?{urlencode({'done': 'saved'})}", 303)
            except ValidationFailed as exc:
                errors[field_of(exc)] = str(exc)
            except NotFound as exc:
                if exc.object_type == "report":
                    raise
                errors["group"] = "That report group no longer exists."
        report = services.reports.get(call.user.actor, report_id)
        return report_page(call, report, 400, form=form, errors=errors)

    def delete_report(call: Call) -> Response:
        services.reports.delete(call.user.actor, call.path_id("report_id"))
        return RedirectResponse(f"/reports?{urlencode({'done': 'Report deleted.'})}", 303)

    def result_page(
        call: Call, title: str, result: ReportResult | None, status: int = 200, **context: Any
    ) -> Response:
        page_no = call.page_number()
        rows = result.rows if result else []
        pages = max(1, -(-len(rows) // RESULT_PAGE))
        page_no = min(page_no, pages)
        shown = rows[(page_no - 1) * RESULT_PAGE : page_no * RESULT_PAGE]
        return ui.render(
            call,
            "report_result.html",
            status,
            title=title,
            result=result,
            columns=result.columns if result else [],
            rows=[[cell(row.get(c)) for c in result.columns] for row in shown] if result else [],
            total=len(rows),
            page=page_no,
            pages=pages,
            first=(page_no - 1) * RESULT_PAGE + 1,
            **context,
        )

    def csv_response(report: ReportInfo, result: ReportResult) -> Response:
        name = _file_name(report.name)
        headers = {
            **PAGE_HEADERS,
            "Content-Disposition": f"attachment; filename=\"{name}\"; filename*=UTF-8''{quote(name)}",
        }
        if result.truncated:
            headers["X-Fleetdeck-Truncated"] = "true"
        return Response(csv_text(result), media_type="text/csv; charset=utf-8", headers=headers)

    def run_report(call: Call) -> Response:
        """Run the report once (``reports.execute``: one audited run), keep the result for this
        session and show it (or its CSV, ``then=csv``) from what is kept."""
        actor = call.user.actor
        report = services.reports.get(actor, call.path_id("report_id"))
        then = "csv" if call.field("then") == "csv" else ""
        try:
            result = services.reports.execute(actor, report.id)
        except (ValidationFailed, ReportFailed) as exc:
            return result_page(call, report.name, None, 400, report=report, failure=str(exc))
        kept = results.keep(str(call.user.session.id), report.id, result)
        if kept is None:  # too large to keep: shown (or downloaded) once
            if then == "csv":
                return csv_response(report, result)
            return result_page(call, report.name, result, report=report, run=None, unkept=True)
        target = f"/reports/{report.id}/runs/{kept.id}" + ("/csv" if then else "")
        return RedirectResponse(target, 303)

    def kept_run(call: Call) -> tuple[ReportInfo, KeptRun | None]:
        report = services.reports.get(call.user.actor, call.path_id("report_id"))
        run_id = call.request.path_params["run_id"]
        return report, results.get(str(call.user.session.id), str(run_id)[:64], report.id)

    def gone(call: Call, report: ReportInfo) -> Response:
        return ui.render(call, "report_gone.html", 410, report=report, ttl_min=results.ttl // 60)

    def show_run(call: Call) -> Response:
        report, run = kept_run(call)
        if run is None:
            return gone(call, report)
        return result_page(call, report.name, run.result, report=report, run=run)

    def run_csv(call: Call) -> Response:
        report, run = kept_run(call)
        if run is None:
            return gone(call, report)
        return csv_response(report, run.result)

    def run_form(call: Call) -> Response:
        """``GET /reports/{id}/run`` (and ``/csv``), the old links: a GET runs nothing any more
        (a run is audited), so they lead to the report's page with its Run button."""
        report = services.reports.get(call.user.actor, call.path_id("report_id"))
        return RedirectResponse(f"/reports/{report.id}", 303)

    def sql_page(call: Call) -> Response:
        call.user.actor.require(Perm.MANAGE_REPORTS)  # no form for who cannot use it
        return ui.render(call, "report_sql.html", sql="", errors={})

    def run_sql(call: Call) -> Response:
        sql = call.field("query")
        errors: dict[str, str] = {}
        if not sql.strip():
            errors["query"] = "Enter a query (one SELECT or WITH statement)."
        elif len(sql) > MAX_QUERY_FIELD:
            errors["query"] = f"The query is at most {MAX_QUERY_FIELD} characters."
        if errors:
            return ui.render(call, "report_sql.html", 400, sql=sql[:MAX_QUERY_FIELD], errors=errors)
        try:
            result = services.reports.run_sql(call.user.actor, sql)
        except (ValidationFailed, ReportFailed) as exc:
            return ui.render(call, "report_sql.html", 400, sql=sql, errors={"query": str(exc)})
        return ui.render(
            call,
            "report_sql.html",
            sql=sql,
            errors={},
            result=result,
            columns=result.columns,
            rows=[[cell(row.get(c)) for c in result.columns] for row in result.rows[:RESULT_PAGE]],
            total=len(result.rows),
            limit=RESULT_PAGE,
        )

    return [
        Route("/reports", ui.endpoint(show_reports), methods=["GET"]),
        Route("/reports", ui.endpoint(create_report), methods=["POST"]),
        Route("/reports/sql", ui.endpoint(sql_page), methods=["GET"]),
        Route("/reports/sql", ui.endpoint(run_sql), methods=["POST"]),
        Route("/reports/{report_id:int}", ui.endpoint(show_report), methods=["GET"]),
        Route("/reports/{report_id:int}", ui.endpoint(update_report), methods=["POST"]),
        Route("/reports/{report_id:int}/delete", ui.endpoint(delete_report), methods=["POST"]),
        Route("/reports/{report_id:int}/run", ui.endpoint(run_form), methods=["GET"]),
        Route("/reports/{report_id:int}/run", ui.endpoint(run_report), methods=["POST"]),
        Route("/reports/{report_id:int}/csv", ui.endpoint(run_form), methods=["GET"]),
        Route("/reports/{report_id:int}/runs/{run_id}", ui.endpoint(show_run), methods=["GET"]),
        Route("/reports/{report_id:int}/runs/{run_id}/csv", ui.endpoint(run_csv), methods=["GET"]),
    ]
