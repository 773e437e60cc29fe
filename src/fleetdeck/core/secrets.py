"""Hashing, token generation and encryption at rest.

Two kinds of secret, two treatments:
- Passwords are chosen by people and may be weak: argon2id (slow on purpose).
- Tokens we generate (API tokens, enrollment tokens, agent keys) carry 128-256 random bits, so
  a slow hash buys nothing; they are stored as HMAC-SHA256 under the server key, which keeps
  verification cheap enough for ten thousand agents reconnecting after a restart, and a stolen
  database alone is useless for forging them.
- Agent keys must also be shown again by dialects that expose them (opsi ``opsiHostKey``, OCO
  ``agent_key``), so they are additionally stored encrypted (Fernet: AES-128-CBC + HMAC).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from cryptography.fernet import Fernet, InvalidToken


@dataclass(frozen=True, slots=True)
class Argon2Cost:
    """argon2id parameters. The defaults are argon2-cffi's (RFC 9106's low-memory profile:
    3 passes over 64 MiB, 4 lanes), about 0.2-0.5 s per hash on a small server: slow on purpose.
    Admins may tune them for their hardware; the test suite uses the cheapest valid ones."""

    time_cost: int = 3
    memory_kib: int = 65536
    parallelism: int = 4


class Passwords:
    """argon2id hashing of passwords with configurable cost. A stored hash made with other
    parameters still verifies (argon2 keeps them in the hash) and ``needs_rehash`` says so,
    so hashes are upgraded at the next successful login."""

    def __init__(self, cost: Argon2Cost | None = None) -> None:
        cost = cost or Argon2Cost()
        self._hasher = PasswordHasher(
            time_cost=cost.time_cost, memory_cost=cost.memory_kib, parallelism=cost.parallelism
        )

    @functools.cached_property
    def dummy_hash(self) -> str:
        """Verified when the user does not exist, so that the response time does not reveal
        which user names exist; made with the same cost as real hashes for the same reason."""
        return self._hasher.hash("fleetdeck-timing-equaliser")

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, stored_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(stored_hash)
        except InvalidHashError:
            return True


def random_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def random_hex(nbytes: int = 16) -> str:
    return secrets.token_hex(nbytes)


def random_password() -> str:
    return secrets.token_urlsafe(15)


class SecretBox:
    """Keyed hashing and symmetric encryption under the server's secret key."""

    def __init__(self, secret_key: str) -> None:
        if len(secret_key) < 32:
            raise ValueError("secret key must be at least 32 characters")
        master = secret_key.encode()
        self._mac_key = hashlib.sha256(b"fleetdeck-mac:" + master).digest()
        fernet_key = base64.urlsafe_b64encode(hashlib.sha256(b"fleetdeck-enc:" + master).digest())
        self._fernet = Fernet(fernet_key)
        self.jwt_key = hashlib.sha256(b"fleetdeck-jwt:" + master).hexdigest()

    def keyed_hash(self, token: str) -> str:
        return hmac.new(self._mac_key, token.encode(), hashlib.sha256).hexdigest()

    def matches(self, token: str, stored: str) -> bool:
        return hmac.compare_digest(self.keyed_hash(token), stored)

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken as exc:
            raise ValueError("cannot decrypt: wrong server key?") from exc
