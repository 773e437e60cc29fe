"""Login, logout and the second factor (rportd's Login group)."""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.responses import Response

from fleetdeck.api.dialects.rport import render
from fleetdeck.api.dialects.rport import settings as keys
from fleetdeck.api.dialects.rport.envelope import VIA, claims, second_factor_on, token_lifetime
from fleetdeck.api.dialects.rport.errors import UNAUTHORIZED, RportError
from fleetdeck.api.dialects.rport.registry import Auth, Context, route
from fleetdeck.api.dialects.rport.schemas import RENEW_SEC, LoginBody, Verify2faBody
from fleetdeck.core.errors import NotImplementedYet
from fleetdeck.core.users.sessions import SECOND_FACTOR

TOTP = "totp_authenticator_app"
EMAIL = "email"
TOTP_LOGIN_TTL = 600  # api.totp_login_session_ttl
OAUTH_ON = "password login is disabled: log in through the OAuth provider (see /auth/provider)"


def _login(ctx: Context, username: str, password: str, new_password: str | None) -> Response:
    if ctx.services.oidc.enabled():
        raise RportError(403, OAUTH_ON)
    if not username:
        raise RportError(401, UNAUTHORIZED)
    lifetime = token_lifetime(ctx)
    settings = ctx.services.settings
    delivery = str(settings.value(keys.TWO_FA_DELIVERY_KEY) or "")
    if delivery and delivery != keys.DELIVERY_SMTP:
        raise NotImplementedYet(f"2FA delivery {delivery!r} is not built; only 'smtp' (e-mail) is")
    totp = bool(settings.value(keys.TOTP_KEY))
    half = totp or bool(delivery)
    agent = ctx.request.headers.get("user-agent", "")
    actor, started = ctx.services.sessions.login(
        username,
        password,
        ctx.source,
        VIA,
        new_password=new_password,
        lifetime_sec=TOTP_LOGIN_TTL if half else lifetime,
        renew_sec=None if half else RENEW_SEC,
        stage=SECOND_FACTOR if half else "",
        user_agent=agent,
    )
    token = ctx.services.sessions.seal(claims(actor.username, started.info, started.secret, full=not half))
    two_fa: dict[str, str] | None = None
    if delivery and not totp:
        ttl = int(settings.value(keys.TWO_FA_TTL_KEY))
        try:
            sent_to = ctx.services.mail_codes.send(actor, started.info.id, ttl, "RPort 2FA verification code")
        except Exception:
            ctx.services.sessions.discard(started.secret)  # no code, no half login left behind
            raise
        two_fa = {"send_to": sent_to, "delivery_method": EMAIL}
    elif totp:
        assert actor.user_id is not None
        exists = ctx.services.second_factor.exists(actor.user_id)
        two_fa = {"delivery_method": TOTP, "totp_key_status": "exists" if exists else "pending"}
    return render.ok({"token": token, "two_fa": two_fa})


@route("GET", "/login", auth=Auth.NONE)
def login_get(ctx: Context) -> Response:
    """Basic credentials in, a bearer token out."""
    from fleetdeck.api.dialects.rport.envelope import _basic

    basic = _basic(ctx.request.headers.get("authorization", ""))
    if basic is None:
        raise RportError(401, UNAUTHORIZED)
    return _login(ctx, basic[0], basic[1], None)


@route("POST", "/login", auth=Auth.NONE)
def login_post(ctx: Context) -> Response:
    """JSON or form fields ``username``, ``password`` and (for an expired password)
    ``new_password``; any other content type is a 400."""
    media = ctx.request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media == "application/json":
        body = ctx.decode(LoginBody)
    elif media == "application/x-www-form-urlencoded":
        form = dict(parse_qsl(ctx.body.decode("utf-8", "replace"), keep_blank_values=True))
        body = LoginBody(form.get("username", ""), form.get("password", ""), form.get("new_password"))
    else:
        raise RportError(400, f"unsupported content type: {media or 'none'}")
    return _login(ctx, body.username, body.password, body.new_password)


@route("DELETE", "/logout", auth=Auth.FULL)
def logout(ctx: Context) -> Response:
    if ctx.session is None:
        raise RportError(400, "logout needs a bearer token")
    ctx.services.sessions.end(ctx.me, ctx.session)
    return render.empty(204)


@route("POST", "/verify-2fa", auth=Auth.SECOND_FACTOR)
def verify_2fa(ctx: Context) -> Response:
    """The code from the authenticator app (``rport.totp_enabled``, asked for when both are set) or
    the one sent by e-mail at login, with the half login's bearer token: a full token."""
    if not second_factor_on(ctx.deps):
        raise RportError(400, "2fa is disabled")
    body = ctx.decode(Verify2faBody)
    lifetime = token_lifetime(ctx)
    if body.username != ctx.me.username:
        raise RportError(401, UNAUTHORIZED, "username does not match the login token")
    assert ctx.session is not None
    if ctx.services.settings.value(keys.TOTP_KEY):
        ctx.services.second_factor.verify(ctx.me, body.token)
    else:
        ctx.services.mail_codes.verify(ctx.me, ctx.session.id, body.token)
    started = ctx.services.sessions.promote(ctx.me, ctx.session, lifetime_sec=lifetime, renew_sec=RENEW_SEC)
    token = ctx.services.sessions.seal(claims(ctx.me.username, started.info, started.secret, full=True))
    return render.ok({"token": token})
