"""Core's user groups (``core.users.groups``) read and deleted directly: the list (stored groups,
groups only named by memberships, Administrators always), one group, a deletion and what its
members lose, and memberships with their effective permissions and merged restrictions."""

from __future__ import annotations

import pytest

from fleetdeck.core.authz import Actor, Perm, Role, system_actor
from fleetdeck.core.errors import FleetdeckError, NotFound, PermissionDenied, ValidationFailed
from fleetdeck.core.services import Services
from fleetdeck.core.users.groups import ADMIN_GROUP, GROUP_PERMS, GroupInfo
from tests import factories
from tests.factories import ManualClock

ADMIN = system_actor("test")
NONE = dict.fromkeys(GROUP_PERMS, False)


def test_groups_are_listed_and_read_stored_or_only_named(svc: Services, admin: Actor) -> None:
    svc.user_groups.put(ADMIN, "ops", {Perm.REMOTE_ACCESS: True}, {"tunnels": {"ports": [22]}})
    svc.users.create(ADMIN, "ann", factories.PASSWORD, Role.OPERATOR, groups=["named-only"])
    listed = svc.user_groups.list(admin)
    assert [(g.name, g.stored) for g in listed] == [
        (ADMIN_GROUP, False),
        ("named-only", False),
        ("ops", True),
    ]
    ops = svc.user_groups.get(admin, "ops")
    assert (ops.permissions, ops.restrictions) == (
        {**NONE, Perm.REMOTE_ACCESS: True},
        {"tunnels": {"ports": [22]}},
    )
    named = svc.user_groups.get(admin, "named-only")
    assert (named.name, named.permissions, named.restrictions, named.stored) == (
        "named-only",
        NONE,
        {},
        False,
    )
    assert svc.user_groups.get(admin, ADMIN_GROUP).stored is False
    with pytest.raises(NotFound) as err:
        svc.user_groups.get(admin, "nobody")
    assert err.value.message == "user group nobody not found"
    operator = factories.user(svc, Role.OPERATOR)
    for call in (lambda: svc.user_groups.list(operator), lambda: svc.user_groups.get(operator, "ops")):
        with pytest.raises(PermissionDenied):
            call()


def test_a_deleted_group_takes_what_it_granted_from_its_members(svc: Services, admin: Actor) -> None:
    svc.user_groups.put(ADMIN, "ops", {Perm.REMOTE_ACCESS: True, Perm.RUN_SCRIPTS: True})
    svc.user_groups.put(ADMIN, "audit", {Perm.READ_AUDIT: True})
    ann = svc.users.create(ADMIN, "ann", factories.PASSWORD, Role.OPERATOR, groups=["ops", "audit"]).id
    bob = svc.users.create(ADMIN, "bob", factories.PASSWORD, Role.OPERATOR, groups=["ops"]).id
    before = svc.user_groups.memberships(admin, [ann])[ann]
    assert before.granted == {Perm.REMOTE_ACCESS, Perm.RUN_SCRIPTS, Perm.READ_AUDIT}
    mark = factories.audit_mark(svc)
    svc.user_groups.delete(admin, "ops")
    got = svc.user_groups.memberships(admin, [ann, bob])
    assert (got[ann].groups, got[ann].granted) == (("audit",), frozenset({Perm.READ_AUDIT}))
    assert got[ann].withheld == frozenset(GROUP_PERMS) - {Perm.READ_AUDIT}
    assert (got[bob].groups, got[bob].granted) == ((), frozenset())
    assert got[bob].withheld == frozenset(GROUP_PERMS)
    with pytest.raises(NotFound) as err:
        svc.user_groups.get(admin, "ops")
    assert err.value.message == "user group ops not found"
    # a group only named by memberships is deleted as well; an unknown one is not found
    svc.users.create(ADMIN, "cy", factories.PASSWORD, Role.OPERATOR, groups=["loose"])
    svc.user_groups.delete(admin, "loose")
    svc.user_groups.put(ADMIN, "empty")
    svc.user_groups.delete(admin, "empty")
    with pytest.raises(NotFound):
        svc.user_groups.delete(admin, "nothing")
    with pytest.raises(ValidationFailed) as adm:
        svc.user_groups.delete(admin, ADMIN_GROUP)
    assert (adm.value.message, adm.value.field) == ("the Administrators group cannot be deleted", "name")
    rows = [
        (r.action, r.object_type, r.object_id, r.result, r.detail) for r in factories.audit_since(svc, mark)
    ]
    assert rows[0] == ("user_group.delete", "user_group", "ops", "ok", {"members_removed": 2})
    assert rows[2][4] == {"members_removed": 1}
    assert [r[0] for r in rows] == [
        "user_group.delete",
        "user.create",
        "user_group.delete",
        "user_group.create",
        "user_group.delete",
        "user_group.delete",
        "user_group.delete",
    ]
    assert rows[-1][3:] == ("invalid", {"error": "the Administrators group cannot be deleted"})
    assert rows[-2][3:] == ("not_found", {"error": "user group nothing not found"})
    assert [g.name for g in svc.user_groups.list(admin)] == [ADMIN_GROUP, "audit"]
    with pytest.raises(PermissionDenied):
        svc.user_groups.delete(factories.user(svc, Role.OPERATOR), "audit")


