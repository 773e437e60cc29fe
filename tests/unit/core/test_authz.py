"""Who may do what: roles, read-only tokens and the refusal message."""

from __future__ import annotations

import pytest

from fleetdeck.core.authz import ROLE_PERMS, Actor, Perm, Role, system_actor
from fleetdeck.core.errors import PermissionDenied


def actor(role: Role, read_only: bool = False) -> Actor:
    return Actor(user_id=1, username="u", role=role, read_only=read_only)


def test_roles() -> None:
    assert ROLE_PERMS[Role.ADMIN] == frozenset(Perm)
    operator = {p for p in Perm if actor(Role.OPERATOR).can(p)}
    assert operator == {
        Perm.READ,
        Perm.MANAGE_COMPUTERS,
        Perm.RUN_COMMANDS,
        Perm.MANAGE_ENROLLMENT,
        Perm.MANAGE_PACKAGES,
        Perm.DEPLOY,
        Perm.RUN_SCRIPTS,
        Perm.REMOTE_ACCESS,
        Perm.USE_VAULT,
        Perm.MANAGE_SCHEDULES,
        Perm.READ_MONITORING,
        Perm.UPLOAD_FILES,
    }
    assert {p for p in Perm if actor(Role.VIEWER).can(p)} == {Perm.READ}


def test_read_only_tokens_keep_only_reading() -> None:
    admin_token = actor(Role.ADMIN, read_only=True)
    assert {p for p in Perm if admin_token.can(p)} == {Perm.READ, Perm.READ_AUDIT, Perm.READ_ASSIGNED}
    assert {p for p in Perm if actor(Role.OPERATOR, read_only=True).can(p)} == {Perm.READ}
    assert {p for p in Perm if actor(Role.END_USER, read_only=True).can(p)} == {Perm.READ_ASSIGNED}


def test_end_users_are_scoped_to_their_computers() -> None:
    """An end user holds only the narrowed permissions: reads and commands on the computers
    assigned to them (core adds the assignment as a condition), nothing fleet-wide."""
    end_user = Actor(user_id=7, username="e", role=Role.END_USER)
    assert {p for p in Perm if end_user.can(p)} == {Perm.READ_ASSIGNED, Perm.RUN_ASSIGNED}
    assert end_user.computer_scope(Perm.READ) == 7
    assert end_user.computer_scope(Perm.RUN_COMMANDS) == 7
    with pytest.raises(PermissionDenied):
        end_user.computer_scope(Perm.MANAGE_COMPUTERS)
    with pytest.raises(PermissionDenied):
        Actor(user_id=7, username="e", role=Role.END_USER, read_only=True).computer_scope(Perm.RUN_COMMANDS)
    assert actor(Role.VIEWER).computer_scope(Perm.READ) is None
    with pytest.raises(PermissionDenied):
        actor(Role.VIEWER).computer_scope(Perm.RUN_COMMANDS)


def test_refusals_say_why() -> None:
    with pytest.raises(PermissionDenied) as err:
        actor(Role.ADMIN, read_only=True).require(Perm.MANAGE_USERS)
    assert err.value.message == "u (read-only token) lacks permission manage_users"
    assert err.value.detail == {"perm": "manage_users"}
    with pytest.raises(PermissionDenied) as err:
        actor(Role.VIEWER, read_only=True).require(Perm.MANAGE_USERS)
    assert err.value.message == "u (viewer) lacks permission manage_users"  # the role lacks it anyway
    with pytest.raises(PermissionDenied) as err:
        actor(Role.OPERATOR).require(Perm.READ_AUDIT)
    assert err.value.message == "u (operator) lacks permission read_audit"
    actor(Role.OPERATOR).require(Perm.DEPLOY)


def test_system_actor() -> None:
    system = system_actor()
    assert (system.user_id, system.username, system.role, system.via, system.read_only) == (
        None,
        "system",
        Role.ADMIN,
        "system",
        False,
    )
    assert system_actor("housekeeping").via == "housekeeping"
    assert (system.source, system.computer_id) == ("", None)


def test_groups_grant_and_withhold() -> None:
    """A user's groups (core/users/groups.py) add permissions to the role's and take away the
    ones no group grants; a read-only token still only reads."""
    member = Actor(
        user_id=1,
        username="u",
        role=Role.OPERATOR,
        granted=frozenset({Perm.READ_AUDIT}),
        withheld=frozenset({Perm.RUN_SCRIPTS}),
    )
    assert member.can(Perm.READ_AUDIT)
    assert not member.can(Perm.RUN_SCRIPTS)
    assert member.can(Perm.RUN_COMMANDS)
    with pytest.raises(PermissionDenied, match="no group grants it"):
        member.require(Perm.RUN_SCRIPTS)
