"""The shape of a dialect, and how the composition root mounts one.

A dialect is a ``Dialect``: its name, the runtime settings it owns (declared here, not in core,
so core has no dialect vocabulary), and a factory that builds its ASGI sub-application from the
``DialectDeps`` every dialect receives. The sub-application is a Starlette app with its own
routes, exception handlers and middleware, so a dialect renders its own errors and nothing it
does leaks into another dialect or into ``/api/v1``.

Dialects answer at fixed paths that do not share a prefix (``/api-client.php``, ``/rpc``,
``/src/jsonrpc.php``...), so a plain ``Mount`` does not fit: ``DialectRoute`` offers every
request to the sub-application's own routes and passes it on unchanged (same path, no
``root_path``) when one of them matches. ``create_app`` appends one route per dialect.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import URLPath
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Match
from starlette.types import Receive, Scope, Send

from fleetdeck.api.kit.concurrency import CallerLimits
from fleetdeck.api.kit.credentials import CredentialCache
from fleetdeck.api.kit.errors import ErrorRenderer, InternalErrors
from fleetdeck.bus.base import Bus
from fleetdeck.core.ports import JobWatch
from fleetdeck.core.services import Services
from fleetdeck.core.settings.registry import SettingDef


@dataclass(frozen=True)
class DialectDeps:
    """What the composition root hands every dialect: core, and the kit's shared parts."""

    services: Services
    credentials: CredentialCache = field(default_factory=CredentialCache)
    limits: CallerLimits = field(default_factory=CallerLimits)
    # The server's data directory: where a dialect finds server-side files it is named (opsi's
    # package repository and workbench). None: the dialect refuses such calls.
    data_dir: Path | None = None
    # The bus (events a dialect pushes to its clients, e.g. ``changes``) and core's JobWatch
    # port (following a job's output). None: the dialect refuses what needs them.
    bus: Bus | None = None
    watch: JobWatch | None = None


@dataclass(frozen=True)
class Listener:
    """A listener of a dialect's own, besides the main port: for clients that hard-code paths
    fleetdeck's main port uses otherwise (rportd's ``/api/v1``)."""

    host: str
    port: int
    app: Starlette


@dataclass(frozen=True)
class Dialect:
    name: str
    build: Callable[[DialectDeps], Starlette]
    settings: tuple[SettingDef, ...] = ()
    summary: str = ""
    # Its own listener, decided from its settings when the server starts (None: none).
    listener: Callable[[DialectDeps], Listener | None] | None = None


def sub_app(routes: Sequence[BaseRoute], internal_error: ErrorRenderer) -> Starlette:
    """A dialect's sub-application: its routes, with an unexpected exception answered by
    ``internal_error`` in the dialect's own format (and logged once) instead of Starlette's
    plain-text 500."""
    return Starlette(routes=list(routes), middleware=[Middleware(InternalErrors, render=internal_error)])


class DialectRoute(BaseRoute):
    """Routes a request to a dialect's sub-application when one of its routes matches."""

    def __init__(self, name: str, app: Starlette) -> None:
        self.name = name
        self.app = app

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        best = Match.NONE
        for route in self.app.router.routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return Match.FULL, {}
            if match is Match.PARTIAL:  # the path is ours but not the method: the app says 405
                best = Match.PARTIAL
        return best, {}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        return self.app.router.url_path_for(name, **path_params)

    def __repr__(self) -> str:
        return f"DialectRoute({self.name!r})"
