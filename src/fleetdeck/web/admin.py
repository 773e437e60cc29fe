"""The admin pages: the audit log, enrollment tokens, users, and the caller's own API tokens.

Each change is one core call (``enrollment.create_token``/``revoke_token``, ``users.create``/
``update``, ``users.create_token``/``revoke_token``): core checks the permission and writes the
audit record, so a forged form from a viewer is refused there even though the page never showed
it the button. Secrets (enrollment and API tokens) are shown once, on the page the creating POST
answers with, and never stored by the UI.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from fleetdeck.core.agentdist import install_line
from fleetdeck.core.authz import Role
from fleetdeck.core.errors import Conflict, ValidationFailed
from fleetdeck.core.query import Cond, Expr, Op, Query, SortKey
from fleetdeck.web.app import Call, WebUI

AUDIT_PAGE = 50
EXPIRIES = {
    "1h": timedelta(hours=1),
    "1d": timedelta(days=1),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
TOKEN_EXPIRIES = {**EXPIRIES, "365d": timedelta(days=365)}
NEVER = "never"


def _like(text: str) -> str:
    return text if "*" in text else f"*{text}*"


def _when(text: str) -> datetime | None:
    """A ``datetime-local`` field (no zone: read as UTC, the zone every page shows)."""
    value = datetime.fromisoformat(text)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class AuditArgs:
    """The audit page's query string; a bad time is reported next to its field."""

    user: str = ""
    action: str = ""
    object: str = ""
    since: str = ""
    until: str = ""
    page: int = 1

    @classmethod
    def parse(cls, call: Call) -> AuditArgs:
        return cls(
            user=call.arg("user").strip()[:150],
            action=call.arg("action").strip()[:150],
            object=call.arg("object").strip()[:150],
            since=call.arg("since").strip()[:40],
            until=call.arg("until").strip()[:40],
            page=call.page_number(),
        )

    def query(self, errors: dict[str, str]) -> Query:
        where: list[Expr] = []
        if self.user:
            where.append(Cond("username", Op.LIKE, _like(self.user)))
        if self.action:
            where.append(Cond("action", Op.LIKE, _like(self.action)))
        if self.object:
            # "computer 12", "computer" or "12": the type, the id, or both
            kind, _, ident = self.object.partition(" ")
            if ident:
                where += [Cond("object_type", Op.EQ, kind), Cond("object_id", Op.EQ, ident.strip())]
            elif kind.isdigit():
                where.append(Cond("object_id", Op.EQ, kind))
            else:
                where.append(Cond("object_type", Op.LIKE, _like(kind)))
        for name, op in (("since", Op.GE), ("until", Op.LE)):
            text = getattr(self, name)
            if not text:
                continue
            try:
                when = _when(text)
            except ValueError:
                errors[name] = f"“{text}” is not a date and time (e.g. 2026-12-02T14:30)."
                continue
            where.append(Cond("at", op, when))
        return Query(tuple(where), (SortKey("id", True),), AUDIT_PAGE, (self.page - 1) * AUDIT_PAGE)

    def url(self, **changes: Any) -> str:
        values: dict[str, Any] = {"user": self.user, "action": self.action, "object": self.object}
        values |= {"since": self.since, "until": self.until, "page": self.page, **changes}
        kept = {k: v for k, v in values.items() if v not in ("", None, 1)}
        return "/audit" + (f"?{urlencode(kept)}" if kept else "")


