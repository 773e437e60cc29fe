"""``idoit.*``: version, constants, login/logout sessions, search."""

from __future__ import annotations

from typing import Any

from fleetdeck import __version__
from fleetdeck.api.dialects.idoit import render
from fleetdeck.api.dialects.idoit.errors import Code, IdoitError
from fleetdeck.api.dialects.idoit.registry import METHODS, Context

SESSION_HEADER = "X-RPC-Auth-Session"
API_USER_ID = "22"  # i-doit's "Api System" person
API_VERSION = "1.16"  # the i-doit release whose API (add-on 1.10+) this dialect follows


def _login(ctx: Context) -> dict[str, Any]:
    return {
        "userid": str(ctx.actor.user_id) if ctx.actor.user_id is not None else API_USER_ID,
        "name": ctx.actor.username,
        "mail": "",
        "username": ctx.actor.username,
        "tenant": ctx.tenant,
        "mandator": ctx.tenant,
        "language": ctx.lang,
    }


@METHODS.method("idoit.version")
def version(ctx: Context) -> dict[str, Any]:
    """Who is logged in, and the version of the API answered."""
    return {"login": _login(ctx), "version": API_VERSION, "step": "", "type": "PRO", "fleetdeck": __version__}


@METHODS.method("idoit.constants")
def constants(ctx: Context) -> dict[str, Any]:
    """Object type, category, record status, relation type and static object constants."""
    return render.constants(ctx.lang)


@METHODS.method("idoit.login")
def login(ctx: Context) -> dict[str, Any]:
    """Start a session for the user of X-RPC-Auth-Username/-Password.

    The session id comes back in the X-RPC-Auth-Session header and in the result."""
    if ctx.credential is None:
        raise IdoitError(Code.AUTH_ERROR, "Login required: send X-RPC-Auth-Username and X-RPC-Auth-Password.")
    started = ctx.services.sessions.start(ctx.actor, ctx.credential, ctx.source)
    ctx.headers[SESSION_HEADER] = started.secret
    return {
        "result": True,
        "userid": str(ctx.actor.user_id),
        "name": ctx.actor.username,
        "mail": "",
        "username": ctx.actor.username,
        "session-id": started.secret,
        "client-id": 1,
        "client-name": ctx.tenant,
    }


@METHODS.method("idoit.logout")
def logout(ctx: Context) -> dict[str, Any]:
    """End the session of X-RPC-Auth-Session."""
    if ctx.session_info is not None:
        ctx.services.sessions.end(ctx.actor, ctx.session_info)
        ctx.headers.pop(SESSION_HEADER, None)
    return {"message": "Logout successful", "result": True}


@METHODS.method("idoit.search")
def search(ctx: Context, q: Any = None) -> list[dict[str, Any]]:
    """Objects whose title, attribute values or installed software contain ``q``, in any case.

    Unicode letters fold too; ``_`` and ``%`` are plain characters; at most 20,000 candidate rows
    of each kind are read (``CmdbService.search``)."""
    if not isinstance(q, str | int) or isinstance(q, bool) or not str(q).strip():
        raise IdoitError(Code.INVALID_PARAMS, "Mandatory parameter 'q' not found in your request.")
    hits = ctx.services.cmdb.search(ctx.actor, str(q))
    return [
        {
            "documentId": str(h.object_id),
            "key": f"{render.tr(h.type_title, ctx.lang)} > {render.tr(h.category_title, ctx.lang)}"
            f" > {render.tr(h.attribute_title, ctx.lang)}",
            "value": h.value,
            "type": "cmdb",
            "link": f"/?objID={h.object_id}&highlight={q}",
            "score": "100",
            "status": render.tr("Normal", ctx.lang),
        }
        for h in hits
    ]
