"""Declarative base, naming convention (stable constraint names for Alembic) and UTC times."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Dialect, Integer, MetaData, String, TypeDecorator
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BIGINT on PostgreSQL, but INTEGER on SQLite so that it is the rowid alias and autoincrements.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in Python; naive UTC in the database (SQLite has no time zones)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)

    def result_processor(self, dialect: Dialect, coltype: object) -> Callable[[Any], datetime | None] | None:
        """On SQLite, where a datetime is the text SQLAlchemy wrote (``YYYY-MM-DD HH:MM:SS.ffffff``),
        one ``fromisoformat`` of that text as UTC instead of SQLAlchemy's parser followed by
        ``process_result_value``: the same values at a fifth of the cost, which is most of what
        reading a long list of rows costs (bench/oco_list.py). Text it cannot read as a naive
        time goes the usual way."""
        usual = super().result_processor(dialect, coltype)
        if dialect.name != "sqlite" or usual is None:
            return usual

        def process(value: Any) -> datetime | None:
            if isinstance(value, str):
                try:
                    return datetime.fromisoformat(value + "+00:00")
                except ValueError:
                    pass
            return usual(value)

        return process


class utc_text(FunctionElement[str]):  # noqa: N801 (an SQL function, named like one)
    """A UTC time column as text ``YYYY-MM-DD HH:MM:SS`` (whole seconds), made by the database:
    reading half a million times as text costs a fraction of parsing them into datetimes."""

    type = String()
    inherit_cache = True

    def __init__(self, column: Any) -> None:  # a UTCDateTime column
        super().__init__(column)


@compiles(utc_text, "sqlite")
def _utc_text_sqlite(element: utc_text, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLAlchemy stores SQLite datetimes as ``YYYY-MM-DD HH:MM:SS.ffffff`` text
    return f"substr({compiler.process(element.clauses, **kw)}, 1, 19)"


@compiles(utc_text, "postgresql")
def _utc_text_postgresql(element: utc_text, compiler: SQLCompiler, **kw: Any) -> str:
    # naive UTC ``timestamp without time zone`` (UTCDateTime)
    return f"to_char({compiler.process(element.clauses, **kw)}, 'YYYY-MM-DD HH24:MI:SS')"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[Any]: JSON}
