"""``fleetdeck groups list/show/add/remove``: computer groups and their members."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from fleetdeck.cli.remote import output
from fleetdeck.cli.remote.common import (
    CaOpt,
    CtxOpt,
    Everything,
    Filters,
    Limit,
    Offset,
    ServerOpt,
    Sort,
    TokenOpt,
    connect,
    list_params,
)
from fleetdeck.cli.remote.computers import COLUMNS as COMPUTER_COLUMNS
from fleetdeck.cli.remote.resolve import computer_ids, group_ids, one

app = typer.Typer(help="Computer groups on a running server.", no_args_is_help=True)

Group = Annotated[str, typer.Argument(help="Group id or name.")]
Computers = Annotated[list[str], typer.Argument(help="Computer ids or host names.")]


@app.command("list")
def list_groups(
    filters: Filters = None,
    sort: Sort = "name",
    limit: Limit = 100,
    offset: Offset = 0,
    everything: Everything = False,
    json_out: output.JsonOut = False,
    context: CtxOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
    ca: CaOpt = None,
) -> None:
    """Groups (fields: id, key, name, parent_id, kind, created_at)."""
    with connect(context, server, token, ca) as remote:
        rows, count = remote.pages("/groups", list_params(filters, sort), limit, offset, everything)
    output.listing(
        rows,
        [
            output.field("id"),
            output.field("name"),
            output.field("parent_id"),
            ("members", lambda r: r["member_count"]),
            output.field("description"),
        ],
        json_out,
        count,
    )


@app.command("show")
def show(
    group: Group,
    json_out: output.JsonOut = False,
    context: CtxOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
    ca: CaOpt = None,
) -> None:
    """A group and its (direct) member computers."""
    with connect(context, server, token, ca) as remote:
        gid = one(group_ids(remote, [group]))
        info: dict[str, Any] = remote.data("GET", f"/groups/{gid}")
        members, _ = remote.pages(f"/groups/{gid}/members", {"sort": "hostname"}, 0, 0, everything=True)
    if json_out:
        output.emit_json({**info, "members": members})
        return
    output.record(info, False, title=info["name"])
    output.table(members, COMPUTER_COLUMNS)


@app.command("add")
def add(
    group: Group,
    computers: Computers,
    json_out: output.JsonOut = False,
    context: CtxOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
    ca: CaOpt = None,
) -> None:
    """Add computers to a group (members already are left alone)."""
    with connect(context, server, token, ca) as remote:
        gid = one(group_ids(remote, [group]))
        added = remote.data(
            "POST", f"/groups/{gid}/members", {"computer_ids": computer_ids(remote, computers)}
        )
    if json_out:
        output.emit_json(added)
    else:
        typer.echo(f"group {gid}: {len(added['added'])} added")


@app.command("remove")
def remove(
    group: Group,
    computers: Computers,
    context: CtxOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
    ca: CaOpt = None,
) -> None:
    """Remove computers from a group (ones that are not members are ignored)."""
    with connect(context, server, token, ca) as remote:
        gid = one(group_ids(remote, [group]))
        ids = computer_ids(remote, computers)
        remote.request("DELETE", f"/groups/{gid}/members", json={"computer_ids": ids})
    typer.echo(f"group {gid}: {len(ids)} removed")
