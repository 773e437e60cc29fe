"""The application as ``fleetdeck server`` runs it (``cli.server.make_server``: uvicorn with the
server's WebSocket settings), on a loopback port in a thread of its own, for tests that speak to
the agent endpoint with a real WebSocket client."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import uvicorn
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from fleetdeck.api.agent import AgentHub
from fleetdeck.app import Runtime
from fleetdeck.cli.server import make_server
from fleetdeck.settings import Settings
from tests.conftest import PG_ADMIN_URL

T = TypeVar("T")
HELLO_TIMEOUT = 0.5


@dataclass
class LiveServer:
    server: uvicorn.Server
    loop: asyncio.AbstractEventLoop
    port: int

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/agent/v1/ws"

    @property
    def hub(self) -> AgentHub:
        hub: AgentHub = self.server.config.loaded_app.app.state.hub
        return hub

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 10) -> T:
        """Run a coroutine on the server's event loop (where the hub lives) and wait for it."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)


@pytest.fixture
def live(settings: Settings, runtime: Runtime) -> Iterator[LiveServer]:
    config = settings.model_copy(
        update={"host": "127.0.0.1", "port": 0, "agent_hello_timeout_sec": HELLO_TIMEOUT}
    )
    server, _ = make_server(config, runtime)
    started = threading.Event()
    box: dict[str, asyncio.AbstractEventLoop] = {}

    async def serve() -> None:
        box["loop"] = asyncio.get_running_loop()
        task = asyncio.create_task(server.serve())
        while not server.started and not task.done():
            await asyncio.sleep(0.01)
        started.set()
        await task

    thread = threading.Thread(target=asyncio.run, args=(serve(),), name="live-server", daemon=True)
    thread.start()
    assert started.wait(30) and server.started, "the server did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    yield LiveServer(server, box["loop"], port)
    server.should_exit = True
    thread.join(30)


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
