"""``fleetdeck settings ...``: the runtime settings store (secrets are never printed)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table

from fleetdeck.cli.context import cli_actor, fail, runtime
from fleetdeck.cli.options import ConfigFile, DatabaseUrl, DataDir
from fleetdeck.core.errors import FleetdeckError

if TYPE_CHECKING:
    from fleetdeck.core.settings import Setting
    from fleetdeck.runtime import Runtime

app = typer.Typer(help="Runtime settings (dialect switches, keys, WOL, report limits).", no_args_is_help=True)


@contextmanager
def _runtime(data_dir: Path | None, database_url: str | None, config: Path | None) -> Iterator[Runtime]:
    """The runtime for one command; its connections are closed when the command ends."""
    rt = runtime(data_dir, database_url, config, dialects=True)
    try:
        yield rt
    finally:
        rt.db.dispose()


def _show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _line(s: Setting) -> str:
    return f"{s.key} = {_show(s.value)}" + ("" if s.is_default else f"  (set by {s.updated_by})")


@app.command("list")
def list_settings(
    data_dir: DataDir = None, database_url: DatabaseUrl = None, config: ConfigFile = None
) -> None:
    """Every setting with its value, type and description."""
    table = Table("key", "value", "type", "default", "description")
    with _runtime(data_dir, database_url, config) as rt:
        for s in rt.services.settings.list(cli_actor()):
            value = _show(s.value) + ("" if s.is_default else " *")
            table.add_row(s.key, value, s.type, _show(s.default), s.description)
    Console().print(table)
    typer.echo("* = set (differs from the default)")


@app.command("get")
def get_setting(
    key: str, data_dir: DataDir = None, database_url: DatabaseUrl = None, config: ConfigFile = None
) -> None:
    """Print one setting's value (JSON for non-text values)."""
    try:
        with _runtime(data_dir, database_url, config) as rt:
            typer.echo(_show(rt.services.settings.get(cli_actor(), key).value))
    except FleetdeckError as exc:
        raise fail(exc) from exc


@app.command("set")
def set_setting(
    key: str,
    value: str = typer.Argument(help="Parsed per type: true/false, numbers, lists as JSON or a,b,c."),
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """Change a setting."""
    try:
        with _runtime(data_dir, database_url, config) as rt:
            typer.echo(_line(rt.services.settings.set(cli_actor(), key, value)))
    except FleetdeckError as exc:
        raise fail(exc) from exc


@app.command("reset")
def reset_setting(
    key: str, data_dir: DataDir = None, database_url: DatabaseUrl = None, config: ConfigFile = None
) -> None:
    """Return a setting to its default."""
    try:
        with _runtime(data_dir, database_url, config) as rt:
            typer.echo(_line(rt.services.settings.reset(cli_actor(), key)))
    except FleetdeckError as exc:
        raise fail(exc) from exc
