"""``fleetdeck package ...``: importing package files from the server's shell."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fleetdeck.cli.context import cli_actor, fail, runtime
from fleetdeck.cli.options import ConfigFile, DatabaseUrl, DataDir
from fleetdeck.core.errors import FleetdeckError

app = typer.Typer(help="Packages.", no_args_is_help=True)


@app.command("import-opsi")
def import_opsi(
    path: Annotated[Path, typer.Argument(help="An opsi package file (.opsi) or a package source directory.")],
    force_product_id: Annotated[
        str | None, typer.Option(help="Import under this product id instead of the control file's.")
    ] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """Import an opsi package (product, properties, dependencies, CLIENT_DATA as payload).

    The same product, version and package version is replaced, as opsi re-installs it."""
    from fleetdeck.api.kit.opsi_package import (
        OpsiPackageError,
        read_opsi_package,
        read_opsi_source_dir,
        spool_dir,
    )

    rt = runtime(data_dir, database_url, config)
    spool = spool_dir(rt.settings.data_dir)
    try:
        if path.is_dir():
            imp = read_opsi_source_dir(path, spool_dir=spool)
        else:
            imp = read_opsi_package(path, force_product_id=force_product_id, spool_dir=spool)
    except OpsiPackageError as exc:
        typer.echo(f"error: {path.name}: {exc}", err=True)
        raise typer.Exit(2) from None
    try:
        result = rt.services.packages.import_package(cli_actor(), imp)
    except FleetdeckError as exc:
        raise fail(exc) from exc
    p = result.package
    typer.echo(
        f"{'replaced' if result.replaced else 'imported'} {p.family_key} {p.version}-{p.package_version}"
        f" (package {p.id})"
    )
    for what, why in result.not_run:
        typer.echo(f"kept, not run: {what}: {why}", err=True)
    if result.unresolved:
        typer.echo(
            "left out the dependencies on products not here: " + ", ".join(result.unresolved), err=True
        )
