"""Alembic environment: the engine comes from ``config.attributes`` (see storage/migrate.py)."""

from __future__ import annotations

from alembic import context

from fleetdeck.storage.tables import Base

MIGRATION_LOCK = 0x6664_00DB  # "fd" + db: one advisory lock key for schema migrations

engine = context.config.attributes["engine"]
with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # Off for the migration (outside any transaction, where SQLite honours it): rebuilding a
        # table drops the old one, and with foreign keys on that would delete, by ON DELETE
        # CASCADE, every row that refers to it. Checked below, and back on before the
        # connection returns to the pool.
        connection.connection.dbapi_connection.execute("PRAGMA foreign_keys=OFF")
    try:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=sqlite,
            compare_type=True,
        )
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                # Several server processes started together on one database (scale-out) would
                # each create the same tables and all but one fail. The first to take this lock
                # migrates; the others wait, then find the database at head and do nothing
                # (Alembic reads the version after the lock, READ COMMITTED sees the commit).
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
            context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"migration left rows that refer to nothing: {broken[:10]}")
        connection.commit()
    finally:
        if sqlite:
            connection.connection.dbapi_connection.execute("PRAGMA foreign_keys=ON")