def test_memberships_report_groups_permissions_and_merged_restrictions(svc: Services, admin: Actor) -> None:
    svc.user_groups.put(
        ADMIN, "a", {Perm.RUN_COMMANDS: True}, {"tunnels": {"ports": [22]}, "commands": ["ls"]}
    )
    svc.user_groups.put(ADMIN, "b", {Perm.USE_VAULT: True}, {"tunnels": {"hosts": ["h"]}, "commands": ["rm"]})
    ann = svc.users.create(ADMIN, "ann", factories.PASSWORD, Role.OPERATOR, groups=["b", "a"]).id
    boss = svc.users.create(ADMIN, "boss", factories.PASSWORD, Role.ADMIN).id
    plain = svc.users.create(ADMIN, "plain", factories.PASSWORD, Role.VIEWER).id
    got = svc.user_groups.memberships(admin, [ann, boss, plain])
    assert set(got) == {ann, boss, plain}
    assert got[ann].groups == ("b", "a")
    assert got[ann].granted == {Perm.RUN_COMMANDS, Perm.USE_VAULT}
    assert got[ann].restrictions == {"tunnels": {"hosts": ["h"], "ports": [22]}, "commands": ["rm"]}
    assert (got[boss].groups, got[boss].granted, got[boss].withheld, got[boss].restrictions) == (
        (ADMIN_GROUP,),
        frozenset(),
        frozenset(),
        {},
    )
    assert (got[plain].groups, got[plain].granted, got[plain].withheld) == ((), frozenset(), frozenset())
    everyone = svc.user_groups.memberships(admin)
    assert {ann, boss, plain, admin.user_id} <= set(everyone)
    assert everyone[ann] == got[ann]
    me = Actor(user_id=ann, username="ann", role=Role.OPERATOR)
    assert svc.user_groups.memberships(me, [ann]) == {ann: got[ann]}
    for ids in (None, [ann, plain], [plain]):
        with pytest.raises(PermissionDenied):
            svc.user_groups.memberships(me, ids)
    assert svc.user_groups.memberships(admin, []) == {}


def test_a_put_answers_with_the_group_as_stored(svc: Services, admin: Actor) -> None:
    """``put`` returns the group as it now is: its name trimmed, every permission (the ones
    given set, the others kept), its restrictions, stored; the same as a later ``get``."""
    made = svc.user_groups.put(admin, " ops ", {Perm.REMOTE_ACCESS: True}, {"tunnels": {"ports": [22]}})
    assert made == GroupInfo("ops", {**NONE, Perm.REMOTE_ACCESS: True}, {"tunnels": {"ports": [22]}}, True)
    changed = svc.user_groups.put(admin, "ops", {Perm.RUN_SCRIPTS: True})
    assert changed == GroupInfo(
        "ops",
        {**NONE, Perm.REMOTE_ACCESS: True, Perm.RUN_SCRIPTS: True},
        {"tunnels": {"ports": [22]}},
        True,
    )
    assert svc.user_groups.get(admin, "ops") == changed


