"""The options every remote verb takes, and paging/filter options of the list verbs."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from fleetdeck.cli.remote.client import Remote, filter_params
from fleetdeck.cli.remote.config import resolve

CONNECTION = "Connection"
CtxOpt = Annotated[
    str | None,
    typer.Option(
        "--context",
        envvar="FLEETDECK_CONTEXT",
        help="A context of `fleetdeck config list`.",
        rich_help_panel=CONNECTION,
    ),
]
ServerOpt = Annotated[
    str | None,
    typer.Option(
        "--server",
        envvar="FLEETDECK_URL",
        help="Server URL (overrides the context's).",
        rich_help_panel=CONNECTION,
    ),
]
TokenOpt = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar="FLEETDECK_TOKEN",
        help="API token (overrides the context's).",
        rich_help_panel=CONNECTION,
        show_default=False,
    ),
]
CaOpt = Annotated[
    str | None,
    typer.Option(
        "--ca",
        envvar="FLEETDECK_CA",
        help="PEM file of the CA to verify the server with.",
        rich_help_panel=CONNECTION,
    ),
]

Filters = Annotated[
    list[str] | None,
    typer.Option("--filter", "-f", help="FIELD=VALUE or FIELD[OP]=VALUE (repeatable; see docs/cli.md)."),
]
Sort = Annotated[str | None, typer.Option(help="Sort keys, e.g. -last_seen,hostname.")]
Limit = Annotated[int, typer.Option(min=0, max=1000, help="Page size.")]
Offset = Annotated[int, typer.Option(min=0, help="Rows to skip.")]
Everything = Annotated[bool, typer.Option("--all", help="Every page.")]


def connect(context: str | None, server: str | None, token: str | None, ca: str | None) -> Remote:
    return Remote(resolve(context, server, token, ca))


def list_params(filters: list[str] | None, sort: str | None, **extra: Any) -> dict[str, str]:
    params = filter_params(filters or [], sort)
    params.update({f"filter[{k}]": str(v) for k, v in extra.items() if v is not None})
    return params
