"""Server status, the audit log view and rportd's OpenAPI document."""

from __future__ import annotations

from importlib import resources

from starlette.responses import Response

from fleetdeck import __version__
from fleetdeck.api.dialects.rport import render
from fleetdeck.api.dialects.rport import settings as keys
from fleetdeck.api.dialects.rport.envelope import is_admin
from fleetdeck.api.dialects.rport.errors import RportError
from fleetdeck.api.dialects.rport.filters import time_condition
from fleetdeck.api.dialects.rport.registry import Auth, Context, route
from fleetdeck.api.dialects.rport.schemas import AUDITLOG, SYNTAX
from fleetdeck.api.kit import listing
from fleetdeck.core import query as q
from fleetdeck.core.authz import Perm

SPEC_FILE = "rportd-openapi.yml"


@route("GET", "/status")
def status(ctx: Context) -> Response:
    computers = ctx.services.computers
    online = computers.find(ctx.me, q.Query(where=(q.Cond("online", q.Op.EQ, True),), limit=1)).total
    every = computers.find(ctx.me, q.Query(limit=1)).total
    settings = ctx.services.settings
    totp = bool(settings.value(keys.TOTP_KEY))
    data = {
        "version": f"fleetdeck {__version__}",
        "clients_connected": online,
        "clients_disconnected": every - online,
        "fingerprint": "",
        "connect_url": [],
        "clients_auth_source": "DB",
        "clients_auth_mode": "Read Only",
        "users_auth_source": "DB",
        "group_permissions_enabled": True,
        "two_fa_enabled": totp,
        "auditlog": "enabled",
        "auth_header": "",
        "tunnel_host": "",
        "tunnel_proxy_enabled": False,
        "caddy_integration_enabled": False,
        "excluded_ports": [],
        "used_ports": [],
        "monitoring_enabled": False,
        "password_min_length": int(settings.value(keys.PASSWORD_MIN_KEY) or 0),
    }
    if totp:  # the document allows only its delivery methods here: absent while 2FA is off
        data["two_fa_delivery_method"] = "totp_authenticator_app"
    return render.ok(data)


# rportd's audit columns -> core's audit fields
AUDIT_FIELDS = {
    "timestamp": "at",
    "username": "username",
    "remote_ip": "source",
    "application": "object_type",
    "action": "action",
    "affected_id": "object_id",
    "client_id": "object_id",
    "client_hostname": "object_id",
}
OBJECT_TYPES = {v: k for k, v in render.APPLICATIONS.items()}


def _translate(expr: q.Expr) -> q.Expr:
    """A condition on rportd's audit columns as one on core's fields."""
    if isinstance(expr, q.AnyOf):
        return q.AnyOf(tuple(_translate(c) for c in expr.conds))
    if isinstance(expr, q.AllOf):
        return q.AllOf(tuple(_translate(c) for c in expr.conds))
    name, value = expr.field, expr.value
    if name == "timestamp":
        return time_condition("at", expr)
    if name == "application":
        convert = OBJECT_TYPES.get
        value = [convert(v, v) for v in value] if isinstance(value, list) else convert(value, value)
    if name == "action" and expr.op is not q.Op.IN and isinstance(value, str):
        return q.Cond("action", q.Op.LIKE, value if "*" in value else f"*.{value}")
    return q.Cond(AUDIT_FIELDS[name], expr.op, value)


@route("GET", "/auditlog")
def auditlog(ctx: Context) -> Response:
    """Core's one audit log, in rportd's columns. Users without admin rights see their own
    entries only and may not filter by user name."""
    admin = is_admin(ctx.me)
    if not admin and not ctx.me.can(Perm.READ_AUDIT):
        raise RportError(403, 'user does not have "auditlog" permission')
    if not admin and any(k.startswith("filter[") and "username" in k for k, _ in ctx.params):
        raise RportError(403, "filtering by username is only allowed for Administrators")
    request = listing.parse(ctx.params, AUDITLOG, SYNTAX)
    query = request.query
    where = tuple(_translate(e) for e in query.where)
    if not admin:
        where += (q.Cond("username", q.Op.EQ, ctx.me.username),)
    sort = tuple(q.SortKey(AUDIT_FIELDS[k.field], k.descending) for k in query.sort)
    page = ctx.services.audit.find(
        ctx.me, q.Query(where=where, sort=sort, limit=query.limit, offset=query.offset)
    )
    return render.ok([render.audit(r) for r in page.items], meta={"count": page.total})


def spec_text(server_url: str) -> str:
    """rportd's own OpenAPI document with fleetdeck's URL as its only server."""
    text = resources.files("fleetdeck.api.dialects.rport").joinpath("data", SPEC_FILE).read_text("utf-8")
    head, sep, rest = text.partition("\nservers:\n")
    if not sep:
        return text
    lines = rest.split("\n")
    i = 0
    while i < len(lines) and (lines[i].startswith("- ") or lines[i].startswith("  ")):
        i += 1
    return head + sep + f"- url: {server_url}\n" + "\n".join(lines[i:])


@route("GET", "/docs/swagger.yaml", auth=Auth.NONE)
def swagger(ctx: Context) -> Response:
    base = str(ctx.request.base_url).rstrip("/") + ctx.prefix
    return Response(spec_text(base), media_type="application/yaml")
