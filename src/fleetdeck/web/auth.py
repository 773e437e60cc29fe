"""Login, logout and the password change page.

Logins go through core's ``session_login`` (user name and password) or ``token_session_login``
(a personal API token, the login form's second option): the same users, roles, tokens,
throttle (``core/users/throttle.py``) and audit records as ``/api/v1``. The session is core's
(``core/users/sessions.py``, in the database); a token login's session is bound to the token
and ends when it is revoked or expires. The login
form has no session yet, so its CSRF token is a double-submit cookie (a site that cannot read
our cookies cannot log a victim into an account of its own); every form after login carries the
session's own token.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from fleetdeck.core.errors import AuthenticationFailed, PermissionDenied, TooManyAttempts, ValidationFailed
from fleetdeck.core.users.sessions import StartedSession
from fleetdeck.web.app import VIA, Call, CsrfRefused, LoginRequired, WebUI, local_target
from fleetdeck.web.sessions import COOKIE, CSRF_FIELD, LOGIN_CSRF_COOKIE, same_token


def _secure(request: Request) -> bool:
    """Secure cookies when the browser talks https to us (directly, or through a trusted proxy
    whose X-Forwarded-Proto uvicorn applied)."""
    return request.url.scheme == "https"


def set_session_cookie(response: Response, request: Request, session: StartedSession) -> None:
    """The cookie lives as long as the session can (its ``expires_at``: the login lifetime, or
    the API token's expiry when sooner)."""
    max_age = max(1, int((session.info.expires_at - datetime.now(UTC)).total_seconds()))
    response.set_cookie(
        COOKIE,
        session.secret,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )


def routes(ui: WebUI) -> list[Route]:
    def login_page(
        call: Call, *, status: int = 200, error: str = "", username: str = "", method: str = ""
    ) -> Response:
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
            method=method,
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
        source = ui.source(call.request)
        by_token = call.field("method") == "token"
        username = "" if by_token else call.field("username").strip()
        password, token = call.field("password"), call.field("token").strip()
        method = "token" if by_token else ""
        if by_token and not token:
            return login_page(call, status=400, error="Enter an API token.", method=method)
        if not by_token and (not username or not password):
            return login_page(call, status=400, error="Enter your user name and password.", username=username)
        old = call.request.cookies.get(COOKIE)  # forgotten: never reused across logins
        try:
            _, session = (
                ui.services.sessions.token_login(token, source, VIA, replaces=old)
                if by_token
                else ui.services.sessions.login(username, password, source, VIA, replaces=old)
            )
        except TooManyAttempts as exc:
            wait = exc.detail.get("retry_after", 0)
            message = f"Too many failed logins. Try again in {wait:.0f} seconds."
            return login_page(call, status=429, error=message, username=username, method=method)
        except AuthenticationFailed as exc:
            wrong = (
                (
                    "The API token has expired."
                    if "expired" in exc.message
                    else "Unknown or revoked API token."
                )
                if by_token
                else "Wrong user name or password."
            )
            return login_page(call, status=401, error=wrong, username=username, method=method)
        response = RedirectResponse(local_target(call.field("next", "/")), 303)
        set_session_cookie(response, call.request, session)
        response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
        return response

    def logout(call: Call) -> Response:
        ui.services.sessions.end(call.user.actor, call.user.session)
        ui.results.forget_session(str(call.user.session.id))  # its report results go with it
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
        # Core deleted every session of the user, this one included.
        actor, credential = ui.services.users.password_login(
            actor.username, new, ui.source(call.request), VIA
        )
        session = ui.services.sessions.start(actor, credential, ui.source(call.request))
        response = RedirectResponse("/account/password?changed=1", 303)
        set_session_cookie(response, call.request, session)
        return response

    return [
        Route("/login", ui.endpoint(show_login, login=False), methods=["GET"]),
        Route("/login", ui.endpoint(do_login, login=False), methods=["POST"]),
        Route("/logout", ui.endpoint(logout), methods=["POST"]),
        Route("/account/password", ui.endpoint(password_page), methods=["GET"]),
        Route("/account/password", ui.endpoint(change_password), methods=["POST"]),
    ]
