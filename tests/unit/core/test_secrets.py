"""Keyed hashes, encryption at rest and generated secrets (core/secrets.py)."""

from __future__ import annotations

import re

import pytest

from fleetdeck.core.secrets import Argon2Cost, Passwords, SecretBox, random_hex, random_password, random_token

KEY = "k" * 32
CHEAP = Argon2Cost(time_cost=1, memory_kib=8, parallelism=1)


def test_the_server_key_must_be_long_enough() -> None:
    with pytest.raises(ValueError, match="at least 32 characters"):
        SecretBox("k" * 31)
    SecretBox(KEY)


def test_keyed_hashes_depend_on_the_token_and_the_server_key() -> None:
    box, other = SecretBox(KEY), SecretBox("x" * 32)
    digest = box.keyed_hash("token")
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert box.keyed_hash("token") == digest
    assert box.keyed_hash("token2") != digest
    assert other.keyed_hash("token") != digest  # a stolen database alone forges nothing
    assert box.matches("token", digest) and not box.matches("token2", digest)
    assert not other.matches("token", digest)
    # The three derived keys differ from each other and between servers.
    assert box.jwt_key != other.jwt_key and re.fullmatch(r"[0-9a-f]{64}", box.jwt_key)
    assert box.jwt_key != digest


def test_encryption_round_trips_only_under_the_same_key() -> None:
    box = SecretBox(KEY)
    sealed = box.encrypt("agent-key-1")
    assert "agent-key-1" not in sealed
    assert box.decrypt(sealed) == "agent-key-1"
    assert SecretBox(KEY).decrypt(sealed) == "agent-key-1"  # a restart with the same key reads it
    assert box.encrypt("agent-key-1") != sealed  # fresh nonce each time
    with pytest.raises(ValueError, match="wrong server key"):
        SecretBox("x" * 32).decrypt(sealed)
    with pytest.raises(ValueError, match="cannot decrypt"):
        box.decrypt("not a token")


def test_generated_secrets() -> None:
    assert len(random_token()) == 43 and len(random_token(24)) == 32
    assert re.fullmatch(r"[0-9a-f]{32}", random_hex()) and len(random_hex(4)) == 8
    password = random_password()
    assert len(password) == 20 and re.fullmatch(r"[A-Za-z0-9_-]+", password)
    assert len({random_password() for _ in range(20)}) == 20


def test_passwords_verify_and_say_when_to_rehash() -> None:
    passwords = Passwords(CHEAP)
    stored = passwords.hash("s3cret")
    assert stored.startswith("$argon2id$v=19$m=8,t=1,p=1$")
    assert passwords.verify(stored, "s3cret")
    assert not passwords.verify(stored, "wrong")
    assert not passwords.verify("not a hash", "s3cret")
    assert not passwords.needs_rehash(stored)
    assert Passwords(Argon2Cost(time_cost=2, memory_kib=8, parallelism=1)).needs_rehash(stored)
    assert passwords.needs_rehash("not a hash")
    # The dummy hash (for unknown users) costs the same as a real one.
    assert passwords.dummy_hash.startswith("$argon2id$v=19$m=8,t=1,p=1$")
    assert not passwords.needs_rehash(passwords.dummy_hash)
    assert passwords.verify(passwords.dummy_hash, "fleetdeck-timing-equaliser")
    assert passwords.dummy_hash is passwords.dummy_hash  # made once
