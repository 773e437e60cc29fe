"""The own REST API, mounted at ``/api/v1`` by the composition root.

Handlers only translate: parse the request, call one core service, render the result in the
``{"data": ...}`` envelope. Errors leave in the ``{"error": {...}}`` envelope (``errors.py``).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from fleetdeck import __version__
from fleetdeck.api.kit.concurrency import PerCaller
from fleetdeck.api.v1 import docs, errors, permissions
from fleetdeck.api.v1.routes import (
    admin,
    agents,
    auth,
    computers,
    deployments,
    groups,
    jobs,
    packages,
    people,
    releases,
    reports,
    schedules,
    settings,
    stream,
    uploads,
    users,
    wol,
)
from fleetdeck.bus import Bus
from fleetdeck.bus.watch import BusJobWatch
from fleetdeck.core.ports import JobWatch
from fleetdeck.core.services import Services

DESCRIPTION = """
The REST API of fleetdeck: computers and their inventory, groups, remote commands and jobs,
enrollment tokens, users and the audit log.

* **Authentication**: `POST /auth/login` returns a JWT; send it as `Authorization: Bearer <jwt>`.
  Personal API tokens (`POST /me/tokens`) work the same way, or with HTTP Basic as the password.
* **Envelope**: `{"data": ...}`; lists add `{"meta": {"count": N}}` (matches before paging).
  Errors are `{"error": {"code": "...", "message": "...", "detail": {...}}}`.
* **Permissions**: every operation names what its caller needs in `x-permission`: a permission
  of the caller's role (`read`, `manage_computers`, ...), `user` (any caller), `own` (any user on
  their own account, not with a read-only token) or `public`.
* **Lists** take `filter[field]=...`, `filter[field][op]=...`, `sort=` and `page[limit]`/`page[offset]`.
"""

__all__ = ["create_v1"]


def create_v1(
    services: Services, bus: Bus, watch: JobWatch | None = None, docs_assets: docs.DocsAssets | None = None
) -> FastAPI:
    """``watch`` follows jobs for ``/jobs/{id}/stream`` (by default over ``bus``, without the
    output of before the viewer came). ``docs_assets`` says where ``/docs`` and ``/redoc`` load
    Swagger UI and ReDoc from (the server's own copies); without it there are no docs pages,
    never a CDN."""
    app = FastAPI(
        title="fleetdeck API",
        version=__version__,
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.state.services = services
    app.state.bus = bus
    app.state.watch = watch or BusJobWatch(bus)
    app.state.command_waits = PerCaller(jobs.MAX_WAITS_PER_CALLER)  # GET /commands/{id}?wait=
    app.state.job_streams = PerCaller(stream.MAX_STREAMS_PER_CALLER)  # WebSocket /jobs/{id}/stream
    errors.install(app)
    for module in (auth, users, computers, groups, jobs, stream, admin):
        app.include_router(module.router)
    for module in (wol, agents, releases, reports, settings):
        app.include_router(module.router)
    app.include_router(reports.groups)
    app.include_router(users.bans)
    for module in (packages, uploads, deployments, people, schedules):
        app.include_router(module.router)
    if docs_assets is not None:
        docs.install(app, docs_assets)
    _complete_document(app)
    return app


def _complete_document(app: FastAPI) -> None:
    """The document FastAPI renders, plus what it cannot see: each operation's declared
    permission, and the errors a JSON body can meet before its handler runs."""
    render = app.openapi

    def openapi() -> dict[str, Any]:  # both steps are idempotent: FastAPI caches the document it renders
        return permissions.annotate(errors.document_body_errors(render()))

    app.openapi = openapi  # type: ignore[method-assign]
