"""rportd's tunnels over core's (``core/tunnels``): a server port carried through the client's
agent connection to ``remote``.

``PUT /clients/{id}/tunnels`` reads rportd's query parameters (``remote`` as port or
host:port, ``local`` as port or ip:port or nothing for one from the pool, ``acl``,
``check_port``, ``idle-timeout-minutes``/``skip-idle-timeout``, ``auto-close`` as a Go duration,
``protocol`` tcp, udp or tcp+udp, ``scheme``, ``name``, ``http_proxy`` with ``host_header`` and
``auth_user``/``auth_password``: an HTTPS reverse proxy on the tunnel's port, see
``api/agent/tunnel_proxy.py``; with ``protocol`` udp it is refused as rportd does) and makes one
core call. Not built, and answered 400 "not implemented": the proxy's vnc and rdp schemes
(rportd's noVNC and guacd). The basic-auth password is stored as an argon2 hash and never shown
(``auth_password`` is always ""). Each route needs rportd's
``tunnels`` permission (core's remote-access permission) and the client within the caller's
reach (core answers "not found" otherwise). ``GET /tunnels`` is one statement (and the reach
check's), whatever the number of tunnels.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.responses import Response

from fleetdeck.api.dialects.rport import render
from fleetdeck.api.dialects.rport.errors import RportError
from fleetdeck.api.dialects.rport.registry import Context, route
from fleetdeck.api.dialects.rport.schemas import Strict
from fleetdeck.core.authz import Perm
from fleetdeck.core.errors import (
    AgentUnreachable,
    Conflict,
    NotFound,
    NotImplementedYet,
    Reason,
    ValidationFailed,
)
from fleetdeck.core.tunnels.service import DEFAULT_IDLE_MINUTES, PROTOCOLS, TunnelInfo, TunnelRequest

NOT_IMPLEMENTED = "not implemented"
CODES = {
    Reason.TUNNEL_EXISTS: "ERR_CODE_TUNNEL_EXIST",
    Reason.TUNNEL_TO_PORT_EXISTS: "ERR_CODE_TUNNEL_TO_PORT_EXIST",
    Reason.LOCAL_PORT_IN_USE: "ERR_CODE_LOCAL_PORT_IN_USE",
    Reason.REMOTE_PORT_CLOSED: "ERR_CODE_REMOTE_PORT_NOT_OPEN",
}
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
_TRUE = {"1", "true", "t", "yes"}
_FALSE = {"0", "false", "f", "no", ""}


class AclBody(Strict):
    acl: str | None = None


def tunnel(info: TunnelInfo, with_client: bool = False) -> dict[str, Any]:
    """rportd's Tunnel object (``client_id`` in ``GET /tunnels``)."""
    out: dict[str, Any] = {
        "id": info.key,
        "name": info.name,
        "protocol": info.protocol,
        "lhost": info.local_host,
        "lport": str(info.local_port),
        "lport_random": info.local_port_random,
        "rhost": info.remote_host,
        "rport": str(info.remote_port),
        "scheme": info.scheme,
        "acl": ",".join(info.acl),
        "idle_timeout_minutes": info.idle_timeout_minutes,
        "auto_close": info.auto_close_sec * 10**9,
        "http_proxy": info.http_proxy,
        "host_header": info.host_header,
        "auth_user": info.auth_user,
        "auth_password": "",  # kept only as a hash
        "tunnel_url": "",
        "owner": info.owner,
        "created_at": render.time(info.created_at),
    }
    if with_client:
        out["client_id"] = info.computer_uid
    return out


def _require(ctx: Context) -> None:
    if not ctx.me.can(Perm.REMOTE_ACCESS):
        raise RportError(403, 'user does not have "tunnels" permission')


def _not_found(client_id: str) -> RportError:
    return RportError(404, f"Active client with id={client_id!r} not found.")


