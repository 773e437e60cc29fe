"""``fleetdeck computers list/show``"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from fleetdeck.cli.remote import output
from fleetdeck.cli.remote.client import Remote
from fleetdeck.cli.remote.common import Page, verb
from fleetdeck.cli.remote.resolve import computer_ids, group_ids, one

app = typer.Typer(help="Computers on a running server.", no_args_is_help=True)

COLUMNS: list[output.Column] = [
    output.field("id"),
    output.field("hostname"),
    ("online", lambda r: "online" if r["online"] else "offline"),
    ("os", lambda r: f"{r['os']} {r['os_version']}".strip()),
    output.field("agent_kind"),
    output.field("last_seen"),
    output.field("remote_address"),
]


@verb(app, "list", paged="hostname")
def list_computers(
    remote: Remote,
    page: Page,
    online: Annotated[
        bool | None, typer.Option("--online/--offline", help="Only online / offline ones.")
    ] = None,
    group: Annotated[str | None, typer.Option(help="Only members of this group (id or name).")] = None,
    json_out: output.JsonOut = False,
) -> None:
    """Computers, with filters (--filter hostname=web*, --filter 'last_seen\\[gt]=2026-01-01')."""
    where: dict[str, Any] = {"online": None if online is None else str(online).lower()}
    if group is not None:
        where["group_ids[contains]"] = one(group_ids(remote, [group]))
    rows, count = page.fetch(remote, "/computers", where)
    output.listing(rows, COLUMNS, json_out, count)


@verb(app, "show")
def show(
    remote: Remote,
    computer: Annotated[str, typer.Argument(help="Id or host name.")],
    json_out: output.JsonOut = False,
) -> None:
    """A computer with its inventory and groups."""
    detail: dict[str, Any] = remote.data("GET", f"/computers/{one(computer_ids(remote, [computer]))}")
    if json_out:
        output.emit_json(detail)
        return
    output.record(detail, False, title=detail["hostname"])
    if detail["groups"]:
        output.console.print("groups: " + ", ".join(f"{g['name']} ({g['id']})" for g in detail["groups"]))
    addresses = [f"{n['name']} {a['address']}" for n in detail["network_interfaces"] for a in n["addresses"]]
    if addresses:
        output.console.print("addresses: " + ", ".join(addresses))
    if detail["filesystems"]:
        output.table(
            detail["filesystems"],
            [
                output.field("mountpoint"),
                output.field("fstype"),
                ("size GiB", lambda f: f"{f['size_bytes'] / 2**30:.1f}"),
                ("free GiB", lambda f: f"{f['free_bytes'] / 2**30:.1f}"),
            ],
        )
    output.console.print(f"{len(detail['software'])} software packages (--json lists them)")
