"""Building the runtime for one-shot commands (no server, no bus listeners).

The heavy parts are imported when a command runs, not when ``fleetdeck.cli.main`` is imported,
and a local command builds ``fleetdeck.runtime`` (core, storage, bus) without the transports:
``fleetdeck user list`` starts in half the time ``fleetdeck.app`` would cost it. Only the
``settings`` commands need the dialects (for the settings they own)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from fleetdeck.cli.options import build_settings
from fleetdeck.core.authz import Actor, system_actor
from fleetdeck.core.errors import FleetdeckError

if TYPE_CHECKING:
    from fleetdeck.runtime import Runtime


def runtime(
    data_dir: Path | None, database_url: str | None, config: Path | None = None, *, dialects: bool = False
) -> Runtime:
    """``dialects``: also register the settings the dialects own (imports every dialect)."""
    settings = build_settings(config, data_dir=data_dir, database_url=database_url)
    if dialects:
        from fleetdeck.app import build_runtime as build_server_runtime

        return build_server_runtime(settings)
    from fleetdeck.runtime import build_runtime

    return build_runtime(settings)


def cli_actor() -> Actor:
    """Whoever can run the CLI against the data directory already owns the server."""
    return system_actor("cli")


def fail(exc: FleetdeckError) -> typer.Exit:
    typer.echo(f"error: {exc.message}", err=True)
    return typer.Exit(1)
