"""The application as ``fleetdeck server`` runs it (``cli.server.make_server``: uvicorn with the
server's settings), on a loopback port in a thread of its own, for tests that need real sockets
(WebSocket clients, peer addresses) without a separate process."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import uvicorn

from fleetdeck.api.agent import AgentHub
from fleetdeck.app import Runtime
from fleetdeck.cli.server import make_server
from fleetdeck.settings import Settings

T = TypeVar("T")


@dataclass
class LiveServer:
    server: uvicorn.Server
    loop: asyncio.AbstractEventLoop
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/agent/v1/ws"

    @property
    def app(self) -> Any:
        """The Starlette application inside uvicorn's own middleware."""
        app = self.server.config.loaded_app
        while not hasattr(app, "state"):
            app = app.app
        return app

    @property
    def hub(self) -> AgentHub:
        hub: AgentHub = self.app.state.hub
        return hub

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 10) -> T:
        """Run a coroutine on the server's event loop (where the hub lives) and wait for it."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)


@contextlib.contextmanager
def running(settings: Settings, runtime: Runtime, **overrides: Any) -> Iterator[LiveServer]:
    """The server on 127.0.0.1 and a free port, with ``overrides`` applied to ``settings``."""
    config = settings.model_copy(update={"host": "127.0.0.1", "port": 0, **overrides})
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
    try:
        yield LiveServer(server, box["loop"], port)
    finally:
        server.should_exit = True
        thread.join(30)
