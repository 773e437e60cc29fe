"""The migrations and the models describe the same schema, on the backend under test."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

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
