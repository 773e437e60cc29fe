"""Who calls ``/rpc``: a fleetdeck user (HTTP Basic: password or API token) or an opsi client
(host id + host key: the computer's agent key, or the opsiHostKey recorded for a computer
without an agent, e.g. one made by ``host_createOpsiClient``), and the ``opsiconfd-session`` cookie that
spares the password hash on every request.

Sessions live in this process's memory, like opsiconfd's (which keeps them in Redis). With
several server processes a client whose next request lands on another process simply
authenticates again with the Basic header it always sends.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from fleetdeck.api.dialects.opsi.settings import configured_domain
from fleetdeck.api.kit.credentials import CredentialCache
from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.errors import AuthenticationFailed
from fleetdeck.core.services import Services
from fleetdeck.core.users.entities import Credential

VIA = "opsi"
COOKIE = "opsiconfd-session"
DEFAULT_LIFETIME = 120
MAX_LIFETIME = 86_400
MAX_SESSIONS = 50_000

_FQDN = re.compile(r"^[^.]+\.[^.]+\.\S+$")
_MAC = re.compile(r"^([0-9a-f]{2}[:-]){5}[0-9a-f]{2}$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Principal:
    actor: Actor
    host_id: str | None = None  # an opsi client logged in as itself
    host_key: str | None = field(default=None, repr=False)  # its key: it may read it back
    found_by_address: bool = False  # logged in with a MAC: tell it its id (x-opsi-new-host-id)
    credential: Credential | None = None  # a user's login, checked against the user on each use

    @property
    def kind(self) -> str:
        if self.host_id is not None:
            return "client"
        return "user"


@dataclass(slots=True)
class Session:
    id: str
    principal: Principal
    expires: float
    lifetime: int


class Sessions:
    """Bounded in-memory session store; the oldest sessions go first when it is full."""

    def __init__(self, max_sessions: int = MAX_SESSIONS) -> None:
        self._items: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()
        self._max = max_sessions

    def get(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        with self._lock:
            found = self._items.get(session_id)
            if found is None:
                return None
            if found.expires < time.monotonic():
                del self._items[session_id]
                return None
            found.expires = time.monotonic() + found.lifetime
            return found

    def create(self, principal: Principal, lifetime: int) -> Session:
        session = Session(secrets.token_hex(16), principal, time.monotonic() + lifetime, lifetime)
        with self._lock:
            self._items[session.id] = session
            while len(self._items) > self._max:
                self._items.popitem(last=False)
        return session

    def delete(self, session_id: str | None) -> None:
        if session_id:
            with self._lock:
                self._items.pop(session_id, None)


def lifetime(header: str | None) -> int:
    """``X-opsi-session-lifetime``: 1..86400 seconds, anything else means the default."""
    try:
        value = int(header or "")
    except ValueError:
        return DEFAULT_LIFETIME
    return value if 1 <= value <= MAX_LIFETIME else DEFAULT_LIFETIME


def split_basic(authorization: str | None) -> tuple[str, str]:
    scheme, _, credentials = (authorization or "").partition(" ")
    if scheme.lower() != "basic" or not credentials.strip():
        raise AuthenticationFailed("Authentication error")
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise AuthenticationFailed("Authentication error") from None
    if decoded.count(":") == 6:  # a MAC address as the user name: split at the last colon
        username, _, password = decoded.rpartition(":")
    else:
        username, _, password = decoded.partition(":")
    if not password or "\x00" in decoded:
        raise AuthenticationFailed("Authentication error")
    return username.strip().lower(), password


def is_host_login(username: str) -> bool:
    return (
        not username
        or bool(_FQDN.match(username))
        or username.count(".") >= 2
        or bool(_MAC.match(username))
        or username.startswith(("{hardware_address}", "{system_uuid}"))
    )


def _host(host_id: str, computer_id: int, key: str, source: str, by_address: bool = False) -> Principal:
    """An opsi client acting as itself: a viewer tied to its computer (core's own-values rules)."""
    actor = Actor(
        user_id=None, username=host_id, role=Role.VIEWER, source=source, via=VIA, computer_id=computer_id
    )
    return Principal(actor=actor, host_id=host_id, host_key=key, found_by_address=by_address)


def authenticate(
    services: Services, credentials: CredentialCache, authorization: str | None, source: str
) -> Principal:
    """Runs in a worker thread: argon2 and the database are blocking."""
    username, password = split_basic(authorization)
    if is_host_login(username):
        domain = configured_domain(services.settings)
        mac = username.removeprefix("{hardware_address}")
        if _MAC.match(mac):
            host, host_id = services.enrollment.authenticate_host_by_mac(
                mac, password, domain, source=source, via=VIA
            )
            return _host(host_id, host.computer_id, password, source, by_address=True)
        if not username.count("."):
            # empty name or {system_uuid}...: fleetdeck's inventory has no system UUID yet
            raise AuthenticationFailed("Authentication error")
        host = services.enrollment.authenticate_host(username, password, domain, source=source, via=VIA)
        return _host(username, host.computer_id, password, source)
    actor, credential = credentials.login(services.users, username, password, source, VIA)
    return Principal(actor=actor, credential=credential)


def resume(services: Services, principal: Principal, source: str) -> Principal:
    """A session's principal as its user is now (role, disabled, password, token); a host's
    while its key is still the computer's key (a key changed through ``host_updateObject``,
    removed, or replaced by an enrolled agent's ends the session). Raises
    ``AuthenticationFailed`` when the login ended."""
    if principal.credential is None:
        actor = principal.actor
        if (
            principal.host_key is None
            or actor.computer_id is None
            or not services.enrollment.host_key_current(actor.computer_id, principal.host_key)
        ):
            raise AuthenticationFailed("Authentication error")
        return principal
    actor = services.users.resume(principal.credential, source, VIA)
    return Principal(actor=actor, credential=principal.credential)
