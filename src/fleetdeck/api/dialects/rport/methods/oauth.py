"""Login through an OpenID Connect provider (rportd Plus's OAuth login): ``/auth/provider``,
``/auth/ext/settings[/device]`` and ``/oauth/login[/device]``. Core (``services.oidc``,
the ``oidc.*`` settings) decides; this module only translates."""

from __future__ import annotations

from datetime import UTC

from starlette.responses import Response

from fleetdeck.api.dialects.rport import render
from fleetdeck.api.dialects.rport.envelope import VIA, claims, token_lifetime
from fleetdeck.api.dialects.rport.errors import RportError
from fleetdeck.api.dialects.rport.registry import Auth, Context, route
from fleetdeck.api.dialects.rport.schemas import RENEW_SEC
from fleetdeck.core.users.oidc import DevicePending

BUILT_IN = "built-in"
NOT_ENABLED = "auth provider settings not enabled"


def _enabled(ctx: Context) -> None:
    if not ctx.services.oidc.enabled():
        raise RportError(403, NOT_ENABLED)


@route("GET", "/auth/provider", auth=Auth.NONE)
def provider(ctx: Context) -> Response:
    """``built-in`` (password logins) or the configured provider and where to go next."""
    if not ctx.services.oidc.enabled():
        return render.ok({"auth_provider": BUILT_IN, "settings_url": "", "device_settings_url": ""})
    return render.ok(
        {
            "auth_provider": ctx.services.oidc.label,
            "settings_url": ctx.prefix + "/auth/ext/settings",
            "device_settings_url": ctx.prefix + "/auth/ext/settings/device",
        }
    )


@route("GET", "/auth/ext/settings", auth=Auth.NONE)
def ext_settings(ctx: Context) -> Response:
    """A new login attempt: the provider's authorize URL, its state and when it expires."""
    _enabled(ctx)
    start = ctx.services.oidc.begin(ctx.source)
    return render.ok(
        {
            "message": "open the authorize_url in a browser, then call the login_uri with the code"
            " and state the provider redirects to",
            "authorize_url": start.authorize_url,
            "login_uri": ctx.prefix + "/oauth/login",
            "state": start.state,
            "expiry": start.expires_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        }
    )


@route("GET", "/auth/ext/settings/device", auth=Auth.NONE)
def ext_settings_device(ctx: Context) -> Response:
    """A device code from the provider for a command-line login."""
    _enabled(ctx)
    start = ctx.services.oidc.begin_device()
    return render.ok(
        {
            "auth_provider": ctx.services.oidc.label,
            "details": {
                "login_uri": ctx.prefix + "/oauth/login/device",
                "auth_info": {
                    "device_code": start.device_code,
                    "verification_uri": start.verification_uri,
                    "user_code": start.user_code,
                    "interval": start.interval,
                    "expires_in": start.expires_in,
                },
            },
        }
    )


def _agent(ctx: Context) -> str:
    return ctx.request.headers.get("user-agent", "")


@route("GET", "/oauth/login", auth=Auth.NONE)
def oauth_login(ctx: Context) -> Response:
    """The provider's ``code`` and ``state`` in, rportd's bearer token out."""
    _enabled(ctx)
    lifetime = token_lifetime(ctx)
    code, state = ctx.param("code") or "", ctx.param("state") or ""
    if not code or not state:
        raise RportError(400, "missing code or state")
    actor, started = ctx.services.oidc.complete(
        code, state, ctx.source, VIA, lifetime_sec=lifetime, renew_sec=RENEW_SEC, user_agent=_agent(ctx)
    )
    token = ctx.services.sessions.seal(claims(actor.username, started.info, started.secret, full=True))
    return render.ok({"token": token, "two_fa": None})


@route("GET", "/oauth/login/device", auth=Auth.NONE)
def oauth_login_device(ctx: Context) -> Response:
    """One poll of a device login: the token, or the provider's ``authorization_pending`` /
    ``slow_down`` as ``error`` in a 200 answer (rportd's clients retry on those)."""
    _enabled(ctx)
    lifetime = token_lifetime(ctx)
    device_code = ctx.param("device_code") or ""
    if not device_code:
        raise RportError(400, "missing device_code")
    result = ctx.services.oidc.complete_device(
        device_code, ctx.source, VIA, lifetime_sec=lifetime, renew_sec=RENEW_SEC, user_agent=_agent(ctx)
    )
    if isinstance(result, DevicePending):
        return render.ok(
            {
                "error": result.error,
                "error_description": result.error_description,
                "error_uri": result.error_uri,
            }
        )
    actor, started = result
    token = ctx.services.sessions.seal(claims(actor.username, started.info, started.secret, full=True))
    return render.ok({"token": token, "two_fa": None})
