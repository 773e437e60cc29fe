"""Persistence: SQLAlchemy 2 tables, the engine, the unit of work and Alembic migrations.

SQLite (WAL) is the embedded default; PostgreSQL the scale-out database. Nothing above
``core`` imports this package (import-linter checks it).
"""
