"""The agent's self-update pieces without a server: the Ed25519 verifier against
``cryptography``, the ``current`` switch, and ``boot``'s rollback of a release that keeps failing
to start. (Updates between real processes: tests/e2e/test_agent_update_e2e.py.)"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fleetdeck.agent import update
from fleetdeck.agent.ed25519 import verify
from fleetdeck.protocol import messages as m


def raw_public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def test_the_verifier_agrees_with_cryptography() -> None:
    for n in range(20):
        key = Ed25519PrivateKey.generate()
        message = os.urandom(n * 7)
        signature = key.sign(message)
        assert verify(raw_public(key), signature, message)
        assert not verify(raw_public(key), signature, message + b"x")
        assert not verify(raw_public(Ed25519PrivateKey.generate()), signature, message)
        flipped = bytearray(signature)
        flipped[n % 64] ^= 1 << (n % 8)
        assert not verify(raw_public(key), bytes(flipped), message)


def test_malformed_keys_and_signatures_are_refused_not_raised() -> None:
    key = Ed25519PrivateKey.generate()
    sig = key.sign(b"m")
    assert not verify(raw_public(key)[:31], sig, b"m")
    assert not verify(raw_public(key), sig[:63], b"m")
    assert not verify(b"\xff" * 32, sig, b"m")  # not a point
    s_too_big = sig[:32] + (2**253).to_bytes(32, "little")
    assert not verify(raw_public(key), s_too_big, b"m")


def test_the_signature_covers_version_and_hash() -> None:
    key = Ed25519PrivateKey.generate()
    sha = "ab" * 32
    offer = m.UpdateOffer(
        version="2.0",
        sha256=sha,
        size=1,
        signature=base64.b64encode(key.sign(m.release_statement("2.0", sha))).decode(),
    )
    pinned = base64.b64encode(raw_public(key)).decode()
    update._check_signature(pinned, offer)
    with pytest.raises(update.UpdateFailed, match="does not verify"):
        update._check_signature(
            pinned, m.UpdateOffer(version="2.1", sha256=sha, size=1, signature=offer.signature)
        )
    with pytest.raises(update.UpdateFailed, match="does not verify"):
        update._check_signature(
            pinned, m.UpdateOffer(version="2.0", sha256="cd" * 32, size=1, signature=offer.signature)
        )


def test_switch_replaces_the_link_atomically(tmp_path: Path) -> None:
    update.switch(tmp_path, "versions/1")
    assert os.readlink(tmp_path / "current") == "versions/1"
    update.switch(tmp_path, "versions/2")
    assert os.readlink(tmp_path / "current") == "versions/2"
    assert not (tmp_path / "current.new").exists()
    update.switch(tmp_path, "")
    assert not (tmp_path / "current").exists()


def test_the_key_is_pinned_once(tmp_path: Path) -> None:
    update.pin_key(tmp_path, "first")
    update.pin_key(tmp_path, "second")
    assert update.pinned_key(tmp_path) == "first"


def test_boot_rolls_back_a_release_that_never_confirms(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[str] = []
    monkeypatch.delenv(update.BOOTED_ENV, raising=False)
    monkeypatch.setattr(update, "_exec", lambda path, booted: started.append(path))
    for version in ("1", "2"):
        (tmp_path / "versions" / version / "fleetdeck" / "agent").mkdir(parents=True)
        (tmp_path / "versions" / version / "fleetdeck" / "agent" / "main.py").write_text("")
    update.switch(tmp_path, "versions/2")
    update.write_marker(tmp_path, update.Marker(version="2", previous="versions/1"))
    for _ in range(update.MAX_BOOT_ATTEMPTS):  # started by systemd, crashed before connecting
        update.boot(tmp_path)
    assert started == [str((tmp_path / "versions" / "2").resolve())] * update.MAX_BOOT_ATTEMPTS
    update.boot(tmp_path)  # once more: rolled back to the previous release
    assert os.readlink(tmp_path / "current") == "versions/1"
    assert started[-1] == str((tmp_path / "versions" / "1").resolve())
    marker = update.read_marker(tmp_path)
    assert marker is not None and marker.state == "rolled_back" and "2" in marker.failed
    assert "without connecting" in marker.error and not marker.reported


def test_boot_without_a_current_release_runs_the_installed_agent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(update.BOOTED_ENV, raising=False)
    monkeypatch.setattr(update, "_exec", lambda path, booted: pytest.fail("re-executed"))
    update.boot(tmp_path)
    update.write_marker(
        tmp_path, update.Marker(version="2", state="pending", attempts=update.MAX_BOOT_ATTEMPTS)
    )
    update.boot(tmp_path)  # the first release rolled back: back to no ``current`` at all
    marker = update.read_marker(tmp_path)
    assert marker is not None and marker.state == "rolled_back"


@pytest.mark.parametrize("version", ["1.2.3", "0.1.0+local", "2.0rc1"])
def test_valid_versions(version: str) -> None:
    assert update.valid_version(version)


@pytest.mark.parametrize("version", ["", "../x", "a/b", ".1", "x" * 51, "1 2"])
def test_invalid_versions(version: str) -> None:
    assert not update.valid_version(version)
