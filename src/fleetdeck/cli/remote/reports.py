"""``fleetdeck reports list/run``: saved reports (read-only SQL over the inventory)."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer

from fleetdeck.cli.remote import output
from fleetdeck.cli.remote.client import Remote, fail
from fleetdeck.cli.remote.common import Page, verb
from fleetdeck.cli.remote.config import usage_error

app = typer.Typer(help="Saved reports on a running server.", no_args_is_help=True)


@verb(app, "list", paged="name")
def list_reports(remote: Remote, page: Page, json_out: output.JsonOut = False) -> None:
    """Reports (fields: id, name, group_id, created_at, updated_at)."""
    rows, count = page.fetch(remote, "/reports")
    columns: list[output.Column] = [
        output.field("id"),
        output.field("name"),
        output.field("group_id"),
        output.field("updated_at"),
        ("notes", lambda r: r["notes"][:60]),
    ]
    output.listing(rows, columns, json_out, count)


def _report_id(remote: Remote, ref: str) -> int:
    if ref.isdigit():
        return int(ref)
    rows = remote.get("/reports", **{"filter[name][ieq]": ref, "page[limit]": 2})["data"]
    if len(rows) != 1:
        fail(f"no report named {ref!r}" if not rows else f"several reports are named {ref!r}: give the id")
    return int(rows[0]["id"])


def write_csv(result: dict[str, Any], out: TextIO) -> None:
    """RFC 4180 (CRLF line ends, quoting as needed), a header row first; NULL as an empty field."""
    writer = csv.writer(out)
    writer.writerow(result["columns"])
    for row in result["rows"]:
        writer.writerow(["" if row.get(c) is None else row.get(c) for c in result["columns"]])


@verb(app, "run")
def run_report(
    remote: Remote,
    report: Annotated[str, typer.Argument(help="Report id or name.")],
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV on stdout (or --output).")] = False,
    output_file: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file.")] = None,
    json_out: output.JsonOut = False,
) -> None:
    """Run a saved report: a table, --csv or --json."""
    if as_csv and json_out:
        usage_error("--csv or --json, not both")
    result: dict[str, Any] = remote.data("POST", f"/reports/{_report_id(remote, report)}/execute")
    if result["truncated"]:
        typer.echo("fleetdeck: warning: the result was cut at the server's reports.max_rows", err=True)
    if not (as_csv or json_out):
        output.table(result["rows"], [output.field(c) for c in result["columns"]])
        return
    out: TextIO = output_file.open("w", newline="", encoding="utf-8") if output_file else sys.stdout
    try:
        if as_csv:
            write_csv(result, out)
        else:
            out.write(json.dumps(result, indent=2) + "\n")
    finally:
        if output_file:
            out.close()
