"""The migrations and the models describe the same schema, on the backend under test."""

from __future__ import annotations

from pathlib import Path

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
        values[column["name"]] = (
            "2026-01-01 00:00:00" if "DATE" in kind else 0 if "INT" in kind or "BOOL" in kind else ""
        )
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