def routes(ui: WebUI) -> list[Route]:
    services = ui.services

    # ------------------------------------------------------------------ audit log

    def audit(call: Call) -> Response:
        args = AuditArgs.parse(call)
        errors: dict[str, str] = {}
        query = args.query(errors)
        page = services.audit.find(call.user.actor, query)
        pages = max(1, -(-page.total // AUDIT_PAGE))
        return ui.render(
            call,
            "audit.html",
            400 if errors else 200,
            args=args,
            rows=page.items,
            total=page.total,
            pages=pages,
            errors=errors,
        )

    # ------------------------------------------------------------------ enrollment tokens

    def enroll_tokens(call: Call, status: int = 200, **context: Any) -> Response:
        tokens = services.enrollment.list_tokens(call.user.actor)
        context.setdefault("form", {"note": "", "expires": "1d", "uses": ""})
        server = (ui.public_url or str(call.request.base_url)).rstrip("/")
        created = context.get("created")
        if created is not None:
            context["install"] = install_line(server, created.token, ui.pubkey_pin())
        return ui.render(
            call,
            "enroll_tokens.html",
            status,
            tokens=sorted(tokens, key=lambda t: t.id, reverse=True),
            expiries=[*EXPIRIES, NEVER],
            now=datetime.now(UTC),
            server=server,
            **context,
        )

    def show_enroll_tokens(call: Call) -> Response:
        return enroll_tokens(call)

    def create_enroll_token(call: Call) -> Response:
        form = {k: call.field(k).strip() for k in ("note", "expires", "uses")}
        errors: dict[str, str] = {}
        if form["expires"] not in EXPIRIES and form["expires"] != NEVER:
            errors["expires"] = "Choose how long the token is valid."
        uses: int | None = None
        if form["uses"]:
            if not form["uses"].isdigit() or not 1 <= int(form["uses"][:9]) <= 1_000_000:
                errors["uses"] = "Uses is a number from 1 to 1000000, or empty for any number."
            else:
                uses = int(form["uses"])
        if len(form["note"]) > 250:
            errors["note"] = "The note is at most 250 characters."
        if not errors:
            try:
                new = services.enrollment.create_token(
                    call.user.actor,
                    expires_in=EXPIRIES.get(form["expires"]),
                    max_uses=uses,
                    note=form["note"],
                )
                return enroll_tokens(call, 201, created=new)
            except ValidationFailed as exc:
                errors[{"expires": "expires", "uses": "uses"}.get(exc.field or "", "note")] = str(exc)
        return enroll_tokens(call, 400, form=form, errors=errors)

    def revoke_enroll_token(call: Call) -> Response:
        services.enrollment.revoke_token(call.user.actor, call.path_id("token_id"))
        return RedirectResponse("/enroll-tokens?revoked=1", 303)

    # ------------------------------------------------------------------ users

    def users(call: Call, status: int = 200, **context: Any) -> Response:
        rows = services.users.list_users(call.user.actor)
        context.setdefault("form", {"username": "", "role": Role.VIEWER.value, "full_name": "", "email": ""})
        return ui.render(call, "users.html", status, users=rows, roles=[r.value for r in Role], **context)

    def show_users(call: Call) -> Response:
        return users(call, done=call.arg("done"))

    def create_user(call: Call) -> Response:
        form = {k: call.field(k).strip() for k in ("username", "role", "full_name", "email")}
        password, again = call.field("password"), call.field("confirm")
        errors: dict[str, str] = {}
        if not form["username"]:
            errors["username"] = "Enter a user name."
        if form["role"] not in {r.value for r in Role}:
            errors["role"] = "Choose a role."
        if password != again:
            errors["password"] = "The password and its confirmation differ."
        if not errors:
            try:
                services.users.create(
                    call.user.actor,
                    form["username"],
                    password,
                    Role(form["role"]),
                    full_name=form["full_name"],
                    email=form["email"],
                )
                return RedirectResponse(f"/users?{urlencode({'done': 'created ' + form['username']})}", 303)
            except ValidationFailed as exc:
                field = (
                    exc.field if exc.field in ("username", "password", "email", "full_name") else "username"
                )
                errors[field] = str(exc)
            except Conflict as exc:
                errors["username"] = str(exc)
        return users(call, 400, form=form, errors=errors)

    def set_disabled(disabled: bool) -> Any:
        def handler(call: Call) -> Response:
            user_id = call.path_id("user_id")
            info = services.users.update(call.user.actor, user_id, disabled=disabled)
            word = "disabled" if disabled else "enabled"
            return RedirectResponse(f"/users?{urlencode({'done': f'{word} {info.username}'})}", 303)

        return handler

    # ------------------------------------------------------------------ own API tokens

    def tokens(call: Call, status: int = 200, **context: Any) -> Response:
        rows = services.users.list_tokens(call.user.actor)
        context.setdefault("form", {"name": "", "scope": "read", "expires": "30d"})
        return ui.render(
            call,
            "tokens.html",
            status,
            tokens=rows,
            expiries=[*TOKEN_EXPIRIES, NEVER],
            scopes=("read", "read+write"),
            server=str(call.request.base_url).rstrip("/"),
            revoked=call.arg("revoked") == "1",
            **context,
        )

    def show_tokens(call: Call) -> Response:
        return tokens(call)

    def create_token(call: Call) -> Response:
        form = {k: call.field(k).strip() for k in ("name", "scope", "expires")}
        errors: dict[str, str] = {}
        if not form["name"]:
            errors["name"] = "Give the token a name (what uses it)."
        if form["expires"] not in TOKEN_EXPIRIES and form["expires"] != NEVER:
            errors["expires"] = "Choose how long the token is valid."
        if not errors:
            lifetime = TOKEN_EXPIRIES.get(form["expires"])
            expires_at = datetime.now(UTC) + lifetime if lifetime else None
            try:
                new = services.users.create_token(call.user.actor, form["name"], form["scope"], expires_at)
                return tokens(call, 201, created=new)
            except ValidationFailed as exc:
                errors[exc.field if exc.field in ("name", "scope") else "expires"] = str(exc)
        return tokens(call, 400, form=form, errors=errors)

    def revoke_token(call: Call) -> Response:
        services.users.revoke_token(call.user.actor, call.path_id("token_id"))
        return RedirectResponse("/account/tokens?revoked=1", 303)

    return [
        Route("/audit", ui.endpoint(audit), methods=["GET"]),
        Route("/enroll-tokens", ui.endpoint(show_enroll_tokens), methods=["GET"]),
        Route("/enroll-tokens", ui.endpoint(create_enroll_token), methods=["POST"]),
        Route("/enroll-tokens/{token_id:int}/revoke", ui.endpoint(revoke_enroll_token), methods=["POST"]),
        Route("/users", ui.endpoint(show_users), methods=["GET"]),
        Route("/users", ui.endpoint(create_user), methods=["POST"]),
        Route("/users/{user_id:int}/disable", ui.endpoint(set_disabled(True)), methods=["POST"]),
        Route("/users/{user_id:int}/enable", ui.endpoint(set_disabled(False)), methods=["POST"]),
        Route("/account/tokens", ui.endpoint(show_tokens), methods=["GET"]),
        Route("/account/tokens", ui.endpoint(create_token), methods=["POST"]),
        Route("/account/tokens/{token_id:int}/revoke", ui.endpoint(revoke_token), methods=["POST"]),
    ]
