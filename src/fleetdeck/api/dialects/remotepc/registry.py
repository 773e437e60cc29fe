"""The RemotePC endpoints, declared once each (``@ENDPOINTS.post("user/invite")``), and the
per-call ``Context``. The declarations drive the routes (``routes/``) and the endpoint table
of ``docs/compat/remotepc.md``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fleetdeck.api.dialects.remotepc.schemas import Params
from fleetdeck.core.authz import Actor
from fleetdeck.core.services import Services

BASE = "/rpcnew/api/msp/"


@dataclass(frozen=True)
class Context:
    services: Services
    actor: Actor
    base_url: str  # where the request came to, for links when server.public_url is not set


Handler = Callable[[Context, Params], Any]


@dataclass(frozen=True)
class Endpoint:
    method: str  # GET | POST
    path: str  # relative to BASE
    title: str  # the English index's name
    handler: Handler
    source: str = "seed"  # seed | inferred (English index only)


@dataclass
class Endpoints:
    items: dict[str, Endpoint] = field(default_factory=dict)

    def add(self, method: str, path: str, title: str, source: str = "seed") -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            if path in self.items:
                raise ValueError(f"{path} is declared twice")
            self.items[path] = Endpoint(method, path, title, handler, source)
            return handler

        return register

    def get(self, path: str) -> Endpoint | None:
        return self.items.get(path)


ENDPOINTS = Endpoints()
