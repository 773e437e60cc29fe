"""What the remote verbs print: rich tables for people, ``--json`` for scripts.

``--json`` prints the server's objects as /api/v1 returns them (``data``), one JSON document
on stdout and nothing else there, so its shape is the API's: documented and versioned with it,
stable for scripts. Lists are a JSON array; a list with ``meta`` (paged) is
``{"data": [...], "count": N}``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

JsonOut = Annotated[bool, typer.Option("--json", help="Machine output: the API's JSON on stdout.")]

console = Console()
errors = Console(stderr=True)

Column = tuple[str, Callable[[dict[str, Any]], Any]]


def field(name: str) -> Column:
    return (name, lambda row: row.get(name))


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, str) and len(value) > 19 and value[10:11] == "T":
        return value[:19].replace("T", " ")  # ISO times to the second, UTC as the server sends
    if isinstance(value, list | dict):
        return json.dumps(value) if value else ""
    return str(value)


def progress(quiet: bool, *columns: ProgressColumn) -> Progress:
    """A progress bar on stderr, only for a terminal: scripts and ``--json`` get clean output."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        *columns,
        TimeElapsedColumn(),
        console=errors,
        disable=quiet or not sys.stderr.isatty(),
    )


def emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=False) + "\n")


def table(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[Column],
    *,
    title: str | None = None,
    count: int | None = None,
) -> None:
    out = Table(*(name for name, _ in columns), title=title)
    for row in rows:
        out.add_row(*(cell(get(row)) for _, get in columns))
    console.print(out)
    if count is not None and count > len(rows):
        errors.print(f"{len(rows)} of {count} shown (--all, or --limit/--offset to page)")


def listing(
    rows: list[dict[str, Any]], columns: Sequence[Column], json_out: bool, count: int | None = None
) -> None:
    if json_out:
        emit_json({"data": rows, "count": count} if count is not None else rows)
    else:
        table(rows, columns, count=count)


def record(
    obj: dict[str, Any], json_out: bool, *, skip: Sequence[str] = (), title: str | None = None
) -> None:
    """One object: ``name value`` lines (lists and mappings of the object are left to callers)."""
    if json_out:
        emit_json(obj)
        return
    out = Table(show_header=False, title=title, box=None)
    out.add_column(style="bold")
    out.add_column()
    for key, value in obj.items():
        if key not in skip and not isinstance(value, list | dict):
            out.add_row(key, cell(value))
    console.print(out)
