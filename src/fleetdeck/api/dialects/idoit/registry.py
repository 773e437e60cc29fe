"""The i-doit method registry and the per-request context every method receives."""

from __future__ import annotations

from dataclasses import dataclass, field

from fleetdeck.api.kit.credentials import CredentialCache
from fleetdeck.api.kit.registry import Registry
from fleetdeck.core.authz import Actor
from fleetdeck.core.services import Services
from fleetdeck.core.users.entities import Credential
from fleetdeck.core.users.sessions import SessionInfo

METHODS = Registry("idoit")


@dataclass
class Context:
    """One request: who calls (``actor``; the built-in API user without credentials), the
    language of translated titles (set per element from ``params.language``), and what the
    envelope needs back (response headers, e.g. ``X-RPC-Auth-Session`` at login)."""

    services: Services
    actor: Actor
    credentials: CredentialCache
    source: str = ""
    lang: str = "en"
    tenant: str = "fleetdeck"
    username: str = ""  # X-RPC-Auth-Username
    password: str = ""  # X-RPC-Auth-Password
    session_secret: str = ""  # X-RPC-Auth-Session the request came with (resumed)
    session_info: SessionInfo | None = None
    credential: Credential | None = None
    auth_error: Exception | None = None  # raised for every element after the API key check
    headers: dict[str, str] = field(default_factory=dict)
