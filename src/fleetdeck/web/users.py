"""An admin's page for one user: change the role, delete (after a confirmation page), and the
user's API tokens with Revoke; disable and enable post to the list's routes (``admin.py``).

Each change is one core call (``users.update``, ``users.delete``, ``users.revoke_token``), so
core's rules hold whatever the form says: ``manage_users`` only, never yourself deleted, at
least one enabled admin left. When core refuses (409), the reason is shown on the page next to
the button that caused it, not on a bare error page. The page leaves out the forms for the
admin's own account (their role and their account are changed by another admin).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from fleetdeck.core.authz import Perm, Role
from fleetdeck.core.errors import Conflict
from fleetdeck.web.app import Call, WebUI

ROLES = tuple(r.value for r in Role)


def routes(ui: WebUI) -> list[Route]:
    services = ui.services

    def page(call: Call, status: int = 200, template: str = "user.html", **context: Any) -> Response:
        actor = call.user.actor
        actor.require(Perm.MANAGE_USERS)  # a viewer gets "not allowed", not forms that fail later
        user_id = call.path_id("user_id")
        info = services.users.get(actor, user_id)
        return ui.render(
            call,
            template,
            status,
            u=info,
            tokens=services.users.list_tokens(actor, user_id),
            roles=ROLES,
            yourself=info.id == actor.user_id,
            done=call.arg("done")[:80],
            **context,
        )

    def show(call: Call) -> Response:
        return page(call)

    def set_role(call: Call) -> Response:
        user_id = call.path_id("user_id")
        role = call.field("role")
        if role not in ROLES:
            return page(call, 400, errors={"role": "Choose one of the roles."})
        try:
            info = services.users.update(call.user.actor, user_id, role=Role(role))
        except Conflict as exc:
            return page(call, 409, errors={"role": f"The role was not changed: {exc}."})
        return RedirectResponse(
            f"/users/{user_id}?{urlencode({'done': f'role is now {info.role.value}'})}", 303
        )

    def confirm_delete(call: Call) -> Response:
        return page(call, template="user_delete.html")

    def delete(call: Call) -> Response:
        user_id = call.path_id("user_id")
        # the name for the message, read by those who may; anyone else goes on to core's refusal,
        # which the audit log records
        allowed = call.user.can(Perm.MANAGE_USERS)
        name = services.users.get(call.user.actor, user_id).username if allowed else ""
        try:
            services.users.delete(call.user.actor, user_id)
        except Conflict as exc:
            return page(call, 409, template="user_delete.html", errors={"delete": f"Not deleted: {exc}."})
        return RedirectResponse(f"/users?{urlencode({'done': 'deleted ' + name})}", 303)

    def revoke_token(call: Call) -> Response:
        user_id = call.path_id("user_id")
        services.users.revoke_token(call.user.actor, call.path_id("token_id"))
        return RedirectResponse(f"/users/{user_id}?done=token+revoked", 303)

    return [
        Route("/users/{user_id:int}", ui.endpoint(show), methods=["GET"]),
        Route("/users/{user_id:int}/role", ui.endpoint(set_role), methods=["POST"]),
        Route("/users/{user_id:int}/delete", ui.endpoint(confirm_delete), methods=["GET"]),
        Route("/users/{user_id:int}/delete", ui.endpoint(delete), methods=["POST"]),
        Route(
            "/users/{user_id:int}/tokens/{token_id:int}/revoke", ui.endpoint(revoke_token), methods=["POST"]
        ),
    ]
