"""The rport dialect's route table and the per-request ``Context``.

Each operation is one plain function in ``methods/`` declared with ``@route(method, path, ...)``:
what authentication it takes (none, a full login, or the half login between a password and its
second factor) and whether only admins may call it. ``routes/`` turns the table into Starlette
routes under both prefixes (``/rport/api/v1`` on the main port, ``/api/v1`` on the dedicated
listener).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from fleetdeck.api.kit.dialect import DialectDeps
from fleetdeck.core.authz import Actor
from fleetdeck.core.services import Services
from fleetdeck.core.users.sessions import SessionInfo

T = TypeVar("T")


class Auth(enum.Enum):
    NONE = "none"  # the handler authenticates itself, or nothing is needed
    FULL = "full"  # Basic (password or API token) or a full session's bearer token
    SECOND_FACTOR = "second_factor"  # only the bearer token of a login awaiting its second factor
    ANY = "any"  # either of the two above


Handler = Callable[["Context"], Response]


@dataclass(frozen=True)
class RouteDef:
    method: str
    path: str  # below the prefix, with {name} path parameters
    handler: Handler
    auth: Auth
    admin: bool
    stub: bool = False  # answers "not implemented" (501) only


ROUTES: list[RouteDef] = []


def route(
    method: str, path: str, *, auth: Auth = Auth.FULL, admin: bool = False, stub: bool = False
) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        ROUTES.append(RouteDef(method, path, fn, auth, admin, stub))
        return fn

    return register


@dataclass
class Context:
    """One request: who calls (``actor``; ``session`` when by bearer token), its parameters and
    body, and the services. Built by ``envelope.py``."""

    request: Request
    deps: DialectDeps
    prefix: str  # "/rport/api/v1" or "/api/v1": what this client calls the API root
    body: bytes = b""
    actor: Actor | None = None
    session: SessionInfo | None = None
    path_params: dict[str, Any] = field(default_factory=dict)
    form: Any = None  # a multipart body, parsed before the handler runs (POST /files)

    @property
    def services(self) -> Services:
        return self.deps.services

    @property
    def me(self) -> Actor:
        assert self.actor is not None
        return self.actor

    @property
    def source(self) -> str:
        return self.request.client.host if self.request.client else ""

    @property
    def params(self) -> list[tuple[str, str]]:
        return list(self.request.query_params.multi_items())

    def param(self, name: str) -> str | None:
        return self.request.query_params.get(name)

    def decode(self, kind: type[T]) -> T:
        from fleetdeck.api.dialects.rport.envelope import decode_body

        return decode_body(self.body, kind)


__all__ = ["ROUTES", "Auth", "Context", "RouteDef", "msgspec", "route"]
