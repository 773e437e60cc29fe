"""Saved reports: the list, a report run as a table (paged), its CSV download, create, edit and
delete (``manage_reports``: admins), and ad-hoc SQL for the same role.

A run is core's ``reports.execute`` (or ``run_sql``): read-only, sandboxed, bounded by the
settings ``reports.max_rows``, ``reports.max_bytes`` and ``reports.timeout_sec``, run with the
caller's own read permissions and recorded in the audit log. Paging a result re-runs the
report (no result is kept in the server); the CSV holds every row the run returned.
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
from fleetdeck.core.query import Query, SortKey
from fleetdeck.core.reports.entities import ReportInfo
from fleetdeck.core.reports.policy import ReportFailed, ReportResult
from fleetdeck.web.app import PAGE_HEADERS, Call, WebUI

RESULT_PAGE = 100
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
        actor = call.user.actor
        rows = services.reports.find(actor, Query(sort=(SortKey("name"), SortKey("id")), limit=None)).items
        context.setdefault("form", {"name": "", "query": "", "notes": "", "group": ""})
        return render(call, "reports.html", status, reports=rows, **context)

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

    def execute(call: Call) -> tuple[ReportInfo, ReportResult | Response]:
        """The report and its result, or the page saying why it did not run."""
        actor = call.user.actor
        report = services.reports.get(actor, call.path_id("report_id"))
        try:
            return report, services.reports.execute(actor, report.id)
        except (ValidationFailed, ReportFailed) as exc:
            return report, result_page(call, report.name, None, 400, report=report, failure=str(exc))

    def run_report(call: Call) -> Response:
        report, result = execute(call)
        if isinstance(result, Response):
            return result
        return result_page(call, report.name, result, report=report)

    def download(call: Call) -> Response:
        report, result = execute(call)
        if isinstance(result, Response):
            return result
        name = _file_name(report.name)
        headers = {
            **PAGE_HEADERS,
            "Content-Disposition": f"attachment; filename=\"{name}\"; filename*=UTF-8''{quote(name)}",
        }
        if result.truncated:
            headers["X-Fleetdeck-Truncated"] = "true"
        return Response(csv_text(result), media_type="text/csv; charset=utf-8", headers=headers)

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
        Route("/reports/{report_id:int}/run", ui.endpoint(run_report), methods=["GET"]),
        Route("/reports/{report_id:int}/csv", ui.endpoint(download), methods=["GET"]),
    ]
