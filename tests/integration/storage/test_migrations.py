"""The migrations and the models describe the same schema, on the backend under test."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

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
