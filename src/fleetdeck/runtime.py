"""The runtime without any transport: the engine, the bus and the core services, built from the
settings. ``fleetdeck.app`` wires the transports onto it; the CLI's local commands (``fleetdeck
user ...``, ``computer ...``) use it alone, so they start without importing the dialects, the
REST API or the web UI (half the start-up time of every one-shot command).
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from fleetdeck.bus import Bus, bus_from_url
from fleetdeck.bus.backlog import OutputBacklog
from fleetdeck.bus.changes import BusChangeFeed
from fleetdeck.bus.gateway import BusAgentGateway
from fleetdeck.bus.notifier import BusJobNotifier
from fleetdeck.bus.tunnels import BusTunnelListeners
from fleetdeck.bus.watch import BusJobWatch
from fleetdeck.core.certs.authority import SERVER_CERT, certificate_pins
from fleetdeck.core.secrets import Argon2Cost
from fleetdeck.core.services import CoreConfig, Services, build_services
from fleetdeck.core.settings.registry import SettingDef
from fleetdeck.settings import Settings
from fleetdeck.storage import migrate
from fleetdeck.storage.db import Database

log = logging.getLogger("fleetdeck")


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


def build_runtime(
    settings: Settings, *, migrate_db: bool = True, settings_defs: Iterable[SettingDef] = ()
) -> Runtime:
    """``settings_defs``: the runtime settings the transports declare besides core's own (the
    server passes every dialect's; a command that never reads them passes none)."""
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
            alert_scripts_dir=settings.data_dir / "alert-scripts",
            releases_dir=settings.data_dir / "agent-releases",
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
        settings_defs=settings_defs,
        tunnel_listeners=BusTunnelListeners(gateway),
    )
    return Runtime(
        settings=settings, db=db, bus=bus, services=services, backlog=backlog, gateway=gateway, watch=watch
    )


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
