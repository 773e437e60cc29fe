"""The web UI's Starlette application: sessions, CSRF, error pages, and the routes of
``auth.py`` and ``pages.py``.

Handlers are synchronous functions run in the threadpool (core is synchronous SQLAlchemy, as
for ``/api/v1``); ``endpoint`` reads the form on the event loop first, then hands the handler a
``Call`` with the request, the parsed form and, for pages behind the login, the caller.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Match, Mount
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import Scope

from fleetdeck import __version__
from fleetdeck.api.kit.concurrency import PerCaller, TooMany
from fleetdeck.core.authz import Actor, Perm
from fleetdeck.core.errors import (
    AuthenticationFailed,
    Conflict,
    FleetdeckError,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from fleetdeck.core.ports import (
    JobWatch,
    NullJobWatch,
    NullStreamOpener,
    NullTerminalRelay,
    StreamOpener,
    TerminalRelay,
)
from fleetdeck.core.services import Services
from fleetdeck.core.users.sessions import SessionInfo
from fleetdeck.web import format as fmt
from fleetdeck.web.assets import STATIC_DIR, missing_assets, vendor_url
from fleetdeck.web.results import KeptResults
from fleetdeck.web.sessions import COOKIE, CSRF_FIELD, CSRF_HEADER, same_token

log = logging.getLogger("fleetdeck.web")

VIA = "web"
TEMPLATES = Path(__file__).parent / "templates"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Pages show inventory and carry the CSRF token: never framed by another site (clickjacking),
# never kept in a shared cache or the browser's back-button cache after logout.
PAGE_HEADERS = {
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}
# Live views (server-sent event streams of jobs and deployments) one user may have open at once
# in one server process: each holds a connection and a bus subscription. A page with more
# running jobs than this gets the rest as others end (the browser retries, see ``capped``).
LIVE_VIEWS_PER_USER = 128
BUSY_RETRY_MS = 5000


async def capped(views: PerCaller, username: str, body: AsyncGenerator[str, None]) -> AsyncIterator[str]:
    """``body`` (a server-sent event stream) within the user's share of live views. Beyond it
    the stream is only a ``retry`` line and ends: the browser's ``EventSource`` connects again
    after BUSY_RETRY_MS (only the page's own ``end`` event makes it stop)."""
    with contextlib.ExitStack() as held:
        try:
            held.enter_context(views.slot(username))
        except TooMany:
            yield f"retry: {BUSY_RETRY_MS}\n\n"
            return
        async with contextlib.aclosing(body):  # its subscription ends now, not when collected
            async for chunk in body:
                yield chunk


class LoginRequired(Exception):
    """No session, or the session's user can no longer log in: back to the login page."""

    def __init__(self, reason: str = "") -> None:
        super().__init__(reason)
        self.reason = reason


class CsrfRefused(Exception):
    """An unsafe request without the session's CSRF token (or, at login, the cookie's)."""


@dataclass(frozen=True, slots=True)
class Caller:
    actor: Actor
    session: SessionInfo

    def can(self, perm: str) -> bool:
        return self.actor.can(Perm(perm))


@dataclass(frozen=True, slots=True)
class Call:
    request: Request
    form: FormData | None
    caller: Caller | None

    @property
    def user(self) -> Caller:
        assert self.caller is not None, "a page behind the login"
        return self.caller

    def field(self, name: str, default: str = "") -> str:
        value = self.form.get(name) if self.form is not None else None
        return value if isinstance(value, str) else default

    def fields(self, name: str) -> list[str]:
        """Every value of a repeated form field (checkboxes), or of the query string on a GET."""
        values = self.form.getlist(name) if self.form is not None else self.request.query_params.getlist(name)
        return [v for v in values if isinstance(v, str)]

    def arg(self, name: str, default: str = "") -> str:
        return self.request.query_params.get(name, default)

    def path_id(self, name: str) -> int:
        """A positive id from the path (``{name:int}``); anything else is the object not found."""
        value = self.request.path_params[name]
        if not isinstance(value, int) or not 0 < value < 2**63:
            raise NotFound(name.removesuffix("_id"), value)
        return value

    def page_number(self) -> int:
        """``?page=N`` of a paged list; a missing or silly value is the first page."""
        text = self.arg("page")
        return int(text) if text.isdigit() and len(text) < 7 and int(text) > 0 else 1

    @property
    def htmx(self) -> bool:
        return self.request.headers.get("hx-request") == "true"


Handler = Callable[[Call], Response]


class WebUI:
    """What every handler shares: the services (with core's session store) and the templates."""

    def __init__(
        self,
        services: Services,
        assets_dir: Path | None = None,
        watch: JobWatch | None = None,
        max_upload_bytes: int | None = None,
        public_url: str | None = None,
        pubkey_pin: Callable[[], str | None] | None = None,
    ) -> None:
        self.services = services
        # The agent install line on the enrollment token page (GET /install/agent.sh): the
        # server's public URL and, with TLS, the public-key pin curl checks.
        self.public_url = public_url
        self.pubkey_pin: Callable[[], str | None] = pubkey_pin or (lambda: None)
        # The request body limit (settings.max_body_bytes) the uploads must fit in; None: unknown.
        self.max_upload_bytes = max_upload_bytes
        # Live job output: the same core port /api/v1's job stream follows (bus/watch.py).
        self.watch: JobWatch = watch or NullJobWatch()
        self.live_views = PerCaller(LIVE_VIEWS_PER_USER)
        # Report runs kept for the session that ran them (reports.py); logout drops a session's.
        self.results = KeptResults()
        self.templates = Jinja2Templates(directory=str(TEMPLATES))
        env = self.templates.env
        env.globals.update(vendor=vendor_url, version=__version__, csrf_field=CSRF_FIELD)
        env.filters.update(
            bytes=fmt.size, when=fmt.when, ago=fmt.ago, percent=fmt.percent, duration=fmt.duration
        )
        env.globals.update(phase=fmt.phase)
        self.missing = missing_assets(assets_dir) if assets_dir else missing_assets()
        if self.missing:
            log.warning(
                "web UI assets missing (%s): run `make assets` (needs npm); the UI works without "
                "styles and live updates until then",
                ", ".join(self.missing),
            )

    # ------------------------------------------------------------------ callers

    @staticmethod
    def source(request: HTTPConnection) -> str:
        return request.client.host if request.client else ""

    def caller(self, request: HTTPConnection) -> Caller:
        """The session's user as they are now (core ``resume``: disabled, deleted or a changed
        password ends the session)."""
        secret = request.cookies.get(COOKIE)
        if not secret:
            raise LoginRequired("")
        try:
            actor, session = self.services.sessions.resume(secret, self.source(request), VIA)
        except AuthenticationFailed:
            raise LoginRequired("Your session ended: log in again.") from None
        return Caller(actor, session)

    def session_of(self, request: Request) -> SessionInfo | None:
        """The request's session if it is still valid, for pages that show no data (errors)."""
        try:
            return self.caller(request).session
        except LoginRequired:
            return None

    # ------------------------------------------------------------------ rendering

    def render(self, call: Call, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        context.setdefault("caller", call.caller)
        context.setdefault("csrf", call.caller.session.csrf if call.caller else "")
        context.setdefault("missing_assets", self.missing)
        context.setdefault("path", call.request.url.path)
        context.setdefault("logged_in", call.caller is not None)
        response = self.templates.TemplateResponse(call.request, template, context, status_code=status)
        response.headers.update(PAGE_HEADERS)
        return response

    def endpoint(self, handler: Handler, *, login: bool = True) -> Callable[[Request], Awaitable[Response]]:
        """An async Starlette endpoint around a synchronous handler: the form is read here, on
        the loop; the caller (database) and the handler (core) run in the threadpool. Unsafe
        methods behind the login need the session's CSRF token (form field or htmx header)."""

        async def run(request: Request) -> Response:
            form = await request.form() if request.method in UNSAFE else None

            def work() -> Response:
                caller = self.caller(request) if login else None
                if caller is not None and request.method in UNSAFE:
                    given = request.headers.get(CSRF_HEADER)
                    if given is None and form is not None:
                        value = form.get(CSRF_FIELD)
                        given = value if isinstance(value, str) else None
                    if not same_token(caller.session.csrf, given):
                        raise CsrfRefused
                return handler(Call(request, form, caller))

            try:
                return await run_in_threadpool(work)
            finally:
                if form is not None:
                    await form.close()

        return run

    # ------------------------------------------------------------------ errors

    async def error_page(self, request: Request, status: int, title: str, message: str) -> Response:
        # The menu (and its logout form) for a logged-in user; read in the threadpool (database).
        session = await run_in_threadpool(self.session_of, request) if request.cookies.get(COOKIE) else None
        call = Call(request, None, None)
        return self.render(
            call,
            "error.html",
            status,
            title=title,
            message=message,
            logged_in=session is not None,
            csrf=session.csrf if session else "",
        )

    def handlers(self) -> Mapping[Any, Callable[[Request, Exception], Awaitable[Response]]]:
        async def login_required(request: Request, exc: Exception) -> Response:
            reason = exc.reason if isinstance(exc, LoginRequired) else ""
            target = "/login?next=" + quote(_local(request.url.path + _query(request)))
            if reason:
                target += "&expired=1"
            if request.headers.get("hx-request") == "true":
                return Response(status_code=204, headers={"HX-Redirect": target})
            response = RedirectResponse(target, 303)
            if reason:
                response.delete_cookie(COOKIE, path="/")
            return response

        async def csrf(request: Request, exc: Exception) -> Response:
            message = "The form had no valid security token (CSRF). Reload the page and try again."
            return await self.error_page(request, 403, "Request refused", message)

        async def core_error(request: Request, exc: Exception) -> Response:
            assert isinstance(exc, FleetdeckError)
            status, title = 400, "That did not work"
            if isinstance(exc, NotFound):
                status, title = 404, "Not found"
            elif isinstance(exc, PermissionDenied):
                status, title = 403, "Not allowed"
            elif isinstance(exc, Conflict):
                status = 409
            elif not isinstance(exc, ValidationFailed):
                status = 500 if not isinstance(exc, AuthenticationFailed) else 401
            return await self.error_page(request, status, title, str(exc))

        async def http_error(request: Request, exc: Exception) -> Response:
            assert isinstance(exc, HTTPException)
            if exc.status_code == 404:
                return await self.error_page(request, 404, "Not found", f"no such path: {request.url.path}")
            if exc.status_code == 405:
                return await self.error_page(
                    request, 405, "Not allowed", f"{request.method} is not allowed here"
                )
            return await self.error_page(request, exc.status_code, "Error", str(exc.detail))

        return {
            LoginRequired: login_required,
            CsrfRefused: csrf,
            FleetdeckError: core_error,
            HTTPException: http_error,
        }


def _query(request: Request) -> str:
    return f"?{request.url.query}" if request.url.query else ""


def _local(target: str) -> str:
    """Only a path on this server (no scheme, no ``//host``): a ``next=`` cannot send a user away."""
    # Browsers drop tabs and line breaks inside URLs ("/\t/evil" becomes "//evil"), and read a
    # backslash as a slash: any of those, or another control character, and we go home.
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    if any(ch < " " or ch == "\x7f" for ch in target):
        return "/"
    return target


def local_target(target: str) -> str:
    return _local(target)


class WebMount(Mount):
    """The UI mounted at ``/`` claims only the paths it has: any other path (a typo under
    ``/api/v1``, ``DELETE /healthz``) falls through to the root application's JSON 404 and 405,
    as before the UI existed, instead of being swallowed by a catch-all mount."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is not Match.FULL:
            return match, child
        inner = {**scope, **child}
        best = Match.NONE
        for route in self.routes:
            found, _ = route.matches(inner)
            if found is Match.FULL:
                return match, child
            if found is Match.PARTIAL:
                best = Match.PARTIAL
        return best, child if best is Match.PARTIAL else {}


def create_web(
    services: Services,
    *,
    assets_dir: Path | None = None,
    watch: JobWatch | None = None,
    max_upload_bytes: int | None = None,
    public_url: str | None = None,
    pubkey_pin: Callable[[], str | None] | None = None,
    terminal_relay: TerminalRelay | None = None,
    stream_opener: StreamOpener | None = None,
) -> WebMount:
    """The UI at ``/``, for ``create_app`` to append after every other route, so it never
    shadows ``/api/v1``, the dialects, the agent endpoint or ``/healthz``."""
    from fleetdeck.web import (
        admin,
        auth,
        bulk,
        commands,
        deployments,
        desktop,
        groups,
        invitations,
        package_catalog,
        packages,
        pages,
        report_groups,
        reports,
        settings,
        terminal,
        users,
    )

    ui = WebUI(services, assets_dir, watch, max_upload_bytes, public_url, pubkey_pin)
    routes: list[BaseRoute] = [
        *auth.routes(ui),
        *invitations.routes(ui),
        *pages.routes(ui),
        *commands.routes(ui),
        *admin.routes(ui),
        *users.routes(ui),
        *groups.routes(ui),
        *bulk.routes(ui),
        *reports.routes(ui),
        *report_groups.routes(ui),
        *settings.routes(ui),
        *packages.routes(ui),
        *package_catalog.routes(ui),
        *deployments.routes(ui),
        *terminal.routes(ui, terminal_relay or NullTerminalRelay()),
        *desktop.routes(ui, stream_opener or NullStreamOpener()),
        Mount("/static", app=StaticFiles(directory=str(STATIC_DIR), check_dir=False), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers=dict(ui.handlers()))
    app.state.ui = ui
    return WebMount("", app=app, name="web")
