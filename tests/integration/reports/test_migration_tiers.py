"""Migration 0011 on PostgreSQL: the tier roles, the byte-capped functions and the revoked
advisory lock functions come with the upgrade and go with the downgrade (back to 0002's
single ``run``), and a second upgrade puts them back."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from alembic import command
from sqlalchemy import create_engine, text

from fleetdeck.storage import migrate
from fleetdeck.storage.db import Database
from tests.conftest import BACKEND, PG_ADMIN_URL

pytestmark = pytest.mark.skipif(BACKEND != "postgres", reason="PostgreSQL roles and grants")


@pytest.fixture
def fresh() -> Iterator[Database]:
    name = f"fdtiers_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    db = Database(PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name)
    try:
        yield db
    finally:
        db.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _state(db: Database) -> dict[str, Any]:
    with db.engine.connect() as conn:

        def one(sql: str) -> Any:
            return conn.execute(text(sql)).scalar()

        return {
            "base reads users": one(
                "SELECT has_column_privilege('fleetdeck_report', 'users', 'username', 'SELECT')"
            ),
            "base reads audit_log": one(
                "SELECT has_column_privilege('fleetdeck_report', 'audit_log', 'action', 'SELECT')"
            ),
            "base locks": one(
                "SELECT has_function_privilege('fleetdeck_report', 'pg_advisory_lock(bigint)', 'EXECUTE')"
            ),
            "functions": sorted(
                str(r[0])
                for r in conn.execute(
                    text(
                        "SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n"
                        " ON n.oid = p.pronamespace WHERE n.nspname = 'fleetdeck_report'"
                    )
                )
            ),
        }


def test_upgrade_downgrade_upgrade(fresh: Database) -> None:
    migrate.upgrade(fresh)
    head = _state(fresh)
    assert head == {
        "base reads users": False,
        "base reads audit_log": False,
        "base locks": False,
        "functions": [
            "fleetdeck_report.run(text,integer,bigint)",
            "fleetdeck_report.run_admin(text,integer,bigint)",
            "fleetdeck_report.run_audit(text,integer,bigint)",
        ],
    }
    command.downgrade(migrate._config(fresh), "0010")
    assert _state(fresh) == {
        "base reads users": True,
        "base reads audit_log": True,
        "base locks": True,
        "functions": ["fleetdeck_report.run(text,integer)"],
    }
    migrate.upgrade(fresh)
    assert _state(fresh) == head
