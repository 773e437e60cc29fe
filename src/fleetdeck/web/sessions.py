"""Server-side sessions of the web UI.

The cookie holds only a random session id; the session holds the core ``Credential`` of the
login (user id and credential version, never the password) and the CSRF token of the session.
Every request ``resume``s the credential, so a user who was disabled, deleted or changed their
password is logged out at their next click, whichever transport made the change.

Sessions live in this process's memory, bounded, like the opsi dialect's: a restart logs every
browser out, which is the safe direction. With several server processes a sticky load balancer
is needed until sessions move to the database (docs/ui.md).
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from fleetdeck.core.users.entities import Credential

COOKIE = "fleetdeck_session"
LOGIN_CSRF_COOKIE = "fleetdeck_login_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
IDLE_SEC = 8 * 3600
MAX_SESSIONS = 10_000


@dataclass(slots=True)
class Session:
    id: str
    credential: Credential
    csrf: str
    expires: float  # idle expiry, pushed on with every use
    ends: float  # absolute end, whatever the use (the login token lifetime)


class Sessions:
    """Bounded in-memory store; the least recently used session goes first when it is full."""

    def __init__(
        self, lifetime_sec: float, idle_sec: float = IDLE_SEC, max_sessions: int = MAX_SESSIONS
    ) -> None:
        self.lifetime = lifetime_sec
        self.idle = min(idle_sec, lifetime_sec)
        self._max = max_sessions
        self._items: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()

    def create(self, credential: Credential) -> Session:
        now = time.monotonic()
        session = Session(
            secrets.token_urlsafe(32),
            credential,
            secrets.token_urlsafe(32),
            now + self.idle,
            now + self.lifetime,
        )
        with self._lock:
            self._items[session.id] = session
            while len(self._items) > self._max:
                self._items.popitem(last=False)
        return session

    def get(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        now = time.monotonic()
        with self._lock:
            found = self._items.get(session_id)
            if found is None:
                return None
            if found.expires < now or found.ends < now:
                del self._items[session_id]
                return None
            found.expires = min(now + self.idle, found.ends)
            self._items.move_to_end(session_id)
            return found

    def replace_credential(self, session: Session, credential: Credential) -> Session:
        """After a password change: a new session id (the old one stops working) for the new
        credential version."""
        self.delete(session.id)
        return self.create(credential)

    def delete(self, session_id: str | None) -> None:
        if session_id:
            with self._lock:
                self._items.pop(session_id, None)

    def __len__(self) -> int:
        return len(self._items)


def same_token(expected: str, given: str | None) -> bool:
    """Constant-time comparison; an empty or absent token never matches."""
    return bool(expected) and bool(given) and hmac.compare_digest(expected.encode(), (given or "").encode())
