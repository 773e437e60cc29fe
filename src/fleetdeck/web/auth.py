"""Login, logout and the password change page.

Logins go through core's ``session_login``: the same users, roles, throttle
(``core/users/throttle.py``) and audit records as ``/api/v1``'s ``POST /auth/login``. The login
form has no session yet, so its CSRF token is a double-submit cookie (a site that cannot read
our cookies cannot log a victim into an account of its own); every form after login carries the
session's own token.
"""

from __future__ import annotations

import secrets

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from fleetdeck.core.errors import AuthenticationFailed, PermissionDenied, TooManyAttempts, ValidationFailed
from fleetdeck.web.app import VIA, Call, CsrfRefused, LoginRequired, WebUI, local_target
from fleetdeck.web.sessions import COOKIE, CSRF_FIELD, LOGIN_CSRF_COOKIE, Session, same_token


def _secure(request: Request) -> bool:
    """Secure cookies when the browser talks https to us (directly, or through a trusted proxy
    whose X-Forwarded-Proto uvicorn applied)."""
    return request.url.scheme == "https"


def set_session_cookie(response: Response, request: Request, session: Session, max_age: int) -> None:
    response.set_cookie(
        COOKIE, session.id, max_age=max_age, path="/", httponly=True, samesite="lax", secure=_secure(request)
    )


def routes(ui: WebUI) -> list[Route]:
    lifetime = int(ui.sessions.lifetime)

    def login_page(call: Call, *, status: int = 200, error: str = "", username: str = "") -> Response:
        token = call.request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
        notice = "Your session ended: log in again." if call.arg("expired") else ""
        response = ui.render(
            call,
            "login.html",
            status,
            login_csrf=token,
            error=error,
            notice=notice,
            username=username,
            next=local_target(call.arg("next", "/")),
        )
        response.set_cookie(
            LOGIN_CSRF_COOKIE,
            token,
            path="/login",
            httponly=True,
            samesite="strict",
            secure=_secure(call.request),
        )
        return response

    def show_login(call: Call) -> Response:
        try:
            ui.caller(call.request)
        except LoginRequired:
            return login_page(call)
        return RedirectResponse(local_target(call.arg("next", "/")), 303)

    def do_login(call: Call) -> Response:
        if not same_token(call.request.cookies.get(LOGIN_CSRF_COOKIE, ""), call.field(CSRF_FIELD)):
            raise CsrfRefused
        username = call.field("username").strip()
        password = call.field("password")
        if not username or not password:
            return login_page(call, status=400, error="Enter your user name and password.", username=username)
        try:
            _, credential = ui.services.users.session_login(username, password, ui.source(call.request), VIA)
        except TooManyAttempts as exc:
            wait = exc.detail.get("retry_after", 0)
            message = f"Too many failed logins. Try again in {wait:.0f} seconds."
            return login_page(call, status=429, error=message, username=username)
        except AuthenticationFailed:
            return login_page(call, status=401, error="Wrong user name or password.", username=username)
        ui.sessions.delete(call.request.cookies.get(COOKIE))  # never reuse a session id across logins
        session = ui.sessions.create(credential)
        response = RedirectResponse(local_target(call.field("next", "/")), 303)
        set_session_cookie(response, call.request, session, lifetime)
        response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
        return response

    def logout(call: Call) -> Response:
        ui.services.users.session_logout(call.user.actor)
        ui.sessions.delete(call.user.session.id)
        response = RedirectResponse("/login", 303)
        response.delete_cookie(COOKIE, path="/")
        return response

    def password_page(call: Call) -> Response:
        return ui.render(call, "password.html")

    def change_password(call: Call) -> Response:
        actor = call.user.actor
        current, new, again = (
            call.field("current_password"),
            call.field("new_password"),
            call.field("confirm"),
        )
        error = ""
        if new != again:
            error = "The new password and its confirmation differ."
        else:
            try:
                assert actor.user_id is not None
                ui.services.users.set_password(actor, actor.user_id, new, current_password=current)
            except PermissionDenied as exc:
                error = "The current password is wrong." if "current password" in str(exc) else str(exc)
            except ValidationFailed as exc:
                error = str(exc)
        if error:
            return ui.render(call, "password.html", 400, error=error)
        # Every earlier login of this user has ended (core bumped the credential version); this
        # browser continues with a new session for the new credential.
        _, credential = ui.services.users.password_login(actor.username, new, ui.source(call.request), VIA)
        session = ui.sessions.replace_credential(call.user.session, credential)
        response = RedirectResponse("/account/password?changed=1", 303)
        set_session_cookie(response, call.request, session, lifetime)
        return response

    return [
        Route("/login", ui.endpoint(show_login, login=False), methods=["GET"]),
        Route("/login", ui.endpoint(do_login, login=False), methods=["POST"]),
        Route("/logout", ui.endpoint(logout), methods=["POST"]),
        Route("/account/password", ui.endpoint(password_page), methods=["GET"]),
        Route("/account/password", ui.endpoint(change_password), methods=["POST"]),
    ]
