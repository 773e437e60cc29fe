"""Running the server (``fleetdeck server``) and the all-in-one ``fleetdeck up``."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import uvicorn
from rich.console import Console

from fleetdeck.app import build_runtime, create_app
from fleetdeck.cli.logs import setup_logging
from fleetdeck.cli.tls import ensure_self_signed, fingerprint
from fleetdeck.core.authz import Role, system_actor
from fleetdeck.core.secrets import random_password
from fleetdeck.runtime import Runtime
from fleetdeck.settings import Settings

log = logging.getLogger("fleetdeck")
console = Console(stderr=True)


def tls_files(settings: Settings) -> tuple[Path | None, Path | None]:
    if settings.tls == "auto":
        return ensure_self_signed(settings.data_dir)
    if settings.tls == "files" or settings.tls_cert:
        if not settings.tls_cert or not settings.tls_key:
            raise SystemExit("--tls-cert and --tls-key are both required")
        return settings.tls_cert, settings.tls_key
    return None, None


def ensure_first_admin(rt: Runtime) -> None:
    """On first start there is no user: create ``admin`` and print its password, once."""
    if rt.services.users.count():
        return
    password = random_password()
    rt.services.users.create(system_actor("cli"), "admin", password, Role.ADMIN)
    console.print("[bold green]First start: created the administrator account.[/]")
    console.print(f"  user name: [bold]admin[/]\n  password:  [bold]{password}[/]")
    console.print("  (shown only this once; change it with `fleetdeck user passwd admin`)")


# Python's default (700, 10, 10) runs a young collection every 700 new container objects. A
# server holding thousands of agent connections allocates that many in well under a
# millisecond while it fans a command out, so objects that live only a few ms (frames, rows,
# per-agent batches) survive into the old generation, and the old generation is then collected
# in full over and over: 0.3 s per collection at 3,000 agents (600,000 objects), about 1 s at
# 10,000, several times a minute under load (docs/performance.md). Fewer, larger young
# collections let those objects die young.
GC_THRESHOLDS = (50_000, 20, 10)

# websockets' sans-I/O protocol rather than wsproto: 15-20 % less server CPU per agent frame in
# a fan-out or a heartbeat burst, for ~2 KiB more per idle agent (docs/performance.md).
# uvicorn's older "websockets" mode breaks with websockets 17.
WS_IMPL = "websockets-sansio"


def tune_gc() -> None:
    """Collection thresholds for a long-running server; what start-up built (modules,
    classes, the app) is frozen: it lives as long as the process, so no collection needs to
    look at it again."""
    gc.set_threshold(*GC_THRESHOLDS)
    gc.collect()
    gc.freeze()


class FleetServer(uvicorn.Server):
    """uvicorn, with the listener bound before the application starts.

    uvicorn runs the application's start-up (the lifespan) before it binds its port, so a
    second server started by mistake on a port in use would change the fleet's state (claim
    its node, mark computers offline) and only then fail. Here the port is bound first: a
    process that cannot listen stops before it has touched anything."""

    def __init__(self, config: uvicorn.Config, say_bye: Callable[[], Awaitable[None]] | None = None) -> None:
        super().__init__(config)
        self._say_bye = say_bye

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        if sockets is None:
            sockets = [bind_listener(self.config)]
        await super().serve(sockets=sockets)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """On SIGTERM/SIGINT: stop accepting, then tell the agents when to come back (Bye with
        the reconnect window) before uvicorn closes their connections with a bare 1012. The
        listener goes first, so an agent told to come back at once meets the next server
        process, not this stopping one."""
        for server in getattr(self, "servers", []):
            server.close()
        if self._say_bye is not None:
            try:
                await self._say_bye()
            except Exception:  # the agents fall back to their ordinary backoff
                log.exception("telling the agents goodbye failed")
        await super().shutdown(sockets=sockets)


def bind_listener(config: uvicorn.Config) -> socket.socket:
    """The server's listening socket (what uvicorn's ``bind_socket`` does), with a clear
    message instead of a traceback when the port is taken.

    The protocol is named (``IPPROTO_TCP``), not left 0: accepted sockets inherit it, and
    asyncio switches Nagle's algorithm off (``TCP_NODELAY``) only on sockets whose ``proto`` says
    TCP. Without it every answer on a kept-alive connection whose head and body leave in two
    writes waited for the client's delayed ACK: ~40 ms per call instead of ~2."""
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((config.host, config.port))
        sock.listen(config.backlog)  # connections wait in the backlog until the app is ready
    except OSError as exc:
        sock.close()
        log.error("cannot listen on %s:%s: %s", config.host, config.port, exc.strerror or exc)
        raise SystemExit(
            f"cannot listen on {config.host}:{config.port}: {exc.strerror or exc}"
            " (is another fleetdeck server running there?)"
        ) from None
    sock.set_inheritable(True)
    return sock


