"""The composition root: the only place that builds the engine, the bus and the services and
wires the transports onto them. Run with ``uvicorn --factory fleetdeck.app:create_app`` or
through ``fleetdeck server``.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from fleetdeck import __version__
from fleetdeck.api.agent import (
    AgentHub,
    ClusterTerminalRelay,
    HubConfig,
    PayloadThrottle,
    agent_websocket_route,
    file_route,
    install_routes,
    payload_route,
    release_route,
)
from fleetdeck.api.agent.tunnel_proxy import TunnelRoute
from fleetdeck.api.dialects import idoit, oco, opsi, remotepc, rport
from fleetdeck.api.kit.dialect import Dialect, DialectDeps, DialectRoute, Listener
from fleetdeck.api.limits import BodySizeLimit
from fleetdeck.api.v1 import create_v1
from fleetdeck.api.v1.docs import DocsAssets
from fleetdeck.core.agentdist import AgentDist
from fleetdeck.core.certs.authority import ensure_server_certificate
from fleetdeck.core.housekeeping import Housekeeping, standard_duties
from fleetdeck.core.settings.registry import SettingDef
from fleetdeck.runtime import (
    Runtime,  # also imported from here by the tests
    served_pins,
)
from fleetdeck.runtime import build_runtime as build_core_runtime
from fleetdeck.settings import Settings
from fleetdeck.web import create_web
from fleetdeck.web.assets import vendor_url

log = logging.getLogger("fleetdeck")

DIALECTS: tuple[Dialect, ...] = (oco.DIALECT, opsi.DIALECT, idoit.DIALECT, remotepc.DIALECT, rport.DIALECT)


class _QuietServer(uvicorn.Server):
    """A dialect's extra listener inside the main server's event loop: the main server owns
    the process's signals, so this one must not take them over."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def start_listener(listener: Listener) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    """Serve ``listener.app`` on its address until ``stop_listener``; raises if it cannot bind."""
    config = uvicorn.Config(
        listener.app, host=listener.host, port=listener.port, lifespan="off", log_level="warning"
    )
    server = _QuietServer(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # the bind failed: say why
            raise OSError(f"cannot listen on {listener.host}:{listener.port}")
        await asyncio.sleep(0.01)
    return server, task


async def stop_listener(server: uvicorn.Server, task: asyncio.Task[None]) -> None:
    server.should_exit = True
    await task


def dialect_settings() -> tuple[SettingDef, ...]:
    """The runtime settings every dialect owns, besides core's own."""
    return tuple(d for dialect in DIALECTS for d in dialect.settings)


def build_runtime(settings: Settings, *, migrate_db: bool = True) -> Runtime:
    """The server's runtime: ``fleetdeck.runtime.build_runtime`` with the dialects' settings."""
    return build_core_runtime(settings, migrate_db=migrate_db, settings_defs=dialect_settings())


async def _not_found(request: Request, exc: Exception) -> JSONResponse:
    """Unknown paths answer in the JSON error format, as the API does, not Starlette's plain text."""
    return JSONResponse({"error": {"code": "not_found", "message": f"no such path: {request.url.path}"}}, 404)


async def _method_not_allowed(request: Request, exc: Exception) -> JSONResponse:
    body = {"error": {"code": "method_not_allowed", "message": f"{request.method} is not allowed here"}}
    return JSONResponse(body, 405)


def tunnel_proxy_tls(settings: Settings) -> tuple[Path, Path]:
    """The certificate http_proxy tunnels serve: the server's own (``--tls auto``/``files``);
    with ``--tls off``, one made at first use by fleetdeck's CA under ``data_dir/tunnel-proxy-tls``."""
    if settings.tls == "files" and settings.tls_cert and settings.tls_key:
        return settings.tls_cert, settings.tls_key
    directory = settings.data_dir / ("tls" if settings.tls == "auto" else "tunnel-proxy-tls")
    return ensure_server_certificate(directory, socket.gethostname(), ["localhost", "127.0.0.1", "::1"])


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> Starlette:
    settings = settings or (runtime.settings if runtime else Settings())
    rt = runtime or build_runtime(settings)
    hub = AgentHub(
        rt.services,
        rt.bus,
        HubConfig(
            node_id=settings.node_id,
            heartbeat_sec=settings.heartbeat_sec,
            offline_after_sec=settings.effective_offline_after,
            server_version=__version__,
            reconnect_window_sec=settings.reconnect_window_sec,
            hello_timeout_sec=settings.agent_hello_timeout_sec,
        ),
    )
    hub.tunnels.proxy_tls = lambda: tunnel_proxy_tls(settings)
    # Unique per process: a second process with the same node id must not renew this one's leases.
    holder = f"{settings.node_id}:{secrets.token_hex(4)}"
    duties = standard_duties(rt.services, lost_after_sec=settings.job_lost_after_sec)
    housekeeping = Housekeeping(rt.services.leases, duties, holder, nodes=rt.services.nodes)

    async def healthz(request: Request) -> JSONResponse:
        ok = rt.services.computers.exists([]) is not None
        return JSONResponse(
            {
                "status": "ok" if ok else "degraded",
                "version": __version__,
                "database": rt.db.dialect,
                "bus": type(rt.bus).__name__,
                "node": hub.node_id,
                "agents_connected": len(hub.conns),
                "duties": sorted(housekeeping.held),
            }
        )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await rt.bus.start()
        await rt.backlog.start()
        await rt.gateway.start()
        await rt.watch.start()
        # The first change to the fleet's state (core.nodes): `fleetdeck server` owns its
        # listener by now (cli.server binds before the application starts).
        hub.node_id = await housekeeping.claim_node(settings.node_id, hub.moved)
        await hub.start()
        await housekeeping.start()
        listeners = []
        for dialect in DIALECTS:
            own = dialect.listener(deps) if dialect.listener else None
            if own is not None:
                listeners.append(await start_listener(own))
                log.info("%s dialect listening on %s:%s", dialect.name, own.host, own.port)
        app.state.listeners = listeners
        log.info("fleetdeck %s ready (node %s, database: %s)", __version__, hub.node_id, rt.db.dialect)
        try:
            yield
        finally:
            for server, task in listeners:
                await stop_listener(server, task)
            await housekeeping.stop()
            await hub.stop()
            # Only after its computers are offline: a process taking the name over at once
            # would otherwise have its new connections marked offline by this stop.
            await housekeeping.release_node()
            # mails already queued (invitations, codes, alerts) go out before the process ends
            await asyncio.to_thread(rt.services.mail.close)
            await rt.watch.close()
            await rt.gateway.close()
            await rt.backlog.close()
            await rt.bus.close()
            rt.db.dispose()

    docs = DocsAssets(
        swagger_js=vendor_url("swagger-ui-bundle.js"),
        swagger_css=vendor_url("swagger-ui.css"),
        swagger_favicon=vendor_url("swagger-favicon-32x32.png"),
        redoc_js=vendor_url("redoc.standalone.js"),
    )
    v1 = create_v1(rt.services, rt.bus, rt.watch, docs_assets=docs)
    throttle = PayloadThrottle(settings.payload_max_downloads, settings.payload_bandwidth_bytes_per_sec)
    app = Starlette(
        routes=[
            Route("/healthz", healthz),
            agent_websocket_route(hub),
            payload_route(rt.services, throttle),
            file_route(rt.services, throttle),
            release_route(rt.services, throttle),
            *install_routes(
                rt.services,
                AgentDist(settings.data_dir / "agent-dist", settings.data_dir / "agent-wheels"),
                settings.public_url,
                lambda: (served_pins(settings) or (None, None))[0],
            ),
            Mount("/api/v1", app=v1),
            # HTTP into a tunnel through this port (api/agent/tunnel_proxy.py)
            Mount("/tunnels", app=TunnelRoute(rt.services, hub.tunnels.dial)),
        ],
        lifespan=lifespan,
        exception_handlers={404: _not_found, 405: _method_not_allowed},
    )
    deps = DialectDeps(services=rt.services, data_dir=settings.data_dir, bus=rt.bus, watch=rt.watch)
    for dialect in DIALECTS:
        app.router.routes.append(DialectRoute(dialect.name, dialect.build(deps)))
    # Last: the UI at / gets only its own paths that no route above claimed.
    app.router.routes.append(
        create_web(
            rt.services,
            watch=rt.watch,
            max_upload_bytes=settings.max_body_bytes,
            public_url=settings.public_url,
            pubkey_pin=lambda: (served_pins(settings) or (None, None))[1],
            terminal_relay=ClusterTerminalRelay(hub, rt.gateway),
            stream_opener=hub.tunnels,
        )
    )
    app.add_middleware(
        BodySizeLimit, max_bytes=settings.max_body_bytes, max_stream_bytes=settings.max_payload_bytes
    )
    app.state.runtime = rt
    app.state.hub = hub
    app.state.payload_throttle = throttle  # diagnostics: payload downloads now and refused
    app.state.housekeeping = housekeeping
    app.state.caller_limits = deps.limits  # diagnostics: who holds worker threads now
    return app