def _bool(ctx: Context, name: str) -> bool:
    value = (ctx.param(name) or "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise RportError(400, f"invalid {name} value: {value!r}")


def parse_duration(text: str) -> int:
    """A Go duration ("1h30m", "90s", "500ms") in whole seconds, rounded up."""
    if text in ("0", ""):
        return 0
    pos, total = 0, 0.0
    while pos < len(text):
        match = _DURATION.match(text, pos)
        if match is None:
            raise ValueError(text)
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    return -(-int(total) // 10**9)


def _port(text: str, what: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) < 65536:
        raise RportError(400, f"invalid {what} port: {text!r}")
    return int(text)


def _host_port(text: str, what: str, default_host: str) -> tuple[str, int | None]:
    """``port``, ``host:port`` or ``[v6]:port``."""
    text = text.strip()
    if not text:
        return default_host, None
    if text.isascii() and text.isdigit():
        return default_host, _port(text, what)
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise RportError(400, f"invalid {what}: {text!r}")
    return host.strip("[]"), _port(port, what)


def request_of(ctx: Context) -> TunnelRequest:
    remote = ctx.param("remote") or ""
    if not remote.strip():
        raise RportError(400, "remote is required", "remote")
    remote_host, remote_port = _host_port(remote, "remote", "127.0.0.1")
    local_host, local_port = _host_port(ctx.param("local") or "", "local", "")
    protocol = (ctx.param("protocol") or "tcp").lower()
    if protocol not in PROTOCOLS:
        raise RportError(400, f"invalid protocol {protocol!r}: tcp, udp or tcp+udp")
    if _bool(ctx, "http_proxy") and protocol == "udp":  # rportd: the proxy needs TCP (tcp+udp has it)
        # rportd's own spelling ("protcol"), kept: scripts compare titles
        raise RportError(400, f"tunnel proxy not allowed with protcol {protocol}")
    scheme = ctx.param("scheme") or ""
    if len(scheme) > 15:
        raise RportError(400, "scheme length exceeds 15 characters", code="ERR_CODE_URI_SCHEME_LENGTH_EXCEED")
    http_proxy = _bool(ctx, "http_proxy")
    if http_proxy and scheme and scheme not in ("http", "https", "vnc", "rdp"):
        raise RportError(400, f"tunnel proxy not allowed with scheme {scheme}")
    if http_proxy and scheme in ("vnc", "rdp"):
        raise RportError(400, NOT_IMPLEMENTED, f"the tunnel proxy for scheme {scheme} is not implemented")
    host_header = ctx.param("host_header") or ""
    if host_header and not http_proxy:
        raise RportError(400, "host_header not allowed when http_proxy is false")
    auth_user, auth_password = ctx.param("auth_user") or "", ctx.param("auth_password") or ""
    if (auth_user or auth_password) and not http_proxy:
        raise RportError(
            400, "http basic authentication requires http_proxy to be activated on the requested tunnel"
        )
    if auth_password and not auth_user:
        raise RportError(400, "auth_password requires auth_user")
    if auth_user and not auth_password:
        raise RportError(400, "auth_user requires auth_password")
    idle_text = ctx.param("idle-timeout-minutes")
    skip_idle = _bool(ctx, "skip-idle-timeout")
    if skip_idle and idle_text:
        raise RportError(400, "idle-timeout-minutes and skip-idle-timeout cannot be used together")
    idle = DEFAULT_IDLE_MINUTES
    if skip_idle:
        idle = 0
    elif idle_text:
        if not (idle_text.isascii() and idle_text.isdigit()) or not 0 < int(idle_text) <= 10080:
            raise RportError(400, "idle-timeout-minutes must be between 1 and 10080")
        idle = int(idle_text)
    try:
        auto_close = parse_duration((ctx.param("auto-close") or "").strip())
    except ValueError:
        raise RportError(400, f"invalid auto-close duration: {ctx.param('auto-close')!r}") from None
    if auto_close > 744 * 3600:
        raise RportError(400, "auto-close must be at most 744h")
    return TunnelRequest(
        remote_host=remote_host,
        remote_port=remote_port or 0,
        local_host=local_host,
        local_port=local_port,
        protocol=protocol,
        scheme=scheme,
        acl=tuple((ctx.param("acl") or "").split(",")),
        name=ctx.param("name") or "",
        check_port=(ctx.param("check_port") or "1").strip() != "0",
        idle_timeout_minutes=idle,
        auto_close_sec=auto_close,
        http_proxy=http_proxy,
        host_header=host_header,
        auth_user=auth_user,
        auth_password=auth_password,
    )


def _translate(exc: Conflict | ValidationFailed) -> RportError:
    reason = exc.detail.get("reason")
    code = CODES.get(reason, "") if isinstance(reason, Reason) else ""
    if exc.detail.get("field") == "acl" and not code:
        code = "ERR_CODE_INVALID_ACL"
    return RportError(400, exc.message, code=code)


@route("GET", "/tunnels")
def tunnels_all(ctx: Context) -> Response:
    """Every tunnel of the clients the caller may reach (unpaginated, as rportd)."""
    _require(ctx)
    return render.ok([tunnel(info, with_client=True) for info in ctx.services.tunnels.find(ctx.me)])


@route("PUT", "/clients/{client_id}/tunnels")
def tunnel_create(ctx: Context) -> Response:
    _require(ctx)
    client_id = str(ctx.path_params["client_id"])
    request = request_of(ctx)
    try:
        info = ctx.services.tunnels.create(ctx.me, client_id, request)
    except (NotFound, AgentUnreachable):
        raise _not_found(client_id) from None
    except (Conflict, ValidationFailed) as exc:
        raise _translate(exc) from None
    except NotImplementedYet as exc:
        raise RportError(400, NOT_IMPLEMENTED, exc.message) from None
    return render.ok(tunnel(info))


@route("DELETE", "/clients/{client_id}/tunnels/{tunnel_id}")
def tunnel_delete(ctx: Context) -> Response:
    """204; 409 while connections are open, unless ``force=1`` (which closes them)."""
    _require(ctx)
    client_id, tunnel_id = str(ctx.path_params["client_id"]), str(ctx.path_params["tunnel_id"])
    try:
        ctx.services.tunnels.delete(ctx.me, client_id, tunnel_id, force=_bool(ctx, "force"))
    except NotFound as exc:
        if exc.object_type == "tunnel":
            raise RportError(404, f"tunnel with id={tunnel_id!r} not found") from None
        raise _not_found(client_id) from None
    except Conflict as exc:
        raise RportError(409, "tunnel is still active: it has active connections", exc.message) from None
    return render.empty(204)


@route("PUT", "/clients/{client_id}/tunnels/{tunnel_id}/acl")
def tunnel_acl(ctx: Context) -> Response:
    """``{"acl": "a,b/24"}``: who may connect from now on; 204."""
    _require(ctx)
    client_id, tunnel_id = str(ctx.path_params["client_id"]), str(ctx.path_params["tunnel_id"])
    body = ctx.decode(AclBody)
    try:
        ctx.services.tunnels.set_acl(ctx.me, client_id, tunnel_id, (body.acl or "").split(","))
    except NotFound as exc:
        if exc.object_type == "tunnel":
            raise RportError(404, f"tunnel with id={tunnel_id!r} not found") from None
        raise _not_found(client_id) from None
    except ValidationFailed as exc:
        raise _translate(exc) from None
    return render.empty(204)
