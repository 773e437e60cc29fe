"""The runtime settings: core's settings registry (dialect switches and keys, Wake-on-LAN,
report limits), grouped by the part that declares them; one form per setting.

``settings.list`` is readable by every user; ``settings.set``/``reset`` need
``manage_settings`` (admins) and are audited by core. Secret settings come from core masked:
the page says only whether one is set, and its field is always empty (a new value replaces it).
"""

from __future__ import annotations

from itertools import groupby
from typing import Any
from urllib.parse import urlencode

from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from fleetdeck.core.authz import Perm
from fleetdeck.core.errors import ValidationFailed
from fleetdeck.core.settings.registry import Kind
from fleetdeck.core.settings.service import Setting
from fleetdeck.web.app import Call, WebUI

MAX_VALUE = 20_000

SECTIONS = {
    "oco": "OCO client API (dialect)",
    "opsi": "opsi JSON-RPC (dialect)",
    "polling": "Polling (OCO) agents",
    "wol": "Wake-on-LAN",
    "reports": "Reports",
}


def shown(s: Setting) -> str:
    """The value as the form shows it (lists one per line); a secret never."""
    if s.secret:
        return ""
    if isinstance(s.value, list):
        return "\n".join(str(v) for v in s.value)
    if isinstance(s.value, bool):
        return "true" if s.value else "false"
    return "" if s.value is None else str(s.value)


def routes(ui: WebUI) -> list[Route]:
    services = ui.services

    def page(call: Call, status: int = 200, **context: Any) -> Response:
        rows = services.settings.list(call.user.actor)
        registry = services.settings.registry
        sections = [
            (SECTIONS.get(prefix, prefix), list(items))
            for prefix, items in groupby(
                sorted(rows, key=lambda s: (s.key.split(".", 1)[0], s.key)),
                key=lambda s: s.key.split(".", 1)[0],
            )
        ]
        return ui.render(
            call,
            "settings.html",
            status,
            sections=sections,
            choices={s.key: registry.lookup(s.key).choices for s in rows},
            shown=shown,
            can_edit=call.user.can(Perm.MANAGE_SETTINGS),
            done=call.arg("done"),
            errors=context.pop("errors", {}),
            **context,
        )

    def show(call: Call) -> Response:
        return page(call)

    def set_value(call: Call) -> Response:
        key = call.request.path_params["key"]
        text = call.field("value")[:MAX_VALUE]
        definition = services.settings.registry.lookup(key)  # NotFound: the 404 page
        value: object = text
        if definition.kind is Kind.STR_LIST:
            value = [line.strip() for line in text.splitlines() if line.strip()]
        if definition.secret and not text:
            return page(call, 400, errors={key: "Enter the new value (or use Clear to remove it)."})
        try:
            services.settings.set(call.user.actor, key, value)
        except ValidationFailed as exc:
            return page(call, 400, errors={key: str(exc)}, tried={key: text if not definition.secret else ""})
        return RedirectResponse(f"/settings?{urlencode({'done': key})}#s-{key}", 303)

    def reset(call: Call) -> Response:
        key = call.request.path_params["key"]
        services.settings.reset(call.user.actor, key)
        return RedirectResponse(f"/settings?{urlencode({'done': key})}#s-{key}", 303)

    return [
        Route("/settings", ui.endpoint(show), methods=["GET"]),
        Route("/settings/{key:str}", ui.endpoint(set_value), methods=["POST"]),
        Route("/settings/{key:str}/reset", ui.endpoint(reset), methods=["POST"]),
    ]
