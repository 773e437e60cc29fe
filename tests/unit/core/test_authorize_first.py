"""A caller who may not make a change is refused before the arguments are judged.

Found by the authorisation matrix (tests/fuzz/test_authorization_matrix.py): these methods
validated first, so a viewer sending a short password or an empty target list got the
validation message (422 over HTTP), learning the rules of an operation it may not use, instead
of 403. Each refusal is audited as ``mutation`` audits one: result ``denied``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.errors import PermissionDenied, ValidationFailed
from fleetdeck.core.jobs.entities import ActionRequest, CommandRequest
from fleetdeck.core.query import Cond, Op, Query

Call = Callable[[Runtime, Actor], Any]

# (audit action, a call with invalid arguments that an admin gets a ValidationFailed for)
INVALID: dict[str, Call] = {
    "user.create": lambda rt, a: rt.services.users.create(a, "ok-name", "short", Role.VIEWER),
    "user.unlock": lambda rt, a: rt.services.users.unlock(a),
    "report.create": lambda rt, a: rt.services.reports.create(a, "r", "DELETE FROM users"),
    "report.update": lambda rt, a: rt.services.reports.update(a, 1, query="DELETE FROM users"),
    "command.create": lambda rt, a: rt.services.jobs.create_commands(a, CommandRequest(command="true")),
    "action.reboot": lambda rt, a: rt.services.jobs.create_actions(a, ActionRequest(action="reboot")),
}


@pytest.fixture
def viewer(runtime: Runtime, system: Actor) -> Actor:
    user = runtime.services.users.create(system, "victor", "viewer-password-1", Role.VIEWER)
    return Actor(user_id=user.id, username=user.username, role=Role.VIEWER)


@pytest.mark.parametrize("action", sorted(INVALID))
def test_refused_before_validated(runtime: Runtime, admin: Actor, viewer: Actor, action: str) -> None:
    if action == "report.update":
        runtime.services.reports.create(admin, "r", "SELECT 1")
    with pytest.raises(ValidationFailed):
        INVALID[action](runtime, admin)
    with pytest.raises(PermissionDenied):
        INVALID[action](runtime, viewer)
    entries = runtime.services.audit.find(admin, Query(where=(Cond("username", Op.EQ, "victor"),))).items
    assert [(e.action, e.result) for e in entries] == [(action, "denied")]


def test_own_password_read_only_token_refused_before_the_rules(runtime: Runtime, admin: Actor) -> None:
    read_only = Actor(user_id=admin.user_id, username=admin.username, role=Role.ADMIN, read_only=True)
    with pytest.raises(ValidationFailed):
        runtime.services.users.set_password(admin, admin.user_id or 0, "short")
    with pytest.raises(PermissionDenied):
        runtime.services.users.set_password(read_only, admin.user_id or 0, "short")


def test_another_users_password_refused_before_the_rules(
    runtime: Runtime, admin: Actor, viewer: Actor
) -> None:
    with pytest.raises(PermissionDenied):
        runtime.services.users.set_password(viewer, admin.user_id or 0, "short")
