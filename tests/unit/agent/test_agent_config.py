"""State dir, URL and fingerprint handling, CLI exit codes."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from fleetdeck.agent.config import AgentState, StateStore, normalize_fingerprint, server_to_ws_url
from fleetdeck.agent.main import main


def test_state_file_is_private_and_roundtrips(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    store = StateStore(state_dir)
    assert store.load() is None
    state = AgentState(
        server="ws://127.0.0.1:1/agent/v1/ws", uid="u", key="k", computer_id=3, fingerprint=None
    )
    store.save(state)
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(state_dir).st_mode) == 0o700
    assert store.load() == state
    state.inventory_digest = "abc"
    store.save(state)  # rewrite replaces atomically and leaves no temp files behind
    assert os.listdir(state_dir) == ["state.json"]
    assert store.load() == state


@pytest.mark.parametrize(
    ("server", "url"),
    [
        ("http://fleet.example:8080", "ws://fleet.example:8080/agent/v1/ws"),
        ("https://fleet.example", "wss://fleet.example/agent/v1/ws"),
        ("https://fleet.example:8443/prefix/", "wss://fleet.example:8443/prefix/agent/v1/ws"),
        ("wss://h:1/custom", "wss://h:1/custom"),
    ],
)
def test_server_url(server: str, url: str) -> None:
    assert server_to_ws_url(server) == url


@pytest.mark.parametrize("bad", ["ftp://x", "fleet.example", "http://"])
def test_bad_server_url(bad: str) -> None:
    with pytest.raises(ValueError, match="server URL"):
        server_to_ws_url(bad)


def test_fingerprint_forms() -> None:
    hexd = "ab" * 32
    colon = ":".join(["AB"] * 32)
    assert normalize_fingerprint(f"sha256:{hexd}") == f"sha256:{hexd}"
    assert normalize_fingerprint(colon) == f"sha256:{hexd}"
    with pytest.raises(ValueError, match="SHA-256"):
        normalize_fingerprint("sha256:1234")


def test_no_credentials_no_token_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--state-dir", str(tmp_path)]) == 2
    assert "enroll first" in capsys.readouterr().err
    assert main(["--state-dir", str(tmp_path), "--enroll-token", "t"]) == 2  # token but no server


def test_bad_arguments_exit_2(tmp_path: Path) -> None:
    args = ["--state-dir", str(tmp_path), "--enroll-token", "t"]
    assert main([*args, "--server", "nope"]) == 2
    assert main([*args, "--server", "http://127.0.0.1:1", "--server-fingerprint", "xyz"]) == 2
    assert (
        main([*args, "--server", "http://127.0.0.1:1", "--reconnect-min", "5", "--reconnect-max", "1"]) == 2
    )


def test_the_enroll_attempt_is_kept_until_forgotten(tmp_path: Path) -> None:
    """Made and written before the first try, the same on every retry (even by a restarted
    agent), a new one after the credentials were saved and the attempt forgotten."""
    store = StateStore(tmp_path / "state")
    attempt = store.enroll_attempt()
    assert len(attempt) == 32 and store.attempt_path.read_text().strip() == attempt
    assert StateStore(tmp_path / "state").enroll_attempt() == attempt
    store.forget_enroll_attempt()
    assert not store.attempt_path.exists()
    assert store.enroll_attempt() != attempt
