"""``fleetdeck computer ...``: what an admin does to a computer from the server's shell."""

from __future__ import annotations

from typing import Annotated

import typer

from fleetdeck.cli.context import cli_actor, fail, runtime
from fleetdeck.cli.options import ConfigFile, DatabaseUrl, DataDir, parse_duration
from fleetdeck.core.errors import FleetdeckError, ValidationFailed

app = typer.Typer(help="Computers.", no_args_is_help=True)


@app.command("allow-reenroll")
def allow_reenroll(
    computer_id: int,
    within: Annotated[str, typer.Option(help="How long the permission lasts: 30m, 12h, 1d, 2w.")] = "1d",
    revoke: Annotated[bool, typer.Option("--revoke", help="Take the permission back.")] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """Let the next agent enrolling from this same machine (a re-install) replace its agent.

    Without this, a second agent with the machine's identity becomes a computer of its own."""
    rt = runtime(data_dir, database_url, config)
    try:
        if revoke:
            rt.services.enrollment.allow_reenroll(cli_actor(), computer_id, None)
            typer.echo(f"computer {computer_id}: re-enrollment no longer allowed")
            return
        window = parse_duration(within)
        if window is None:
            raise ValidationFailed("the window must end; give e.g. 1d", field="within")
        until = rt.services.enrollment.allow_reenroll(cli_actor(), computer_id, window)
    except FleetdeckError as exc:
        raise fail(exc) from exc
    assert until is not None
    typer.echo(
        f"computer {computer_id}: a re-enrolling agent may replace its agent until {until.isoformat()}"
    )
