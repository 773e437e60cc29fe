"""The migrations and the models describe the same schema, on the backend under test."""

from __future__ import annotations

import importlib.util
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect, text

from fleetdeck.storage import migrate
from fleetdeck.storage.db import Database
from fleetdeck.storage.tables import Base


def test_migrated_schema_matches_models(db_url: str) -> None:
    db = Database(db_url)
    try:
        assert migrate.current_revision(db) == migrate.head_revision(db)
        with db.engine.connect() as conn:
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
            )
        assert diff == [], f"models and migrations differ; regenerate the migration: {diff}"
    finally:
        db.dispose()


def test_upgrade_is_idempotent(db_url: str) -> None:
    db = Database(db_url)
    try:
        migrate.upgrade(db)
        migrate.upgrade(db)
        assert migrate.current_revision(db) == migrate.head_revision(db)
    finally:
        db.dispose()


def test_0004_keeps_existing_dependencies(tmp_path: Path) -> None:
    """Rules from before 0004 meant "install the other package first" and must still say so."""
    db = Database(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        migrate.upgrade(db, "0003")
        now = "2026-01-01 00:00:00"
        with db.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO package_families (id, key, name, notes, created_at, created_by)"
                    " VALUES (1, 'a', 'A', '', :now, 't'), (2, 'b', 'B', '', :now, 't')"
                ),
                {"now": now},
            )
            for pid in (1, 2):
                conn.execute(
                    text(
                        "INSERT INTO packages (id, family_id, version, package_version, description,"
                        " install_procedure, install_success_codes, install_post_action, uninstall_procedure,"
                        " uninstall_success_codes, download_for_uninstall, uninstall_post_action,"
                        " upgrade_behavior, compatible_os, compatible_os_version, compatible_architecture,"
                        " created_at, created_by, updated_at)"
                        " VALUES (:id, :id, '1', '1', '', 'x', '0', 0, '', '0', 0, 0, 0,"
                        " '', '', '', :now, 't', :now)"
                    ),
                    {"id": pid, "now": now},
                )
            conn.execute(text("INSERT INTO package_dependencies (package_id, requires_id) VALUES (1, 2)"))
        migrate.upgrade(db)
        with db.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT package_id, action, requires_id, required_action, required_status,"
                    " requirement_type FROM package_dependencies"
                )
            ).all()
            priority = conn.execute(text("SELECT priority FROM packages WHERE id = 1")).scalar()
        assert [tuple(r) for r in rows] == [(1, "setup", 2, None, "installed", "before")]
        assert priority == 0
    finally:
        db.dispose()


# Tables whose ids may be given again after a delete, and why (docs in migration 0010).
REUSE_ALLOWED = {
    "audit_log": "rows are never deleted one by one",
    "computer_filesystems": "inventory rows, rewritten per computer; no client holds their ids",
    "computer_interfaces": "inventory rows, rewritten per computer; no client holds their ids",
    "computer_logins": "inventory rows, rewritten per computer; no client holds their ids",
    "computer_software": "inventory rows, rewritten per computer; no client holds their ids",
    "notification_templates": "ids are names admins choose, as in rport (generated ones are random UUIDs)",
}


def test_ids_are_never_given_twice(db_url: str) -> None:
    """Every table with an integer id remembers the largest one given (SQLite: AUTOINCREMENT;
    PostgreSQL: sequences do), so a deleted row's id never names a new one."""
    db = Database(db_url)
    try:
        with db.engine.connect() as conn:
            if conn.dialect.name != "sqlite":
                pytest.skip("PostgreSQL sequences never give an id twice")
            tables = conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'table'")).all()
        for table in Base.metadata.sorted_tables:
            pk = list(table.primary_key.columns)
            if len(pk) != 1 or pk[0].name != "id" or table.name in REUSE_ALLOWED:
                continue
            sql = dict(tables)[table.name]
            assert "AUTOINCREMENT" in sql, f"{table.name} may give a deleted row's id again"
        with db.engine.begin() as conn:
            now = "2026-01-01 00:00:00"
            for name in ("a", "b"):
                conn.execute(
                    text(
                        "INSERT INTO users (username, password_hash, role, full_name, email, disabled,"
                        " token_version, created_at, password_changed_at) VALUES (:n, 'x', 'viewer', '', '',"
                        " false, 1, :now, :now)"
                    ),
                    {"n": name, "now": now},
                )
            last = conn.execute(text("SELECT max(id) FROM users")).scalar()
            conn.execute(text("DELETE FROM users WHERE id = :id"), {"id": last})
            conn.execute(
                text(
                    "INSERT INTO users (username, password_hash, role, full_name, email, disabled,"
                    " token_version, created_at, password_changed_at) VALUES ('c', 'x', 'viewer', '', '',"
                    " false, 1, :now, :now)"
                ),
                {"now": now},
            )
            assert conn.execute(text("SELECT id FROM users WHERE username = 'c'")).scalar() == last + 1
    finally:
        db.dispose()


