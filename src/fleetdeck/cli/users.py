"""``fleetdeck user ...``"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from fleetdeck.cli.context import cli_actor, fail, runtime
from fleetdeck.cli.options import ConfigFile, DatabaseUrl, DataDir
from fleetdeck.core.authz import Role
from fleetdeck.core.errors import FleetdeckError

app = typer.Typer(help="Manage user accounts.", no_args_is_help=True)


@app.command("create")
def create(
    name: str,
    role: Annotated[Role, typer.Option(help="admin, operator or viewer")] = Role.VIEWER,
    password: Annotated[str | None, typer.Option(help="Prompted for when omitted.")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """Create a user."""
    if password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    rt = runtime(data_dir, database_url, config)
    try:
        user = rt.services.users.create(cli_actor(), name, password, role)
    except FleetdeckError as exc:
        raise fail(exc) from exc
    typer.echo(f"created user {user.username} (id {user.id}, role {user.role.value})")


@app.command("list")
def list_users(data_dir: DataDir = None, database_url: DatabaseUrl = None, config: ConfigFile = None) -> None:
    """List users."""
    rt = runtime(data_dir, database_url, config)
    table = Table("id", "user name", "role", "disabled", "last login")
    for u in rt.services.users.list_users(cli_actor()):
        table.add_row(
            str(u.id),
            u.username,
            u.role.value,
            "yes" if u.disabled else "",
            u.last_login_at.isoformat(timespec="seconds") if u.last_login_at else "",
        )
    Console().print(table)


@app.command("passwd")
def passwd(
    name: str,
    password: Annotated[str | None, typer.Option(help="Prompted for when omitted.")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """Set a user's password (existing logins of that user stop working)."""
    rt = runtime(data_dir, database_url, config)
    user = rt.services.users.get_by_name(name)
    if user is None:
        typer.echo(f"error: no user named {name!r}", err=True)
        raise typer.Exit(1)
    if password is None:
        password = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    try:
        rt.services.users.set_password(cli_actor(), user.id, password)
    except FleetdeckError as exc:
        raise fail(exc) from exc
    typer.echo(f"password of {name} changed")


@app.command("unlock")
def unlock(
    name: Annotated[str | None, typer.Argument(help="User name whose failed logins to forget.")] = None,
    address: Annotated[str | None, typer.Option(help="Forget the failed logins from this address.")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """Let a user (or an address) that is waiting after failed logins try again at once."""
    rt = runtime(data_dir, database_url, config)
    try:
        cleared = rt.services.users.unlock(cli_actor(), name, address)
    except FleetdeckError as exc:
        raise fail(exc) from exc
    typer.echo(f"{cleared} failed logins forgotten")
