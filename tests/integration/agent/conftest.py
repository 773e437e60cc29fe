"""The application as ``fleetdeck server`` runs it (``cli.server.make_server``: uvicorn with the
server's WebSocket settings), on a loopback port in a thread of its own, for tests that speak to
the agent endpoint with a real WebSocket client."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from fleetdeck.app import Runtime
from fleetdeck.settings import Settings
from tests.conftest import PG_ADMIN_URL
from tests.live_server import LiveServer, running

T = TypeVar("T")
HELLO_TIMEOUT = 0.5


@pytest.fixture
def live(settings: Settings, runtime: Runtime) -> Iterator[LiveServer]:
    with running(settings, runtime, agent_hello_timeout_sec=HELLO_TIMEOUT) as server:
        yield server


@contextlib.contextmanager
def database_down(runtime: Runtime) -> Iterator[None]:
    """The server's database refuses connections until the block ends, as when its server is
    down or its file is gone: PostgreSQL stops accepting connections to the database and ends
    the open ones; SQLite's file is moved away (a directory takes its place, which SQLite
    cannot open). The engine's pool is emptied, so the next use must connect."""
    url = make_url(runtime.db.engine.url)
    runtime.db.dispose()
    if url.get_backend_name() == "postgresql":
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        name = url.database
        try:
            with admin.connect() as conn:
                conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
                conn.execute(
                    text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                    {"n": name},
                )
            yield
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
            admin.dispose()
    else:
        assert url.database
        path = Path(url.database)
        away = path.with_name(path.name + ".away")
        path.rename(away)
        path.mkdir()
        try:
            yield
        finally:
            path.rmdir()
            away.rename(path)
    runtime.db.dispose()
