"""Bulk actions on the computers chosen with the list's checkboxes: wake (Wake-on-LAN), reboot
(after a confirmation page) and add to a group. "Run command on selected" goes to the command
form (``commands.py``).

Each action is one core call (``wol.wake_computers``, ``jobs.create_actions``,
``groups.add_members``), with core's permission check and audit record, as on ``/api/v1``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from fleetdeck.core.authz import Perm
from fleetdeck.core.errors import NotFound, ValidationFailed
from fleetdeck.core.jobs.entities import ActionRequest
from fleetdeck.core.query import Cond, Op, Query, SortKey
from fleetdeck.web.app import Call, WebUI

MAX_SELECTION = 1000  # computers per form, as for commands
REBOOT_EXPIRY = timedelta(minutes=5)  # a computer that comes back later is not rebooted then


def selection(call: Call) -> list[int]:
    values = call.fields("computer")
    return sorted({int(v) for v in values if v.isdigit() and 0 < len(v) < 19})[:MAX_SELECTION]


def _plural(n: int, word: str = "computer") -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def routes(ui: WebUI) -> list[Route]:
    services = ui.services

    def back(call: Call, message: str, *, error: bool = False) -> Response:
        """The outcome in plain words, with the way back to the list."""
        return ui.render(call, "bulk_done.html", 400 if error else 200, message=message, error=error)

    def wake(call: Call) -> Response:
        ids = selection(call)
        if not ids:
            return back(call, "Choose at least one computer to wake.", error=True)
        try:
            sent = services.wol.wake_computers(call.user.actor, ids)
        except ValidationFailed as exc:
            who = exc.detail.get("computer_id")
            return back(
                call, f"Nothing sent: computer {who}: {exc}" if who else f"Nothing sent: {exc}", error=True
            )
        except NotFound as exc:
            return back(call, f"Nothing sent: computer {exc.object_id} no longer exists.", error=True)
        return back(call, f"Wake-on-LAN: {_plural(sent, 'packet')} sent for {_plural(len(ids))}.")

    def reboot_page(call: Call, ids: list[int], status: int = 200, **context: Any) -> Response:
        actor = call.user.actor
        actor.require(Perm.RUN_COMMANDS)  # a viewer is told at once, not after confirming
        chosen = (
            services.computers.find(
                actor, Query((Cond("id", Op.IN, ids),), (SortKey("hostname"), SortKey("id")), limit=None)
            ).items
            if ids
            else []
        )
        return ui.render(call, "reboot.html", status, computers=chosen, **context)

    def reboot(call: Call) -> Response:
        """Without ``confirm=yes`` this shows what would be rebooted and asks; with it, one job
        per computer that its agent runs (expiring after 5 minutes)."""
        ids = selection(call)
        if call.field("confirm") != "yes":
            return reboot_page(call, ids)
        if not ids:
            return reboot_page(call, ids, 400, error="Choose at least one computer.")
        try:
            batch = services.jobs.create_actions(
                call.user.actor, ActionRequest(action="reboot"), computer_ids=ids, expires_in=REBOOT_EXPIRY
            )
        except NotFound as exc:
            return reboot_page(call, ids, 400, error=f"Computer {exc.object_id} no longer exists.")
        return RedirectResponse(f"/commands/{batch.batch_id}", 303)

    def add_to_group(call: Call) -> Response:
        ids = selection(call)
        text = call.field("group").strip()
        if not ids:
            return back(call, "Choose at least one computer to add to a group.", error=True)
        if not text.isdigit() or not 0 < len(text) < 19:
            return back(call, "Choose the group to add the computers to.", error=True)
        try:
            added = services.groups.add_members(call.user.actor, int(text), ids)
        except NotFound as exc:
            return back(call, f"{exc.object_type.capitalize()} {exc.object_id} no longer exists.", error=True)
        already = len(ids) - len(added)
        note = f" ({already} already in it)" if already else ""
        done = f"got {_plural(len(added))}{note}"
        return RedirectResponse(f"/groups/{text}?{urlencode({'done': done})}", 303)

    return [
        Route("/computers/wake", ui.endpoint(wake), methods=["POST"]),
        Route("/computers/reboot", ui.endpoint(reboot), methods=["POST"]),
        Route("/computers/add-to-group", ui.endpoint(add_to_group), methods=["POST"]),
    ]
