"""``UTCDateTime`` reads back what it wrote, as aware UTC, on the test database (SQLite's fast
path and PostgreSQL's usual one), and SQLite text it cannot read quickly goes the usual way."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, insert, select, text
from sqlalchemy.engine import Engine

from fleetdeck.storage.tables.base import UTCDateTime

VALUES = [
    datetime(2026, 12, 2, 15, 4, 5, tzinfo=UTC),
    datetime(2026, 12, 2, 15, 4, 5, 123_456, tzinfo=UTC),
    datetime(2026, 12, 2, 17, 4, 5, 1, tzinfo=timezone(timedelta(hours=2))),  # stored as UTC
    datetime(1, 1, 1, tzinfo=UTC),
    None,
]


@pytest.fixture
def table(db_url: str) -> Iterator[tuple[Engine, Table]]:
    engine = create_engine(db_url)
    meta = MetaData()
    t = Table(
        "utc_datetime_probe", meta, Column("id", Integer, primary_key=True), Column("at", UTCDateTime())
    )
    meta.create_all(engine)
    try:
        yield engine, t
    finally:
        meta.drop_all(engine)
        engine.dispose()


def test_round_trip_is_aware_utc(table: tuple[Engine, Table]) -> None:
    engine, t = table
    with engine.begin() as conn:
        conn.execute(insert(t), [{"id": i, "at": v} for i, v in enumerate(VALUES)])
        back = list(conn.execute(select(t.c.at).order_by(t.c.id)).scalars())
    assert back == VALUES
    assert all(v is None or v.tzinfo is UTC for v in back)


def test_sqlite_text_in_other_shapes(table: tuple[Engine, Table]) -> None:
    engine, t = table
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite keeps datetimes as text")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO utc_datetime_probe (id, at) VALUES (1, '2026-12-02 15:04:05')"))
        conn.execute(text("INSERT INTO utc_datetime_probe (id, at) VALUES (2, '2026-12-02 15:04:05.5')"))
        back = list(conn.execute(select(t.c.at).order_by(t.c.id)).scalars())
    assert back == [
        datetime(2026, 12, 2, 15, 4, 5, tzinfo=UTC),
        datetime(2026, 12, 2, 15, 4, 5, 500_000, tzinfo=UTC),
    ]
