"""The composition root: the only place that builds the engine, the bus and the services and
wires the transports onto them. Run with ``uvicorn --factory fleetdeck.app:create_app`` or
through ``fleetdeck server``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from fleetdeck import __version__
from fleetdeck.api.agent import (
    AgentHub,
    HubConfig,
    PayloadThrottle,
    agent_websocket_route,
    file_route,
    install_routes,
    payload_route,
)
from fleetdeck.api.dialects import idoit, oco, opsi, remotepc, rport
from fleetdeck.api.kit.dialect import Dialect, DialectDeps, DialectRoute, Listener
from fleetdeck.api.limits import BodySizeLimit
from fleetdeck.api.v1 import create_v1
from fleetdeck.api.v1.docs import DocsAssets
from fleetdeck.bus import Bus, bus_from_url
from fleetdeck.bus.backlog import OutputBacklog
from fleetdeck.bus.changes import BusChangeFeed
from fleetdeck.bus.gateway import BusAgentGateway
from fleetdeck.bus.notifier import BusJobNotifier
from fleetdeck.bus.watch import BusJobWatch
from fleetdeck.core.agentdist import AgentDist
from fleetdeck.core.certs.authority import SERVER_CERT, certificate_pins
from fleetdeck.core.housekeeping import Housekeeping, standard_duties
from fleetdeck.core.secrets import Argon2Cost
from fleetdeck.core.services import CoreConfig, Services, build_services
from fleetdeck.settings import Settings
from fleetdeck.storage import migrate
from fleetdeck.storage.db import Database
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


@dataclass
class Runtime:
    settings: Settings
    db: Database
    bus: Bus
    services: Services
    backlog: OutputBacklog
    gateway: BusAgentGateway
    watch: BusJobWatch


def load_or_create_secret(data_dir: Path) -> str:
    """The server key signs tokens and encrypts secrets; created once, mode 0600."""
    path = data_dir / "secret.key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")
    return key


def private_dir(path: Path) -> None:
    """The data directory holds the database, the server key and payloads: 0700 when we create
    it, and a warning when an existing one can be read by others."""
    if not path.exists():
        path.mkdir(parents=True, mode=0o700)
    elif path.stat().st_mode & 0o077:
        log.warning("data directory %s can be read by other users; chmod 700 it", path)


def build_runtime(settings: Settings, *, migrate_db: bool = True) -> Runtime:
    private_dir(settings.data_dir)
    secret = settings.secret_key or load_or_create_secret(settings.data_dir)
    db = Database(settings.effective_database_url)
    if migrate_db:
        migrate.upgrade(db)
    bus = bus_from_url(settings.bus_url, settings.bus_namespace)
    backlog = OutputBacklog(bus)
    gateway = BusAgentGateway(bus)
    watch = BusJobWatch(bus, backlog)
    services = build_services(
        db,
        secret,
        CoreConfig(
            token_lifetime_sec=settings.token_lifetime_sec,
            login_max_failures=settings.login_max_failures,
            login_window_sec=settings.login_window_sec,
            login_max_failures_per_address=settings.login_max_failures_per_address,
            max_output_bytes=settings.max_output_bytes,
            payload_dir=settings.data_dir / "payloads",
            files_dir=settings.data_dir / "files",
            logs_dir=settings.data_dir / "logs",
            argon2=Argon2Cost(
                settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism
            ),
            node_lease_sec=settings.node_lease_sec,
            tls_dir=settings.data_dir / "tls" if settings.tls == "auto" else None,
            max_payload_bytes=settings.max_payload_bytes,
        ),
        notifier=BusJobNotifier(bus),
        gateway=gateway,
        watch=watch,
        changes=BusChangeFeed(bus),
        settings_defs=[d for dialect in DIALECTS for d in dialect.settings],
    )
    return Runtime(
        settings=settings, db=db, bus=bus, services=services, backlog=backlog, gateway=gateway, watch=watch
    )


async def _not_found(request: Request, exc: Exception) -> JSONResponse:
    """Unknown paths answer in the JSON error format, as the API does, not Starlette's plain text."""
    return JSONResponse({"error": {"code": "not_found", "message": f"no such path: {request.url.path}"}}, 404)


async def _method_not_allowed(request: Request, exc: Exception) -> JSONResponse:
    body = {"error": {"code": "method_not_allowed", "message": f"{request.method} is not allowed here"}}
    return JSONResponse(body, 405)


def served_pins(settings: Settings) -> tuple[str, str] | None:
    """The certificate fingerprint and public-key pin of what the server presents (the install
    script and the curl line pin them), or None without TLS. Read each time: a renewed
    certificate is picked up."""
    cert = settings.tls_cert if settings.tls == "files" else None
    if settings.tls == "auto":
        cert = settings.data_dir / "tls" / SERVER_CERT
    if cert is None or not cert.exists():
        return None
    return certificate_pins(cert)


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
            *install_routes(
                rt.services,
                AgentDist(settings.data_dir / "agent-dist", settings.data_dir / "agent-wheels"),
                settings.public_url,
                lambda: (served_pins(settings) or (None, None))[0],
            ),
            Mount("/api/v1", app=v1),
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
