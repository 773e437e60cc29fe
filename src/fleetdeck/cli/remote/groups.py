"""``fleetdeck groups list/show/add/remove``: computer groups and their members."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from fleetdeck.cli.remote import output
from fleetdeck.cli.remote.client import Remote
from fleetdeck.cli.remote.common import Page, verb
from fleetdeck.cli.remote.computers import COLUMNS as COMPUTER_COLUMNS
from fleetdeck.cli.remote.resolve import computer_ids, group_ids, one

app = typer.Typer(help="Computer groups on a running server.", no_args_is_help=True)

Group = Annotated[str, typer.Argument(help="Group id or name.")]
Computers = Annotated[list[str], typer.Argument(help="Computer ids or host names.")]


@verb(app, "list", paged="name")
def list_groups(remote: Remote, page: Page, json_out: output.JsonOut = False) -> None:
    """Groups (fields: id, key, name, parent_id, kind, created_at)."""
    rows, count = page.fetch(remote, "/groups")
    columns: list[output.Column] = [
        output.field("id"),
        output.field("name"),
        output.field("parent_id"),
        ("members", lambda r: r["member_count"]),
        output.field("description"),
    ]
    output.listing(rows, columns, json_out, count)


@verb(app, "show")
def show(remote: Remote, group: Group, json_out: output.JsonOut = False) -> None:
    """A group and its (direct) member computers."""
    gid = one(group_ids(remote, [group]))
    info: dict[str, Any] = remote.data("GET", f"/groups/{gid}")
    members, _ = remote.pages(f"/groups/{gid}/members", {"sort": "hostname"}, 0, 0, everything=True)
    if json_out:
        output.emit_json({**info, "members": members})
        return
    output.record(info, False, title=info["name"])
    output.table(members, COMPUTER_COLUMNS)


@verb(app, "add")
def add(remote: Remote, group: Group, computers: Computers, json_out: output.JsonOut = False) -> None:
    """Add computers to a group (members already are left alone)."""
    gid = one(group_ids(remote, [group]))
    added = remote.data("POST", f"/groups/{gid}/members", {"computer_ids": computer_ids(remote, computers)})
    if json_out:
        output.emit_json(added)
    else:
        typer.echo(f"group {gid}: {len(added['added'])} added")


@verb(app, "remove")
def remove(remote: Remote, group: Group, computers: Computers) -> None:
    """Remove computers from a group (ones that are not members are ignored)."""
    gid = one(group_ids(remote, [group]))
    ids = computer_ids(remote, computers)
    remote.request("DELETE", f"/groups/{gid}/members", json={"computer_ids": ids})
    typer.echo(f"group {gid}: {len(ids)} removed")
