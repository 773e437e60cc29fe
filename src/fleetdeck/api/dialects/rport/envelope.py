"""HTTP for the rport dialect: rportd's checks in its order, authentication, body decoding.

Order per request: the route (404/405 in rportd's error format), authentication (HTTP Basic
first, then ``Authorization: Bearer``; a half login only where a second factor is presented),
the API token's scope, the Administrators check, then the handler in a worker thread (core is
synchronous) and its answer; any core error becomes rportd's error envelope (``errors.py``).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import Response

from fleetdeck.api.dialects.rport import settings as keys
from fleetdeck.api.dialects.rport.errors import NOT_ADMIN, SCOPE_REFUSED, UNAUTHORIZED, RportError, render
from fleetdeck.api.dialects.rport.registry import Auth, Context, RouteDef
from fleetdeck.api.kit.dialect import DialectDeps
from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.errors import AuthenticationFailed, FleetdeckError
from fleetdeck.core.users.service import TOKEN_PREFIX
from fleetdeck.core.users.sessions import SECOND_FACTOR, SessionInfo

VIA = "rport"
MAX_BODY = 10 * 1024  # rportd's api.max_request_bytes
MAX_FILEPUSH = 10 * 1024 * 1024  # rportd's api.max_filepush_size
FILES_PATH = "/files"
T = TypeVar("T")


def decode_body(body: bytes, kind: type[T]) -> T:
    """A JSON body, strictly: unknown fields, wrong types and trailing data are 400 with rportd's
    titles; NaN, huge numbers and lone surrogates are refused as by the kit."""
    if not body.strip():
        raise RportError(400, "Missing body with json data.")
    if b"\\u0000" in body:  # PostgreSQL stores no NUL in text: refused here, for every database
        raise RportError(400, "Invalid JSON data.", "text must not contain NUL characters (\\u0000)")
    try:
        return msgspec.json.decode(body, type=kind)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise RportError(400, "Invalid JSON data.", str(exc)) from None


def _basic(header: str) -> tuple[str, str] | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        text = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise RportError(401, UNAUTHORIZED) from None
    user, sep, secret = text.partition(":")
    if not sep:
        raise RportError(401, UNAUTHORIZED)
    return user, secret


def bearer(header: str) -> str | None:
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def second_factor_on(deps: DialectDeps) -> bool:
    return bool(deps.services.settings.value(keys.TOTP_KEY)) or bool(
        deps.services.settings.value(keys.TWO_FA_DELIVERY_KEY)
    )


def session_of(deps: DialectDeps, token: str, source: str, stage: str) -> tuple[Actor, SessionInfo]:
    """The session a bearer token names, resumed at ``stage`` (its expiry pushed forward)."""
    claims = deps.services.sessions.unseal(token)
    secret = claims.get("jti")
    if not isinstance(secret, str):
        raise AuthenticationFailed("invalid token")
    return deps.services.sessions.resume(secret, source, VIA, stage=stage)


def stage_of(deps: DialectDeps, token: str) -> str:
    claims = deps.services.sessions.unseal(token)
    scopes = claims.get("scopes")
    full = isinstance(scopes, list) and any(isinstance(s, dict) and s.get("uri") == "*" for s in scopes)
    return "" if full else SECOND_FACTOR


def authenticate(ctx: Context, auth: Auth) -> None:
    """Who calls, by rportd's rules; raises 401 (or 429 while banned)."""
    header = ctx.request.headers.get("authorization", "")
    basic = _basic(header) if auth is not Auth.SECOND_FACTOR else None
    if basic is not None:
        user, secret = basic
        if second_factor_on(ctx.deps) and not secret.startswith(TOKEN_PREFIX):
            raise RportError(401, UNAUTHORIZED)  # with 2FA on, Basic takes API tokens only
        ctx.actor = ctx.deps.credentials.authenticate_basic(ctx.services.users, user, secret, ctx.source, VIA)
        return
    token = bearer(header)
    if token is None:
        raise RportError(401, UNAUTHORIZED)
    stage = stage_of(ctx.deps, token)
    wanted = {Auth.FULL: {""}, Auth.SECOND_FACTOR: {SECOND_FACTOR}, Auth.ANY: {"", SECOND_FACTOR}}[auth]
    if stage not in wanted:
        raise RportError(401, UNAUTHORIZED)
    ctx.actor, ctx.session = session_of(ctx.deps, token, ctx.source, stage)


