"""Saved reports (read-only SQL), their groups, and sandboxed execution.

Creating or changing a report, and ad-hoc SQL, need ``Perm.MANAGE_REPORTS`` (a report's query
runs for everyone who may read it); executing a saved report needs ``Perm.READ``. A report
runs with its caller's permissions (``policy.TIERS``): a viewer's run of an administrator's
report cannot read the audit log or user accounts. Every execution is recorded in the audit
log, ad-hoc SQL with its text.
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import func, select

from fleetdeck.core.audit import AuditLog
from fleetdeck.core.authz import Actor, Perm
from fleetdeck.core.errors import FleetdeckError, NotFound, Reason, ValidationFailed
from fleetdeck.core.ports import Clock
from fleetdeck.core.query import Page, Query, apply_query
from fleetdeck.core.reports.entities import ReportInfo, ReportListing
from fleetdeck.core.reports.groups import KIND, ReportGroups, get_group, group_info
from fleetdeck.core.reports.policy import Limits, ReportFailed, ReportResult, Tier, check_query, tier_of
from fleetdeck.core.settings.service import SettingsService
from fleetdeck.storage.db import Database
from fleetdeck.storage.tables import Group, Report
from fleetdeck.storage.uow import UnitOfWork

FIELDS = {
    "id": Report.id,
    "name": Report.name,
    "group_id": Report.group_id,
    "created_at": Report.created_at,
    "updated_at": Report.updated_at,
}
TARGET_COLUMNS = ("computer_id", "package_id")
MAX_QUERY = 100_000
_UNSET: Any = object()


class Runner(Protocol):
    def run(self, sql: str, limits: Limits, tier: Tier) -> ReportResult: ...


def make_runner(db: Database) -> Runner:
    if db.dialect == "sqlite":
        from fleetdeck.core.reports.sqlite_runner import SqliteRunner

        path = db.engine.url.database
        if not path or path == ":memory:":
            raise ValueError("reports need a file-based SQLite database")
        return SqliteRunner(path)
    from fleetdeck.core.reports.postgres_runner import PostgresRunner

    return PostgresRunner(db.engine)


def _info(r: Report) -> ReportInfo:
    return ReportInfo(
        id=r.id,
        name=r.name,
        notes=r.notes,
        query=r.query,
        group_id=r.group_id,
        created_at=r.created_at,
        created_by=r.created_by,
        updated_at=r.updated_at,
    )


def _name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 255:
        raise ValidationFailed("name must be 1-255 characters", field="name", reason=Reason.NAME_EMPTY)
    return name


def _query(sql: str) -> str:
    if len(sql) > MAX_QUERY:
        raise ValidationFailed(f"the query must be at most {MAX_QUERY} characters", field="query")
    return check_query(sql)


class ReportService:
    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        clock: Clock,
        settings: SettingsService,
        runner: Runner | None = None,
    ) -> None:
        self._db = db
        self._audit = audit
        self._clock = clock
        self._settings = settings
        self._runner = runner
        self.groups = ReportGroups(db, audit, clock)

    # ------------------------------------------------------------ reports

    def find(self, actor: Actor, query: Query) -> Page[ReportInfo]:
        actor.require(Perm.READ)
        with UnitOfWork(self._db, readonly=True) as uow:
            stmt, count_stmt = apply_query(
                select(Report), select(func.count()).select_from(Report), query, FIELDS
            )
            assert count_stmt is not None
            items = [_info(r) for r in uow.session.scalars(stmt)]
            return Page(items=items, total=uow.session.scalar(count_stmt) or 0)

    def list_reports(self, actor: Actor, group_id: int | None = None) -> ReportListing:
        actor.require(Perm.READ)
        with UnitOfWork(self._db, readonly=True) as uow:
            s = uow.session
            reports = select(Report).order_by(Report.name, Report.id)
            groups = select(Group).where(Group.kind == KIND).order_by(Group.name, Group.id)
            if group_id is None:
                groups = groups.where(Group.parent_id.is_(None))
            else:
                get_group(s, group_id)
                reports = reports.where(Report.group_id == group_id)
                groups = groups.where(Group.parent_id == group_id)
            return ReportListing(
                groups=[group_info(g) for g in s.scalars(groups)],
                reports=[_info(r) for r in s.scalars(reports)],
            )

    def with_groups(self, actor: Actor) -> list[tuple[ReportInfo, str]]:
        """Every report with the name of its group ("" at the root), by id: the flat
        catalogue a client lists before running one. One query whatever the number."""
        actor.require(Perm.READ)
        with UnitOfWork(self._db, readonly=True) as uow:
            stmt = (
                select(Report, Group.name).outerjoin(Group, Group.id == Report.group_id).order_by(Report.id)
            )
            return [(_info(r), name or "") for r, name in uow.session.execute(stmt)]

    def get(self, actor: Actor, report_id: int) -> ReportInfo:
        actor.require(Perm.READ)
        with UnitOfWork(self._db, readonly=True) as uow:
            r = uow.session.get(Report, report_id)
            if r is None:
                raise NotFound("report", report_id)
            return _info(r)

    def create(
        self, actor: Actor, name: str, query: str, *, notes: str = "", group_id: int | None = None
    ) -> ReportInfo:
        self._audit.require(actor, Perm.MANAGE_REPORTS, "report.create", "report")
        name, query = _name(name), _query(query)
        with self._audit.mutation(actor, "report.create", "report", perm=Perm.MANAGE_REPORTS) as m:
            if group_id is not None:
                get_group(m.session, group_id)
            now = self._clock()
            r = Report(
                name=name,
                notes=notes,
                query=query,
                group_id=group_id,
                created_at=now,
                created_by=actor.username,
                updated_at=now,
            )
            m.session.add(r)
            m.session.flush()
            m.object_id = str(r.id)
            m.detail = {"name": name, "query": query, "group_id": group_id}
            return _info(r)

    def update(
        self,
        actor: Actor,
        report_id: int,
        *,
        name: str | None = None,
        query: str | None = None,
        notes: str | None = None,
        group_id: int | None = _UNSET,
    ) -> ReportInfo:
        """``group_id`` left out keeps the group; ``None`` moves the report to the root."""
        self._audit.require(actor, Perm.MANAGE_REPORTS, "report.update", "report", report_id)
        name = _name(name) if name is not None else None
        query = _query(query) if query is not None else None
        with self._audit.mutation(actor, "report.update", "report", report_id, perm=Perm.MANAGE_REPORTS) as m:
            r = m.session.get(Report, report_id)
            if r is None:
                raise NotFound("report", report_id)
            if name is not None:
                m.detail["name"] = [r.name, name]
                r.name = name
            if query is not None:
                m.detail["query"] = [r.query, query]
                r.query = query
            if notes is not None:
                r.notes = notes
            if group_id is not _UNSET:
                if group_id is not None:
                    get_group(m.session, group_id)
                m.detail["group_id"] = [r.group_id, group_id]
                r.group_id = group_id
            r.updated_at = self._clock()
            return _info(r)

    def delete(self, actor: Actor, report_id: int) -> None:
        with self._audit.mutation(actor, "report.delete", "report", report_id, perm=Perm.MANAGE_REPORTS) as m:
            r = m.session.get(Report, report_id)
            if r is None:
                raise NotFound("report", report_id)
            m.detail = {"name": r.name, "query": r.query}
            m.session.delete(r)

    # ------------------------------------------------------------ execution

    def execute(self, actor: Actor, report_id: int) -> ReportResult:
        report = self.get(actor, report_id)  # READ, and NotFound
        return self._run(actor, "report.execute", str(report_id), report.query, {"name": report.name})

    def run_sql(self, actor: Actor, sql: str) -> ReportResult:
        """Ad-hoc SQL, for administrators; sandboxed exactly like a saved report."""
        try:
            actor.require(Perm.MANAGE_REPORTS)
        except FleetdeckError as exc:
            self._audit.record(actor, "report.run_sql", "report", "", "denied", error=exc.message)
            raise
        return self._run(actor, "report.run_sql", "", sql, {"query": sql[:MAX_QUERY]})

    def target_ids(self, actor: Actor, report_id: int, column: str) -> list[int]:
        """The distinct integer values of ``computer_id`` or ``package_id`` in a report's rows
        (deployments to a report). A result cut at ``reports.max_rows`` is refused."""
        if column not in TARGET_COLUMNS:
            raise ValidationFailed(f"column must be one of {', '.join(TARGET_COLUMNS)}", field="column")
        result = self.execute(actor, report_id)
        if result.truncated:
            raise ValidationFailed(
                f"report {report_id} returns more than reports.max_rows rows; refine it", field="report_id"
            )
        if result.rows and column not in result.columns and column not in result.rows[0]:
            raise ValidationFailed(f"report {report_id} has no column {column!r}", field="column")
        ids: set[int] = set()
        for row in result.rows:
            value = row.get(column)
            if isinstance(value, bool) or value is None:
                continue
            if isinstance(value, int):
                ids.add(value)
            elif isinstance(value, str) and value.strip().isdigit():
                ids.add(int(value))
        return sorted(ids)

    def _run(
        self, actor: Actor, action: str, object_id: str, sql: str, detail: dict[str, Any]
    ) -> ReportResult:
        try:
            text = _query(sql)
            limits = Limits(
                max_rows=int(self._settings.value("reports.max_rows")),
                max_bytes=int(self._settings.value("reports.max_bytes")),
                timeout_sec=float(self._settings.value("reports.timeout_sec")),
            )
            if self._runner is None:
                self._runner = make_runner(self._db)
            result = self._runner.run(text, limits, tier_of(actor))
        except FleetdeckError as exc:
            result_code = "invalid" if isinstance(exc, ValidationFailed) else "failed"
            self._audit.record(actor, action, "report", object_id, result_code, error=exc.message, **detail)
            raise
        self._audit.record(
            actor, action, "report", object_id, rows=len(result.rows), truncated=result.truncated, **detail
        )
        return result


__all__ = ["ReportFailed", "ReportService"]