def _insert(conn: Connection, table: str, **values: object) -> None:
    """A row with ``values`` and a plain value in every other NOT NULL column (0, "", a time)."""
    for column in inspect(conn).get_columns(table):
        if column["name"] in values or column["nullable"] or column.get("autoincrement") is True:
            continue
        kind = str(column["type"]).upper()
        plain: object = ""
        if "DATE" in kind or "TIME" in kind:
            plain = datetime(2026, 1, 1)  # a time, typed (PostgreSQL takes no text for it)
        elif "JSON" in kind:
            plain = "{}"
        elif "BOOL" in kind:
            plain = False
        elif "INT" in kind:
            plain = 0
        values[column["name"]] = plain
    names = ", ".join(values)
    conn.execute(text(f"INSERT INTO {table} ({names}) VALUES ({', '.join(':' + n for n in values)})"), values)


def test_0010_keeps_every_row_and_reference(tmp_path: Path) -> None:
    """Rebuilding tables for AUTOINCREMENT must not cascade-delete the rows that refer to them."""
    db = Database(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        migrate.upgrade(db, "0007")
        with db.engine.begin() as conn:
            _insert(conn, "users", id=1, username="a", role="admin")
            _insert(conn, "api_tokens", id=7, user_id=1, prefix="fdt_abcdefgh", scope="read")
            _insert(conn, "computers", id=3, uid="u", hostname="pc")
            _insert(conn, "groups", id=4, key="g", name="G", kind="computer")
            _insert(conn, "group_members", group_id=4, computer_id=3)
            _insert(conn, "job_batches", id=5)
            _insert(conn, "jobs", id=6, computer_id=3, batch_id=5, kind="command", status="queued")
        migrate.upgrade(db)
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT user_id FROM api_tokens")).scalars().all() == [1]
            assert conn.execute(text("SELECT group_id, computer_id FROM group_members")).all() == [(4, 3)]
            assert conn.execute(text("SELECT computer_id, batch_id FROM jobs")).all() == [(3, 5)]
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1  # back on for the pool
            assert conn.execute(text("PRAGMA foreign_key_check")).all() == []
    finally:
        db.dispose()


def _migration_0015() -> Any:
    path = Path(migrate.__file__).parent / "migrations" / "versions" / "0015_opsi_poc_package_states.py"
    spec = importlib.util.spec_from_file_location("migration_0015", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _states_world(conn: Connection) -> None:
    """Two computers, a family with two versions and one without any; computer 3 has both
    versions recorded (the newer one wins), computer 4 has a queued uninstall of family 1 and a
    sent install of family 2; a finished job changes nothing."""
    _insert(conn, "computers", id=3, uid="u3", hostname="pc3")
    _insert(conn, "computers", id=4, uid="u4", hostname="pc4")
    for fid in (1, 2):
        _insert(conn, "package_families", id=fid, key=f"f{fid}", name=f"F{fid}")
    _insert(
        conn,
        "packages",
        id=10,
        family_id=1,
        version="1.0",
        package_version="1",
        created_at="2026-01-01 00:00:00",
    )
    _insert(
        conn,
        "packages",
        id=11,
        family_id=1,
        version="2.0",
        package_version="3",
        created_at="2026-01-02 00:00:00",
    )
    _insert(conn, "packages", id=20, family_id=2, version="9", package_version="1")
    _insert(conn, "installations", id=1, computer_id=3, package_id=10, installed_at=datetime(2026, 1, 1))
    _insert(conn, "installations", id=2, computer_id=3, package_id=11, installed_at=datetime(2026, 1, 3))
    _insert(conn, "installations", id=3, computer_id=4, package_id=10, installed_at=datetime(2026, 1, 1))
    _insert(conn, "job_batches", id=5, kind="deployment")
    _insert(
        conn,
        "jobs",
        id=6,
        computer_id=4,
        batch_id=5,
        kind="package_uninstall",
        status="queued",
        package_id=10,
    )
    _insert(
        conn, "jobs", id=7, computer_id=4, batch_id=5, kind="package_install", status="sent", package_id=20
    )
    _insert(
        conn,
        "jobs",
        id=8,
        computer_id=3,
        batch_id=5,
        kind="package_install",
        status="succeeded",
        package_id=20,
    )


_STATE_COLUMNS = (
    "SELECT computer_id, family_id, installation_status, action_request, last_action, action_result,"
    " version, package_version, job_id FROM package_states ORDER BY computer_id, family_id"
)
_EXPECTED_STATES = [
    (3, 1, "installed", "none", "setup", "successful", "2.0", "3", None),
    (4, 1, "installed", "uninstall", "setup", "successful", "1.0", "1", 6),
    (4, 2, "not_installed", "setup", None, "none", None, None, 7),
]


def test_0015_fills_package_states_from_installations_and_pending_jobs(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        migrate.upgrade(db, "0014")
        with db.engine.begin() as conn:
            _states_world(conn)
        migrate.upgrade(db)
        with db.engine.connect() as conn:
            assert [tuple(r) for r in conn.execute(text(_STATE_COLUMNS))] == _EXPECTED_STATES
    finally:
        db.dispose()


def test_0015_backfill_sql_runs_on_the_backend_under_test(db_url: str) -> None:
    """The same statements on this backend (PostgreSQL too), on an emptied package_states."""
    mig = _migration_0015()
    db = Database(db_url)
    try:
        with db.engine.begin() as conn:
            _states_world(conn)
            conn.execute(text("DELETE FROM package_states"))
            for sql in (mig._INSTALLED, mig._PENDING, mig._REQUESTS, mig._REQUEST_KIND):
                conn.execute(text(sql))
            assert [tuple(r) for r in conn.execute(text(_STATE_COLUMNS))] == _EXPECTED_STATES
    finally:
        db.dispose()


def test_processes_started_together_migrate_an_empty_database_once(db_url: str) -> None:
    """Scale-out: several servers started at once on one new PostgreSQL database must all come
    up; without the migration lock every one but the first failed creating the same tables.
    Real processes: Alembic's ``context`` is one per process, so threads would not be honest."""
    if not db_url.startswith("postgresql"):
        pytest.skip("one SQLite file is served by one process")
    import subprocess
    import sys
    import uuid

    from sqlalchemy import create_engine

    admin_url = db_url.rsplit("/", 1)[0] + "/postgres"
    name = f"fdmig_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = db_url.rsplit("/", 1)[0] + "/" + name
    code = (
        "import sys; from fleetdeck.storage import migrate; from fleetdeck.storage.db import Database;"
        " migrate.upgrade(Database(sys.argv[1]))"
    )
    try:
        servers = [
            subprocess.Popen([sys.executable, "-c", code, url], stderr=subprocess.PIPE, text=True)
            for _ in range(3)
        ]
        failed = [err[-600:] for p in servers if (err := p.communicate(timeout=180)[1]) and p.returncode]
        assert failed == []
        db = Database(url)
        try:
            assert migrate.current_revision(db) == migrate.head_revision(db)
        finally:
            db.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_0034_makes_computer_groups_and_families_cmdb_objects(tmp_path: Path) -> None:
    """Groups and families from before 0034 get their objects: computer groups as object
    groups (36), families as applications (2); package groups get none."""
    db = Database(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        migrate.upgrade(db, "0033_rvault")
        now = "2026-01-01 00:00:00"
        with db.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO groups (id, key, name, kind, description, created_at, exclusive)"
                    " VALUES (1, 'g1', 'Lab', 'computer', '', :now, 0),"
                    " (2, 'g2', 'Apps', 'package', '', :now, 0)"
                ),
                {"now": now},
            )
            conn.execute(
                text(
                    "INSERT INTO package_families (id, key, name, notes, created_at, created_by)"
                    " VALUES (5, 'a', 'A', '', :now, 't')"
                ),
                {"now": now},
            )
        migrate.upgrade(db)
        with db.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT type_id, group_id, family_id FROM cmdb_objects"
                    " WHERE group_id IS NOT NULL OR family_id IS NOT NULL ORDER BY id"
                )
            ).all()
        assert [tuple(r) for r in rows] == [(36, 1, None), (2, None, 5)]
    finally:
        db.dispose()
