"""The caller's own account: profile, API tokens and authenticator secret (Profile & Info)."""

from __future__ import annotations

import base64
import io
import struct
import zlib
from datetime import datetime, timedelta

import segno
from starlette.responses import Response

from fleetdeck.api.dialects.rport import render
from fleetdeck.api.dialects.rport import settings as keys
from fleetdeck.api.dialects.rport.envelope import is_admin
from fleetdeck.api.dialects.rport.errors import RportError
from fleetdeck.api.dialects.rport.registry import Auth, Context, route
from fleetdeck.api.dialects.rport.schemas import MeBody, TokenBody
from fleetdeck.core.errors import NotFound

TOKEN_YEAR = timedelta(days=365)
QR_PX = 200


def check_password(ctx: Context, password: str) -> None:
    shortest = int(ctx.services.settings.value(keys.PASSWORD_MIN_KEY) or 0)
    if len(password) < shortest:
        raise RportError(400, f"password must be at least {shortest} characters")


@route("GET", "/me")
def me_get(ctx: Context) -> Response:
    assert ctx.me.user_id is not None
    info = ctx.services.users.get(ctx.me, ctx.me.user_id)
    membership = ctx.services.user_groups.memberships(ctx.me, [info.id]).get(info.id)
    return render.ok(render.me(info, membership, is_admin(ctx.me)))


@route("PUT", "/me")
def me_put(ctx: Context) -> Response:
    """A new password (with the old one, 403 without or wrong), a new name, a 2FA address."""
    body = ctx.decode(MeBody)
    if body.password:
        if not body.old_password:
            raise RportError(403, "missing old password")
        check_password(ctx, body.password)
    username = body.username if body.username and body.username != ctx.me.username else None
    if username is None and not body.password and body.two_fa_send_to is None:
        raise RportError(400, "nothing to update")
    ctx.services.users.update_own(
        ctx.me,
        username=username,
        password=body.password or None,
        current_password=body.old_password,
        two_fa_send_to=body.two_fa_send_to,
    )
    return render.empty(204)


@route("GET", "/me/ip")
def me_ip(ctx: Context) -> Response:
    return render.ok({"ip": ctx.source})


def _gone(ctx: Context) -> Response:
    raise RportError(410, "use new token management on /me/tokens")


for _method in ("GET", "POST", "PUT", "DELETE"):
    route(_method, "/me/token")(_gone)


def _when(text: str | None, field: str) -> datetime | None:
    if text is None or text == "":
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise RportError(400, f"invalid {field}", f"{text!r} is not an RFC 3339 time") from None
    if value.tzinfo is None:
        raise RportError(400, f"invalid {field}", "a time zone is required")
    return value


@route("GET", "/me/tokens")
def tokens_list(ctx: Context) -> Response:
    return render.ok([render.token(t) for t in ctx.services.users.list_tokens(ctx.me)])


@route("POST", "/me/tokens")
def tokens_create(ctx: Context) -> Response:
    """``{name, scope, expires_at?}``: the token is shown once; it expires in a year unless
    told otherwise."""
    body = ctx.decode(TokenBody)
    scope = render.SCOPES.get(body.scope or "")
    if scope is None:
        raise RportError(400, "invalid scope", "scope must be read, read+write or clients-auth")
    if scope == "credentials" and not is_admin(ctx.me):
        raise RportError(403, "clients-auth tokens are only for Administrators")
    if not body.name or len(body.name) > 249:
        raise RportError(400, "name must be 1-249 characters")
    expires = _when(body.expires_at, "expires_at") or datetime.now().astimezone() + TOKEN_YEAR
    new = ctx.services.users.create_token(ctx.me, body.name, scope, expires)
    return render.ok(
        {
            "prefix": new.info.prefix,
            "name": new.info.name,
            "token": new.token,
            "scope": body.scope,
            "created_at": render.time(new.info.created_at),
            "expires_at": render.time(new.info.expires_at),
        }
    )


def _token_id(ctx: Context, prefix: str | None) -> int:
    """The caller's token with this prefix (a read used to find the id; the change is one call)."""
    if not prefix:
        raise RportError(400, "missing token prefix")
    for token in ctx.services.users.list_tokens(ctx.me):
        if token.prefix == prefix:
            return token.id
    raise RportError(404, "there is no token with that prefix")


@route("PUT", "/me/tokens/{prefix}")
@route("PUT", "/me/tokens")
def tokens_update(ctx: Context) -> Response:
    body = ctx.decode(TokenBody)
    if body.scope is not None:
        raise RportError(400, "the scope of a token cannot be changed")
    token_id = _token_id(ctx, ctx.path_params.get("prefix") or body.prefix)
    info = ctx.services.users.update_token(
        ctx.me, token_id, name=body.name or None, expires_at=_when(body.expires_at, "expires_at")
    )
    return render.ok(render.token(info))


@route("DELETE", "/me/tokens/{prefix}")
@route("DELETE", "/me/tokens")
def tokens_delete(ctx: Context) -> Response:
    prefix = ctx.path_params.get("prefix")
    if prefix is None:
        prefix = ctx.decode(TokenBody).token_prefix
    ctx.services.users.revoke_token(ctx.me, _token_id(ctx, prefix))
    return render.empty(204)


def qr_png(text: str, size: int = QR_PX) -> str:
    """The QR code of ``text`` as a base64 PNG of ``size`` x ``size`` pixels (rportd's 200x200),
    black on white, scaled by nearest neighbour from segno's module matrix."""
    matrix = [list(row) for row in segno.make(text, error="m", micro=False).matrix_iter(border=4)]
    n = len(matrix)
    rows = bytearray()
    for y in range(size):
        line = matrix[y * n // size]
        rows.append(0)  # filter: none
        rows.extend(0 if line[x * n // size] else 255 for x in range(size))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    out = io.BytesIO()
    out.write(b"\x89PNG\r\n\x1a\n")
    out.write(chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 0, 0, 0, 0)))
    out.write(chunk(b"IDAT", zlib.compress(bytes(rows), 9)))
    out.write(chunk(b"IEND", b""))
    return base64.b64encode(out.getvalue()).decode()


def _totp_on(ctx: Context) -> str:
    if not ctx.services.settings.value(keys.TOTP_KEY):
        raise RportError(400, "TotP is disabled")
    return str(ctx.services.settings.value(keys.TOTP_ACCOUNT_KEY) or "RPort")


@route("POST", "/me/totp-secret", auth=Auth.ANY)
def totp_create(ctx: Context) -> Response:
    """A new authenticator secret, once (a second POST is 401, as in rportd); the bare
    ``{secret, qr}``, without the ``data`` wrapper."""
    account = _totp_on(ctx)
    from fleetdeck.core.errors import Conflict

    try:
        secret = ctx.services.second_factor.create(ctx.me, account)
    except Conflict:
        raise RportError(401, "secret key already exists") from None
    return render.bare({"secret": secret.secret, "qr": qr_png(secret.uri)})


@route("GET", "/me/totp-secret")
def totp_get(ctx: Context) -> Response:
    account = _totp_on(ctx)
    try:
        secret = ctx.services.second_factor.get(ctx.me, account)
    except NotFound:
        raise RportError(404, "time based one time secret key should be generated for this user") from None
    return render.bare({"secret": secret.secret, "qr": qr_png(secret.uri)})


@route("DELETE", "/me/totp-secret")
def totp_delete(ctx: Context) -> Response:
    _totp_on(ctx)
    assert ctx.me.user_id is not None
    ctx.services.second_factor.delete(ctx.me, ctx.me.user_id)
    return render.empty(204)
