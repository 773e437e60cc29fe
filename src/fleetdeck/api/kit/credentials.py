"""A short-lived cache of verified passwords, for clients that send them on every request.

OCO clients send HTTP Basic with a password on each call, i-doit clients send
``X-RPC-Auth-Username``/``-Password`` headers, opsi clients send Basic until they use the session
cookie. Each verification is an argon2 hash (0.2-0.6 s here, on purpose), so a script's hundredth
call would cost as much as its first. After one successful verification this cache keeps the
core ``Credential`` (user id and credential version, never the password) under a keyed hash of
user name and password; the key is random per process and never stored. A hit costs what a
token costs: ``UserService.resume`` reads the user by primary key and refuses a user whose
password changed, who was disabled or deleted since, so the cache can never outlive those.
Entries expire after ``ttl`` seconds whatever happens, and the cache holds at most
``max_entries`` (least recently used first out). A wrong password is never cached: it always
goes through core's verification, throttling and audit.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict

from fleetdeck.core.authz import Actor
from fleetdeck.core.errors import AuthenticationFailed
from fleetdeck.core.users.entities import Credential
from fleetdeck.core.users.service import TOKEN_PREFIX, UserService

DEFAULT_TTL_SEC = 120.0
DEFAULT_MAX_ENTRIES = 10_000


class CredentialCache:
    def __init__(self, ttl: float = DEFAULT_TTL_SEC, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._key = secrets.token_bytes(32)
        self._items: OrderedDict[bytes, tuple[Credential, float]] = OrderedDict()
        self._lock = threading.Lock()

    def _digest(self, username: str, password: str) -> bytes:
        material = username.encode() + b"\x00" + password.encode()
        return hmac.new(self._key, material, hashlib.sha256).digest()

    def _get(self, digest: bytes) -> Credential | None:
        with self._lock:
            found = self._items.get(digest)
            if found is None:
                return None
            credential, expires = found
            if expires < time.monotonic():
                del self._items[digest]
                return None
            self._items.move_to_end(digest)
            return credential

    def _put(self, digest: bytes, credential: Credential) -> None:
        with self._lock:
            self._items[digest] = (credential, time.monotonic() + self.ttl)
            self._items.move_to_end(digest)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)

    def _drop(self, digest: bytes) -> None:
        with self._lock:
            self._items.pop(digest, None)

    def __len__(self) -> int:
        return len(self._items)

    def authenticate_basic(
        self, users: UserService, username: str, secret: str, source: str, via: str
    ) -> Actor:
        """``UserService.authenticate_basic`` with the cache in front of password checks."""
        return self.login(users, username, secret, source, via)[0]

    def login(
        self, users: UserService, username: str, secret: str, source: str, via: str
    ) -> tuple[Actor, Credential]:
        """``UserService.basic_login`` with the cache in front of password checks. API tokens
        are not cached: checking one is a keyed hash, already cheap. Runs in a worker thread
        (database, argon2)."""
        if secret.startswith(TOKEN_PREFIX):
            return users.basic_login(username, secret, source, via)
        digest = self._digest(username, secret)
        credential = self._get(digest)
        if credential is not None:
            try:
                return users.resume(credential, source, via), credential
            except AuthenticationFailed:
                self._drop(digest)  # changed since: verify the password again, as the first time
        actor, credential = users.password_login(username, secret, source, via)
        self._put(digest, credential)
        return actor, credential
