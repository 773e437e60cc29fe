"""``fleetdeck db ...`` and ``fleetdeck config ...``"""

from __future__ import annotations

import json
import os

import typer

from fleetdeck.cli.options import ConfigFile, DatabaseUrl, DataDir, build_settings

db = typer.Typer(help="Database schema.", no_args_is_help=True)
config = typer.Typer(
    help="Effective server settings (show); the servers the CLI talks to (use, list, delete).",
    no_args_is_help=True,
)


@db.command("upgrade")
def upgrade(
    data_dir: DataDir = None, database_url: DatabaseUrl = None, config_file: ConfigFile = None
) -> None:
    """Apply pending migrations (the server also does this on start)."""
    from fleetdeck.storage import migrate
    from fleetdeck.storage.db import Database

    settings = build_settings(config_file, data_dir=data_dir, database_url=database_url)
    if not settings.data_dir.exists():
        settings.data_dir.mkdir(parents=True, mode=0o700)
    database = Database(settings.effective_database_url)
    migrate.upgrade(database)
    typer.echo(f"database at revision {migrate.current_revision(database)}")
    database.dispose()


@db.command("current")
def current(
    data_dir: DataDir = None, database_url: DatabaseUrl = None, config_file: ConfigFile = None
) -> None:
    """Print the schema revision of the database and of this code."""
    from fleetdeck.storage import migrate
    from fleetdeck.storage.db import Database

    settings = build_settings(config_file, data_dir=data_dir, database_url=database_url)
    database = Database(settings.effective_database_url)
    typer.echo(f"database: {migrate.current_revision(database)}  code: {migrate.head_revision(database)}")
    database.dispose()


@config.command("show")
def show(data_dir: DataDir = None, database_url: DatabaseUrl = None, config_file: ConfigFile = None) -> None:
    """Print the effective settings (secrets masked) and where each can be set."""
    settings = build_settings(config_file, data_dir=data_dir, database_url=database_url)
    values = json.loads(settings.model_dump_json())
    if values.get("secret_key"):
        values["secret_key"] = "***"
    named = os.environ.get("FLEETDECK_CONFIG")
    typer.echo(f"# config file: {named or 'none'}    (--config or FLEETDECK_CONFIG)")
    for name, field in type(settings).model_fields.items():
        typer.echo(f"{name} = {json.dumps(values[name])}    # FLEETDECK_{name.upper()}: {field.description}")