def check_scope(ctx: Context, path: str) -> None:
    """An API token's scope: ``read`` only GETs and no websocket, ``clients-auth`` only the
    client credentials routes."""
    scope = ctx.me.token_scope
    method = ctx.request.method
    if (scope == "read" and (method != "GET" or "/ws" in path)) or (
        scope == "credentials" and "clients-auth" not in path
    ):
        raise RportError(401, SCOPE_REFUSED)


def is_admin(actor: Actor) -> bool:
    return actor.role is Role.ADMIN


def _has_nul(request: Request) -> bool:
    """A NUL in a path parameter or a query value: PostgreSQL cannot compare text with it (the
    query would fail), and no stored name holds one, so it is bad input on every database."""
    if any("\x00" in str(v) for v in request.path_params.values()):
        return True
    return any("\x00" in k or "\x00" in v for k, v in request.query_params.multi_items())


def endpoint(deps: DialectDeps, prefix: str, spec: RouteDef) -> Callable[[Request], Awaitable[Response]]:
    async def handle(request: Request) -> Response:
        form = None
        if spec.path == FILES_PATH:
            body, form = await _form(request)
            if isinstance(form, Response):
                return form
        else:
            body = await request.body() if request.method in ("POST", "PUT", "PATCH", "DELETE") else b""
            if len(body) > MAX_BODY:
                return render(RportError(413, "request body too large"))
        if _has_nul(request):
            return render(
                RportError(400, "invalid request", "NUL characters are not allowed in the path or query")
            )
        ctx = Context(request, deps, prefix, body, path_params=dict(request.path_params), form=form)
        try:
            return await run_in_threadpool(_run, ctx, spec)
        except (RportError, FleetdeckError) as exc:
            return render(exc)
        finally:
            if form is not None:
                await form.close()  # its spooled files, whatever the handler did

    return handle


async def _form(request: Request) -> tuple[bytes, Any]:
    """``POST /files``: the body read up to rportd's ``api.max_filepush_size`` (larger is a 413
    before the rest is read), then parsed as a multipart form (files spooled to disk)."""
    received = bytearray()
    async for chunk in request.stream():
        received += chunk
        if len(received) > MAX_FILEPUSH + MAX_BODY:
            return b"", render(RportError(413, f"file too big: max allowed size is {MAX_FILEPUSH} bytes"))
    request._body = bytes(received)  # form() reads the body from here
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        return b"", render(RportError(400, "request Content-Type isn't multipart/form-data"))
    try:
        form = await request.form(max_files=1, max_fields=1000, max_part_size=MAX_FILEPUSH)
    except (MultiPartException, ValueError, UnicodeDecodeError) as exc:
        return b"", render(RportError(400, "invalid multipart form", str(exc)))
    return b"", form


def _run(ctx: Context, spec: RouteDef) -> Response:
    if spec.auth is not Auth.NONE:
        authenticate(ctx, spec.auth)
        check_scope(ctx, ctx.request.url.path)
        if spec.admin and not is_admin(ctx.me):
            raise RportError(403, NOT_ADMIN)
    return spec.handler(ctx)


def token_lifetime(ctx: Context) -> int:
    """``?token-lifetime=<seconds>``: default 10 minutes, at most 90 days."""
    from fleetdeck.api.dialects.rport.schemas import DEFAULT_TOKEN_LIFETIME, MAX_TOKEN_LIFETIME

    raw = ctx.param("token-lifetime")
    if raw is None or raw == "":
        return DEFAULT_TOKEN_LIFETIME
    try:
        value = int(raw)
    except ValueError:
        raise RportError(400, "invalid token-lifetime", f"{raw!r} is not a number") from None
    if value <= 0:
        return DEFAULT_TOKEN_LIFETIME
    if value > MAX_TOKEN_LIFETIME:
        raise RportError(400, f"requested token lifetime exceeds max allowed {MAX_TOKEN_LIFETIME}")
    return value


def claims(username: str, session: SessionInfo, secret: str, full: bool) -> dict[str, Any]:
    """rportd's JWT claims: no ``exp`` (the session row decides), the session's secret as
    ``jti``, and the scopes (a half login may only present its second factor)."""
    scopes: list[dict[str, Any]]
    if full:
        scopes = [{"uri": "*", "method": "*"}, {"uri": "/api/v1/verify-2fa", "method": "*", "exclude": True}]
    else:
        scopes = [
            {"uri": "/api/v1/verify-2fa", "method": "POST"},
            {"uri": "/api/v1/me/totp-secret", "method": "POST"},
        ]
    return {"username": username, "sessionID": session.id, "scopes": scopes, "jti": secret}
