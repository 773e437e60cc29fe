"""What every remote verb shares: the connection options, and the paging and filter options of
the list verbs, added to a command by ``verb`` so that each command states only its own.

A command decorated with ``@verb(app, "name")`` takes ``remote: Remote`` as its first parameter
instead of ``--context/--server/--token/--ca``, which ``verb`` adds to its signature (typer reads
the signature) and turns into the connection; with ``paged="sort keys"`` it also takes
``page: Page``, built from ``--filter/--sort/--limit/--offset/--all``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import typer

from fleetdeck.cli.remote.client import Remote, filter_params
from fleetdeck.cli.remote.config import resolve

CONNECTION = "Connection"


def _opt(flag: str, env: str, text: str, **extra: Any) -> Any:
    return Annotated[
        str | None, typer.Option(flag, envvar=env, help=text, rich_help_panel=CONNECTION, **extra)
    ]


CONNECTION_OPTIONS = {
    "context": _opt("--context", "FLEETDECK_CONTEXT", "A context of `fleetdeck config list`."),
    "server": _opt("--server", "FLEETDECK_URL", "Server URL (overrides the context's)."),
    "token": _opt("--token", "FLEETDECK_TOKEN", "API token (overrides the context's).", show_default=False),
    "ca": _opt("--ca", "FLEETDECK_CA", "PEM file of the CA to verify the server with."),
}


def _paging_options() -> dict[str, Any]:
    return {
        "filters": Annotated[
            list[str] | None,
            typer.Option("--filter", "-f", help="FIELD=VALUE or FIELD[OP]=VALUE (repeatable; docs/cli.md)."),
        ],
        "sort": Annotated[str, typer.Option(help="Sort keys; - for descending.")],
        "limit": Annotated[int, typer.Option(min=0, max=1000, help="Page size.")],
        "offset": Annotated[int, typer.Option(min=0, help="Rows to skip.")],
        "everything": Annotated[bool, typer.Option("--all", help="Every page.")],
    }


@dataclass(frozen=True)
class Page:
    """Which rows of a list to fetch: ``--filter`` items, sort keys and the page."""

    filters: list[str]
    sort: str
    limit: int
    offset: int
    everything: bool

    def fetch(
        self, remote: Remote, path: str, where: dict[str, Any] | None = None
    ) -> tuple[list[dict[str, Any]], int]:
        """The rows and ``meta.count``. ``where`` adds filters as ``--filter`` spells them
        (``{"status": "queued", "id[gt]": 10}``; None values are left out)."""
        more = [f"{k}={v}" for k, v in (where or {}).items() if v is not None]
        params = filter_params([*self.filters, *more], self.sort)
        return remote.pages(path, params, self.limit, self.offset, self.everything)


def connect(context: str | None, server: str | None, token: str | None, ca: str | None) -> Remote:
    return Remote(resolve(context, server, token, ca))


def verb(
    app: typer.Typer | None, name: str = "", *, paged: str | None = None
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """``fn`` with the connection (and paging) options, registered as ``name`` on ``app`` (without
    an app, the caller registers what this returns: ``run`` and ``deploy`` on the root)."""

    def register(fn: Callable[..., None]) -> Callable[..., None]:
        own = list(inspect.signature(fn, eval_str=True).parameters.values())
        assert own[0].name == "remote", fn
        assert paged is None or own[1].name == "page", fn
        added = dict(CONNECTION_OPTIONS)
        defaults: dict[str, Any] = dict.fromkeys(CONNECTION_OPTIONS)
        if paged is not None:
            added |= _paging_options()
            defaults |= {"filters": None, "sort": paged, "limit": 100, "offset": 0, "everything": False}
        kept = own[2 if paged is not None else 1 :]
        extra = [
            inspect.Parameter(key, inspect.Parameter.KEYWORD_ONLY, default=defaults[key], annotation=hint)
            for key, hint in added.items()
        ]

        @functools.wraps(fn)
        def command(**kwargs: Any) -> None:
            conn = {key: kwargs.pop(key) for key in CONNECTION_OPTIONS}
            args: list[Any] = []
            if paged is not None:
                args.append(
                    Page(
                        kwargs.pop("filters") or [],
                        kwargs.pop("sort"),
                        kwargs.pop("limit"),
                        kwargs.pop("offset"),
                        kwargs.pop("everything"),
                    )
                )
            with connect(**conn) as remote:
                fn(remote, *args, **kwargs)

        params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in kept] + extra
        command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in params}
        if app is not None:
            app.command(name)(command)
        return command

    return register