def test_a_group_name_is_1_to_150_characters_without_a_nul(svc: Services, admin: Actor) -> None:
    """Both for a group and for a user's memberships: an empty name, one too long and one with a
    NUL character are refused the same way (each alone)."""
    for bad in ("", "  ", "n" * 151, "a\x00b"):
        with pytest.raises(ValidationFailed) as err:
            svc.user_groups.put(admin, bad, {Perm.RUN_SCRIPTS: True})
        assert (err.value.message, err.value.field) == ("a group name must be 1-150 characters", "name"), bad
        with pytest.raises(ValidationFailed) as err:
            svc.users.create(ADMIN, "ann", factories.PASSWORD, Role.OPERATOR, groups=[bad])
        assert (err.value.message, err.value.field) == ("a group name must be 1-150 characters", "name"), bad
    assert svc.user_groups.put(admin, " " + "n" * 150 + " ").name == "n" * 150
    assert [g.name for g in svc.user_groups.list(admin)] == [ADMIN_GROUP, "n" * 150]


# ------------------------------------------------------------------ one's own API tokens


def test_an_api_token_is_renamed_and_moved_by_its_owner_only(svc: Services, clock: ManualClock) -> None:
    from dataclasses import replace
    from datetime import timedelta

    from fleetdeck.core.errors import Conflict

    ann_id = svc.users.create(ADMIN, "ann", factories.PASSWORD, Role.OPERATOR).id
    ann = Actor(user_id=ann_id, username="ann", role=Role.OPERATOR)
    tok = svc.users.create_token(ann, "ci", "read+write", None).info
    svc.users.create_token(ann, "other", "read+write", None)
    later = clock.now + timedelta(days=3)
    mark = factories.audit_mark(svc)
    got = svc.users.update_token(ann, tok.id, name="deploy", expires_at=later)
    assert (got.id, got.name, got.expires_at, got.scope) == (tok.id, "deploy", later, "read+write")
    assert svc.users.update_token(ann, tok.id, name="deploy").name == "deploy"  # its own name: no clash
    assert svc.users.update_token(ann, tok.id).expires_at == later
    refusals: list[tuple[dict[str, object], type[FleetdeckError], str, str]] = [
        ({"name": " "}, ValidationFailed, "name must be 1-250 characters", "name"),
        ({"name": "n" * 251}, ValidationFailed, "name must be 1-250 characters", "name"),
        ({"name": "other"}, Conflict, "you already have a token named 'other'", "name"),
        ({"expires_at": clock.now}, ValidationFailed, "expires_at must be in the future", "expires_at"),
    ]
    for kwargs, kind, message, field in refusals:
        with pytest.raises(kind) as err:
            svc.users.update_token(ann, tok.id, **kwargs)  # type: ignore[arg-type]
        assert (str(err.value), err.value.detail.get("field")) == (message, field)
    assert svc.users.update_token(ann, tok.id, name="n" * 250).name == "n" * 250
    bob = factories.user(svc, Role.ADMIN)
    with pytest.raises(NotFound) as other:
        svc.users.update_token(bob, tok.id, name="mine")
    assert other.value.message == f"api_token {tok.id} not found"
    with pytest.raises(NotFound):
        svc.users.update_token(ann, 999_999, name="x")
    with pytest.raises(PermissionDenied) as ro:
        svc.users.update_token(replace(ann, read_only=True), tok.id, name="x")
    assert ro.value.message == "a read-only token cannot change tokens"
    rows = [
        (r.action, r.object_type, r.object_id, r.result, r.detail)
        for r in factories.audit_since(svc, mark)
        if r.action != "user.create"
    ]
    assert rows[0] == (
        "token.update",
        "api_token",
        str(tok.id),
        "ok",
        {"name": "deploy", "expires_at": later.isoformat()},
    )
    assert rows[3][3:] == ("conflict", {"error": "you already have a token named 'other'"})
    # a bad name is refused before the change is opened: not audited
    assert [r[3] for r in rows] == [
        "ok",
        "ok",
        "ok",
        "conflict",
        "invalid",
        "ok",
        "not_found",
        "not_found",
        "denied",
    ]
    [listed] = [t for t in svc.users.list_tokens(ann, ann_id) if t.id == tok.id]
    assert (listed.name, listed.expires_at) == ("n" * 250, later)
    plain = svc.users.create_token(ann, "plain", "read+write", None).info
    assert svc.users.update_token(ann, plain.id, name="p").expires_at is None
