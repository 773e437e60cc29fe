"""``fleetdeck enroll-token ...``"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from fleetdeck.cli.context import cli_actor, fail, runtime
from fleetdeck.cli.options import ConfigFile, DatabaseUrl, DataDir, parse_duration
from fleetdeck.cli.tls import ensure_self_signed
from fleetdeck.core.agentdist import install_line as make_install_line
from fleetdeck.core.errors import FleetdeckError

if TYPE_CHECKING:
    from fleetdeck.settings import Settings

app = typer.Typer(help="Enrollment tokens for new agents.", no_args_is_help=True)


@app.command("create")
def create(
    expires: Annotated[str, typer.Option(help="30m, 12h, 1d, 2w or never")] = "1d",
    uses: Annotated[
        int | None, typer.Option(help="How many agents may enroll with it (default: any).")
    ] = None,
    note: Annotated[str, typer.Option(help="Free text shown in listings.")] = "",
    install_line: Annotated[
        bool,
        typer.Option(
            "--install-line",
            help="Print the curl line that installs, enrolls and starts the agent from this server.",
        ),
    ] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """Create a token; prints only the token (or, with --install-line, only the line that installs
    the agent with it), so scripts can capture it."""
    rt = runtime(data_dir, database_url, config)
    try:
        new = rt.services.enrollment.create_token(
            cli_actor(), expires_in=parse_duration(expires), max_uses=uses, note=note
        )
    except FleetdeckError as exc:
        raise fail(exc) from exc
    if install_line:
        typer.echo(agent_install_line(rt.settings, new.token))
        return
    typer.echo(new.token)


@app.command("list")
def list_tokens(
    data_dir: DataDir = None, database_url: DatabaseUrl = None, config: ConfigFile = None
) -> None:
    """List tokens (never their secrets)."""
    rt = runtime(data_dir, database_url, config)
    table = Table("id", "created", "expires", "uses", "revoked", "note")
    for t in rt.services.enrollment.list_tokens(cli_actor()):
        table.add_row(
            str(t.id),
            t.created_at.isoformat(timespec="seconds"),
            t.expires_at.isoformat(timespec="seconds") if t.expires_at else "never",
            f"{t.uses}/{t.max_uses if t.max_uses is not None else '∞'}",
            "yes" if t.revoked else "",
            t.note,
        )
    Console().print(table)


@app.command("revoke")
def revoke(
    token_id: int, data_dir: DataDir = None, database_url: DatabaseUrl = None, config: ConfigFile = None
) -> None:
    """Revoke a token."""
    rt = runtime(data_dir, database_url, config)
    try:
        rt.services.enrollment.revoke_token(cli_actor(), token_id)
    except FleetdeckError as exc:
        raise fail(exc) from exc
    typer.echo(f"revoked token {token_id}")


def agent_install_line(settings: Settings, token: str) -> str:
    """The server's public URL (``public_url``, else this host name and the configured port)."""
    from fleetdeck.runtime import served_pins

    if settings.tls == "auto":
        ensure_self_signed(settings.data_dir)  # the one the server will present; made once
    pins = served_pins(settings)
    scheme = "https" if settings.tls != "off" else "http"
    server = settings.public_url or f"{scheme}://{socket.gethostname()}:{settings.port}"
    return make_install_line(server, token, pins[1] if pins else None)
