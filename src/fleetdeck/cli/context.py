"""Building the runtime for one-shot commands (no server, no bus listeners)."""

from __future__ import annotations

from pathlib import Path

import typer

from fleetdeck.app import Runtime, build_runtime
from fleetdeck.cli.options import build_settings
from fleetdeck.core.authz import Actor, system_actor
from fleetdeck.core.errors import FleetdeckError


def runtime(data_dir: Path | None, database_url: str | None, config: Path | None = None) -> Runtime:
    return build_runtime(build_settings(config, data_dir=data_dir, database_url=database_url))


def cli_actor() -> Actor:
    """Whoever can run the CLI against the data directory already owns the server."""
    return system_actor("cli")


def fail(exc: FleetdeckError) -> typer.Exit:
    typer.echo(f"error: {exc.message}", err=True)
    return typer.Exit(1)