def make_server(settings: Settings, rt: Runtime) -> tuple[FleetServer, str]:
    cert, key = tls_files(settings)
    app = create_app(settings, rt)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        ws=WS_IMPL,
        ws_max_size=16 * 1024 * 1024,
        ws_ping_interval=None,  # agents send heartbeats; the hub drops silent ones
        # No permessage-deflate: agents up to 0.1 (websockets' client) offered it, and each
        # connection would then keep zlib state: with wsproto ~139 instead of ~31 KiB server
        # RSS per idle agent, with websockets ~49 (docs/performance.md). Agent frames are small
        # JSON; little is lost. Today's agent (agent/wsclient.py) offers no extension at all.
        ws_per_message_deflate=False,
        ssl_certfile=str(cert) if cert else None,
        ssl_keyfile=str(key) if key else None,
        log_config=None,
        access_log=settings.access_log,
        timeout_graceful_shutdown=5,
        backlog=8192,
        lifespan="on",
        # X-Forwarded-For only from the proxies an admin names (uvicorn would believe 127.0.0.1,
        # so anything on the machine could spoof the address the throttle and the audit see).
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=",".join(settings.trusted_proxies) or "",
        # Transports set their own Server header (opsi clients choose msgpack + LZ4 by it);
        # uvicorn's default would be sent as a second one.
        server_header=False,
    )
    scheme = "https" if cert else "http"
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    if ":" in host:
        host = f"[{host}]"
    url = settings.public_url or f"{scheme}://{host}:{settings.port}"
    if cert:
        console.print(f"TLS certificate fingerprint: [bold]{fingerprint(cert)}[/]")
    return FleetServer(config, app.state.hub.say_bye), url


def run_server(settings: Settings) -> None:
    setup_logging(settings.log_level, settings.log_format)
    rt = build_runtime(settings)
    ensure_first_admin(rt)
    server, url = make_server(settings, rt)
    console.print(f"fleetdeck listening on [bold]{url}[/]: web UI {url}/ , API docs {url}/api/v1/docs")
    tune_gc()
    server.run()


def run_up(settings: Settings) -> None:
    """Server plus a local agent enrolled against it: this computer shows up within seconds."""
    setup_logging(settings.log_level, settings.log_format)
    rt = build_runtime(settings)
    ensure_first_admin(rt)
    server, url = make_server(settings, rt)
    tune_gc()
    state_dir = settings.data_dir / "agent"
    agent_cmd = [sys.executable, "-m", "fleetdeck.agent", "--server", url, "--state-dir", str(state_dir)]
    # A development setup: a package's "restart"/"shutdown" must not power off the developer's machine.
    agent_cmd.append("--simulate-power-actions")
    if not (state_dir / "state.json").exists():
        token = rt.services.enrollment.create_token(
            system_actor("cli"), expires_in=timedelta(hours=1), max_uses=1, note="local agent (fleetdeck up)"
        )
        agent_cmd += ["--enroll-token", token.token]
    if settings.tls == "auto":
        cert, _ = tls_files(settings)
        assert cert is not None
        agent_cmd += ["--server-fingerprint", fingerprint(cert)]
    asyncio.run(_serve_with_agent(server, agent_cmd, url, LocalAgent(rt, state_dir)))


AGENT_START_SEC = 30.0  # how long `fleetdeck up` waits for its agent before saying so


class LocalAgent:
    """What `fleetdeck up` needs to know of its agent: has it connected (its computer online)?"""

    def __init__(self, rt: Runtime, state_dir: Path) -> None:
        self._rt = rt
        self.state_dir = state_dir

    def computer_online(self) -> int | None:
        """The agent's computer id once it is connected; None before (or without credentials)."""
        from fleetdeck.agent.config import StateStore
        from fleetdeck.core.errors import NotFound

        try:
            state = StateStore(self.state_dir).load()
        except (OSError, ValueError):
            return None
        if state is None:
            return None
        try:
            computer = self._rt.services.computers.get(system_actor("cli"), state.computer_id)
        except NotFound:
            return None
        return state.computer_id if computer.summary.online else None


def agent_exit_reason(code: int, state_dir: Path) -> str:
    """What an exit code of the local agent means, for the person who ran `fleetdeck up`."""
    from fleetdeck.agent.main import EXIT_REJECTED

    if code == EXIT_REJECTED:
        return (
            f"the server rejected the credentials in {state_dir}: its computer was deleted, or "
            f"another agent re-enrolled it. Remove {state_dir} and run again to enroll it as a new computer."
        )
    if code == 1:
        return "its enrollment was refused (see its log above)"
    return f"it exited with status {code} (see its log above)"


async def _serve_with_agent(server: FleetServer, agent_cmd: list[str], url: str, local: LocalAgent) -> None:
    serve = asyncio.create_task(server.serve())
    while not server.started:
        if serve.done():
            await serve  # startup failed: surface the error
            return
        await asyncio.sleep(0.05)
    agent = subprocess.Popen(agent_cmd)  # noqa: ASYNC220 - Popen returns at once
    console.print(f"fleetdeck is up: web UI at [bold]{url}/[/]  (API docs: {url}/api/v1/docs)")
    watch = asyncio.create_task(_watch_agent(agent, local))
    try:
        await serve
    finally:
        watch.cancel()
        if agent.poll() is None:
            agent.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                agent.wait(10)
        if agent.poll() is None:
            agent.kill()
            agent.wait()


async def _watch_agent(agent: subprocess.Popen[bytes], local: LocalAgent) -> None:
    """Say that the local agent runs only once its computer is online, and say so when it stops
    instead (rejected credentials, refused enrollment), now or later; the server keeps running."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + AGENT_START_SEC
    announced = False
    while agent.poll() is None:
        if not announced:
            cid = await asyncio.to_thread(local.computer_online)
            if cid is not None:
                console.print(
                    f"A local agent is running; this computer is computer {cid} under GET /api/v1/computers. "
                    "Ctrl-C stops."
                )
                announced = True
            elif loop.time() > deadline:
                console.print("[yellow]The local agent has not connected yet; see its log above.[/]")
                announced = True
        await asyncio.sleep(0.2)
    code = agent.returncode
    if code == 0:  # stopped by a signal (Ctrl-C reaches it too)
        return
    console.print(
        f"[bold red]The local agent is not running:[/] {agent_exit_reason(code, local.state_dir)} "
        "The server keeps running."
    )
    log.error("local agent stopped with status %s", code)
