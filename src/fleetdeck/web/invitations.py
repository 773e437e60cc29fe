"""The page an invitation e-mail links to: ``/invitations/<token>``. The link's token is the
credential (only its keyed hash is stored), so the page needs no login; choosing a password
accepts the invitation (``core.people``) and sends the new end user to the login page."""

from __future__ import annotations

from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from fleetdeck.core.errors import NotFound, ValidationFailed
from fleetdeck.web.app import Call, WebUI

VIA = "web"
RULES = "6-20 characters: letters, digits and ~`!@#$%^&*()-_+={}|[];\\'\"<>,.?/"


def routes(ui: WebUI) -> list[Route]:
    def page(call: Call, status: int = 200, error: str = "") -> Response:
        return ui.render(
            call, "invitation.html", status, error=error, rules=RULES, token=call.request.path_params["token"]
        )

    def show(call: Call) -> Response:
        return page(call)

    def accept(call: Call) -> Response:
        password, again = call.field("password"), call.field("confirm")
        if password != again:
            return page(call, 400, "The password and its confirmation differ.")
        try:
            ui.services.people.accept(
                call.request.path_params["token"], password, ui.source(call.request), VIA
            )
        except NotFound:
            return page(call, 404, "This invitation is unknown or was used already.")
        except ValidationFailed as exc:
            expired = exc.detail.get("reason") == "expired"
            return page(
                call, 400, "This invitation has expired." if expired else f"The password must have {RULES}."
            )
        return RedirectResponse("/login?invited=1", 303)

    return [
        Route("/invitations/{token}", ui.endpoint(show, login=False), methods=["GET"]),
        Route("/invitations/{token}", ui.endpoint(accept, login=False), methods=["POST"]),
    ]
