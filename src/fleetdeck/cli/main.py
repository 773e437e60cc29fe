"""The ``fleetdeck`` command (typer). One module per noun beside this one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import typer

from fleetdeck.cli import computers, database, enroll, packages, remote, settings, users
from fleetdeck.cli.options import ConfigFile, DatabaseUrl, DataDir, build_settings

app = typer.Typer(
    help="fleetdeck: endpoint management in one server.", no_args_is_help=True, pretty_exceptions_enable=False
)
app.add_typer(users.app, name="user")
app.add_typer(enroll.app, name="enroll-token")
app.add_typer(computers.app, name="computer")
app.add_typer(packages.app, name="package")
app.add_typer(database.db, name="db")
app.add_typer(database.config, name="config")
app.add_typer(settings.app, name="settings")
remote.register(app, database.config)  # the verbs against a running server (cli/remote)


@app.command()
def server(
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
    host: Annotated[str | None, typer.Option(envvar="FLEETDECK_HOST", help="Listen address.")] = None,
    port: Annotated[int | None, typer.Option(envvar="FLEETDECK_PORT", help="Listen port.")] = None,
    tls: Annotated[str | None, typer.Option(envvar="FLEETDECK_TLS", help="off | auto | files")] = None,
    tls_cert: Annotated[Path | None, typer.Option(envvar="FLEETDECK_TLS_CERT")] = None,
    tls_key: Annotated[Path | None, typer.Option(envvar="FLEETDECK_TLS_KEY")] = None,
    log_level: Annotated[str | None, typer.Option(envvar="FLEETDECK_LOG_LEVEL")] = None,
    log_format: Annotated[str | None, typer.Option(envvar="FLEETDECK_LOG_FORMAT", help="text | json")] = None,
) -> None:
    """Run the server."""
    from fleetdeck.cli.server import run_server

    if tls_cert and tls is None:
        tls = "files"
    run_server(
        build_settings(
            config,
            data_dir=data_dir,
            database_url=database_url,
            host=host,
            port=port,
            tls=tls,
            tls_cert=tls_cert,
            tls_key=tls_key,
            log_level=log_level,
            log_format=log_format,
        )
    )


@app.command()
def up(
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
    host: Annotated[str | None, typer.Option(envvar="FLEETDECK_HOST")] = None,
    port: Annotated[int | None, typer.Option(envvar="FLEETDECK_PORT")] = None,
    tls: Annotated[str | None, typer.Option(envvar="FLEETDECK_TLS", help="off | auto")] = None,
) -> None:
    """Run the server and a local agent enrolled against it (what `make run` does)."""
    from fleetdeck.cli.server import run_up

    run_up(
        build_settings(config, data_dir=data_dir, database_url=database_url, host=host, port=port, tls=tls)
    )


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def agent(ctx: typer.Context) -> None:
    """Run the agent (see `fleetdeck agent --help`). Agent releases on a running server:
    `fleetdeck agent publish|rollout|releases|updates` (docs/deployment.md)."""
    from fleetdeck.agent.main import main as agent_main

    raise typer.Exit(agent_main(list(ctx.args)))


@app.command()
def version(fmt: Annotated[Literal["text", "json"], typer.Option("--format")] = "text") -> None:
    """Print the version."""
    from fleetdeck import __version__

    typer.echo(json.dumps({"version": __version__}) if fmt == "json" else __version__)
