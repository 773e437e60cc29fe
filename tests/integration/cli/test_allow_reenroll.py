"""``fleetdeck computer allow-reenroll`` (another process than the server) gives and takes back
the permission a re-installed machine needs to keep its computer (docs/operations.md)."""

from __future__ import annotations

import subprocess

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from fleetdeck.core.query import Cond, Op, Query
from fleetdeck.settings import Settings
from tests.integration.cli.run import fleetdeck


def cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return fleetdeck(settings, "computer", "allow-reenroll", *args)


def test_the_cli_allows_and_revokes_a_reenroll(settings: Settings, runtime: Runtime, admin: Actor) -> None:
    token = runtime.services.enrollment.create_token(admin, expires_in=None).token
    first = runtime.services.enrollment.enroll(
        token, hostname="pc1", machine_id="m1", agent_version="1", source="127.0.0.1"
    )
    out = cli(settings, str(first.computer_id), "--within", "2h")
    assert out.returncode == 0, out.stderr
    assert "may replace its agent until" in out.stdout
    missing = cli(settings, "999999")
    assert missing.returncode != 0 and "not found" in (missing.stderr + missing.stdout)
    # Allowed: the next agent from this machine is the same computer.
    again = runtime.services.enrollment.enroll(
        token, hostname="pc1", machine_id="m1", agent_version="2", source="127.0.0.1"
    )
    assert again.computer_id == first.computer_id and again.replaced_enrollment is not None
    # Taken back: the next one is a computer of its own.
    cli(settings, str(first.computer_id))
    revoked = cli(settings, str(first.computer_id), "--revoke")
    assert revoked.returncode == 0, revoked.stderr
    third = runtime.services.enrollment.enroll(
        token, hostname="pc1", machine_id="m1", agent_version="3", source="127.0.0.1"
    )
    assert third.computer_id != first.computer_id and third.clone_of == first.computer_id
    actions = [
        (r.action, r.username, r.result)
        for r in runtime.services.audit.find(
            admin,
            Query(where=(Cond("action", Op.IN, ["computer.allow_reenroll", "computer.disallow_reenroll"]),)),
        ).items
    ]
    assert actions[0][0] == "computer.disallow_reenroll" and actions[0][2] == "ok"
    assert ("computer.allow_reenroll", actions[0][1], "not_found") in actions
