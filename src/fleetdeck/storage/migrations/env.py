"""Alembic environment: the engine comes from ``config.attributes`` (see storage/migrate.py)."""

from __future__ import annotations

from alembic import context

from fleetdeck.storage.tables import Base

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
            context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"migration left rows that refer to nothing: {broken[:10]}")
        connection.commit()
    finally:
        if sqlite:
            connection.connection.dbapi_connection.execute("PRAGMA foreign_keys=ON")
