"""``fleetdeck agent publish/rollout/releases/updates``: agent releases on a running server
(self-update, docs/deployment.md). Every other ``fleetdeck agent ...`` runs the agent."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from fleetdeck.cli.remote import output
from fleetdeck.cli.remote.client import Remote, fail
from fleetdeck.cli.remote.common import verb
from fleetdeck.cli.remote.resolve import group_ids, one

app = typer.Typer(help="Agent releases on a running server (self-update).", no_args_is_help=True)

VERBS = frozenset({"publish", "rollout", "releases", "updates"})

RELEASE_COLUMNS: list[output.Column] = [
    output.field("version"),
    output.field("rollout"),
    output.field("group_id"),
    output.field("sha256"),
    output.field("size"),
    output.field("created_at"),
]


@verb(app, "publish")
def publish(
    remote: Remote,
    wheel: Annotated[
        Path | None,
        typer.Argument(
            help="fleetdeck_agent-V-py3-none-any.whl (make agent-wheel); none: the server's own agent"
        ),
    ] = None,
    json_out: output.JsonOut = False,
) -> None:
    """Publish an agent release: stored, hashed and signed by the server; rolled out to nobody yet."""
    if wheel is None:
        release = remote.request("POST", "/agent-releases/build").json()["data"]
    else:
        if not wheel.is_file():
            fail(f"{wheel}: no such file")
        response = remote.request(
            "POST",
            "/agent-releases",
            params={"filename": wheel.name},
            content=wheel.read_bytes(),
            headers={"content-type": "application/octet-stream"},
        )
        release = response.json()["data"]
    if json_out:
        output.emit_json(release)
    else:
        typer.echo(f"agent release {release['version']} published (sha256 {release['sha256']})")


@verb(app, "rollout")
def rollout(
    remote: Remote,
    version: Annotated[str, typer.Argument(help="The release's version.")],
    group: Annotated[str | None, typer.Option(help="Group id or name: its computers first.")] = None,
    everyone: Annotated[bool, typer.Option("--all", help="Every computer.")] = False,
    withdraw: Annotated[bool, typer.Option("--none", help="No computer (stops the rollout).")] = False,
    json_out: output.JsonOut = False,
) -> None:
    """Roll a release out: to a group first (--group), then everyone (--all); --none withdraws it."""
    if sum((group is not None, everyone, withdraw)) != 1:
        fail("give one of --group, --all, --none")
    body: dict[str, Any] = {"rollout": "all" if everyone else "none" if withdraw else "group"}
    if group is not None:
        body["group_id"] = one(group_ids(remote, [group]))
    release = remote.data("POST", f"/agent-releases/{version}/rollout", body)
    if json_out:
        output.emit_json(release)
    else:
        target = f"group {release['group_id']}" if release["rollout"] == "group" else release["rollout"]
        typer.echo(f"agent release {version}: rolled out to {target}")


@verb(app, "releases")
def releases(remote: Remote, json_out: output.JsonOut = False) -> None:
    """Published agent releases and their rollout."""
    rows = remote.data("GET", "/agent-releases")
    output.listing(rows, RELEASE_COLUMNS, json_out, len(rows))


@verb(app, "updates")
def updates(remote: Remote, json_out: output.JsonOut = False) -> None:
    """Each computer's last agent update: release, state, error, the version it runs."""
    rows = remote.data("GET", "/agent-updates")
    columns: list[output.Column] = [
        output.field("computer_id"),
        output.field("hostname"),
        output.field("agent_version"),
        output.field("version"),
        output.field("state"),
        output.field("error"),
        output.field("updated_at"),
    ]
    output.listing(rows, columns, json_out, len(rows))
