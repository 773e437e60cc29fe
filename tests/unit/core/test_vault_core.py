"""The secrets vault in core (``core/vault.py``), asserting effects: who may init, unlock and
lock it, what a wrong password does, entries encrypted under the key and bound to their row,
``required_group``, every validation with its field, and the audit rows (never a value in them).
Real database, both backends; the cheapest argon2 cost so key derivation is quick."""

from __future__ import annotations

import pytest
from cryptography.exceptions import InvalidTag
from sqlalchemy import select

from fleetdeck.core.authz import Actor, Role, system_actor
from fleetdeck.core.errors import AuthenticationFailed, Conflict, NotFound, PermissionDenied, ValidationFailed
from fleetdeck.core.query import Cond, Op, Query, SortKey
from fleetdeck.core.secrets import Argon2Cost
from fleetdeck.core.services import CoreConfig, Services, build_services
from fleetdeck.core.vault import LOCKED, NOT_INITIALISED, VaultEntryInput, VaultStatus
from fleetdeck.runtime import Runtime
from fleetdeck.settings import Settings
from fleetdeck.storage.tables import VaultSecretEntry, VaultSecretState
from fleetdeck.storage.uow import UnitOfWork
from tests import factories
from tests.conftest import SECRET
from tests.factories import ManualClock
from tests.unit.core.conftest import T0

ADMIN = system_actor("test")
COST = Argon2Cost(time_cost=1, memory_kib=8, parallelism=1)
PASSWORD = "vault-pass"


@pytest.fixture
def svc(runtime: Runtime, settings: Settings, clock: ManualClock) -> Services:
    config = CoreConfig(payload_dir=settings.data_dir / "payloads", argon2=COST)
    return build_services(runtime.db, SECRET, config, clock=clock)


@pytest.fixture
def admin_user(svc: Services) -> Actor:
    return factories.user(svc, Role.ADMIN)


def entry(key: str = "db-pass", value: str = "s3cret", **kw: str) -> VaultEntryInput:
    return VaultEntryInput(key=key, value=value, type=kw.pop("type", "secret"), **kw)


def test_only_admins_initialise_unlock_and_lock(svc: Services, admin_user: Actor) -> None:
    operator = factories.user(svc, Role.OPERATOR, "op-vault")
    viewer = factories.user(svc, Role.VIEWER)
    with pytest.raises(PermissionDenied):
        svc.vault.status(viewer)
    assert svc.vault.status(operator) == VaultStatus(False, False)
    for act in (
        lambda: svc.vault.init(operator, PASSWORD),
        lambda: svc.vault.unlock(operator, PASSWORD),
        lambda: svc.vault.lock(operator),
    ):
        with pytest.raises(PermissionDenied, match="op-vault is no admin"):
            act()
    assert svc.vault.status(admin_user) == VaultStatus(False, False)  # nothing happened


@pytest.mark.parametrize("password", ["abc", "x" * 33, "é" * 17, "", None])
def test_a_password_must_be_4_to_32_bytes(svc: Services, admin_user: Actor, password: str) -> None:
    with pytest.raises(ValidationFailed, match="4 to 32 bytes") as err:
        svc.vault.init(admin_user, password)
    assert err.value.detail["field"] == "password"
    assert svc.vault.status(admin_user) == VaultStatus(False, False)


@pytest.mark.parametrize("password", ["abcd", "x" * 32, "é" * 16])
def test_passwords_at_the_limits_are_taken(svc: Services, admin_user: Actor, password: str) -> None:
    svc.vault.init(admin_user, password)
    svc.vault.lock(admin_user)
    svc.vault.unlock(admin_user, password)
    assert svc.vault.status(admin_user) == VaultStatus(True, True)


def test_init_stores_salt_cost_and_check_value_only_and_unlocks(
    svc: Services, runtime: Runtime, admin_user: Actor, clock: ManualClock
) -> None:
    mark = factories.audit_mark(svc)
    svc.vault.init(admin_user, PASSWORD)
    assert svc.vault.status(admin_user) == VaultStatus(True, True)
    with UnitOfWork(runtime.db, readonly=True) as uow:
        state = uow.session.get(VaultSecretState, 1)
        assert state is not None
        assert (state.kdf, state.time_cost, state.memory_kib, state.parallelism) == ("argon2id", 1, 8, 1)
        assert len(state.salt) == 16
        assert len(state.check_value) == 12 + 32 + 16  # nonce, 32 random bytes, GCM tag
        assert PASSWORD.encode() not in state.check_value + state.salt
        assert state.created_by == admin_user.username
        assert state.created_at.replace(tzinfo=None) == T0.replace(tzinfo=None)
    rows = factories.audit_since(svc, mark)
    assert [(r.action, r.object_type, r.object_id, r.result, r.detail) for r in rows] == [
        ("vault.init", "vault", "vault", "ok", {"kdf": "argon2id"})
    ]
    with pytest.raises(Conflict, match="already initialized"):
        svc.vault.init(admin_user, PASSWORD)
    assert factories.audit_since(svc, mark)[-1].result == "conflict"


def test_lock_unlock_and_a_wrong_password(svc: Services, admin_user: Actor) -> None:
    with pytest.raises(Conflict, match=NOT_INITIALISED):
        svc.vault.unlock(admin_user, PASSWORD)
    with pytest.raises(Conflict, match=NOT_INITIALISED):
        svc.vault.lock(admin_user)
    svc.vault.init(admin_user, PASSWORD)
    with pytest.raises(Conflict, match="already unlocked"):
        svc.vault.unlock(admin_user, PASSWORD)
    mark = factories.audit_mark(svc)
    svc.vault.lock(admin_user)
    assert svc.vault.status(admin_user) == VaultStatus(True, False)
    with pytest.raises(Conflict, match="already locked"):
        svc.vault.lock(admin_user)
    with pytest.raises(AuthenticationFailed, match="wrong password"):
        svc.vault.unlock(admin_user, PASSWORD + "x")
    assert svc.vault.status(admin_user) == VaultStatus(True, False)
    svc.vault.unlock(admin_user, PASSWORD)
    assert svc.vault.status(admin_user) == VaultStatus(True, True)
    done = [(r.action, r.result) for r in factories.audit_since(svc, mark)]
    assert done == [
        ("vault.lock", "ok"),
        ("vault.lock", "conflict"),
        ("vault.unlock", "failed"),
        ("vault.unlock", "ok"),
    ]


def test_entries_need_an_initialised_and_unlocked_vault(svc: Services, admin_user: Actor) -> None:
    calls = (
        lambda: svc.vault.list(admin_user, Query()),
        lambda: svc.vault.get(admin_user, 1),
        lambda: svc.vault.create(admin_user, entry()),
        lambda: svc.vault.update(admin_user, 1, entry()),
        lambda: svc.vault.delete(admin_user, 1),
    )
    for call in calls:
        with pytest.raises(Conflict) as err:
            call()
        assert err.value.message == NOT_INITIALISED
    svc.vault.init(admin_user, PASSWORD)
    svc.vault.lock(admin_user)
    for call in calls:
        with pytest.raises(Conflict) as err:
            call()
        assert err.value.message == LOCKED


def test_an_entry_is_kept_encrypted_and_read_back(
    svc: Services, runtime: Runtime, admin_user: Actor, clock: ManualClock
) -> None:
    svc.vault.init(admin_user, PASSWORD)
    mark = factories.audit_mark(svc)
    eid = svc.vault.create(admin_user, entry(client_id="c-1", required_group=""))
    got = svc.vault.get(admin_user, eid)
    assert (got.id, got.client_id, got.key, got.type, got.required_group, got.value) == (
        eid,
        "c-1",
        "db-pass",
        "secret",
        "",
        "s3cret",
    )
    assert got.created_by == got.updated_by == admin_user.username
    assert (
        got.created_at.replace(tzinfo=None) == T0.replace(tzinfo=None) == got.updated_at.replace(tzinfo=None)
    )
    with UnitOfWork(runtime.db, readonly=True) as uow:
        sealed = uow.session.scalar(select(VaultSecretEntry.value).where(VaultSecretEntry.id == eid))
    assert sealed is not None and b"s3cret" not in sealed and len(sealed) == 12 + 6 + 16
    listed = svc.vault.list(admin_user, Query())
    assert [(e.id, e.key, e.value) for e in listed] == [(eid, "db-pass", None)]
    rows = factories.audit_since(svc, mark)
    assert [(r.action, r.object_type, r.object_id, r.result) for r in rows] == [
        ("vault.create", "vault", str(eid), "ok")
    ]
    assert rows[0].detail == {"client_id": "c-1", "key": "db-pass", "type": "secret", "required_group": ""}

    # locked after a restart: the same database, a new process's services
    restarted = build_services(runtime.db, SECRET, CoreConfig(argon2=COST), clock=clock)
    with pytest.raises(Conflict, match=LOCKED):
        restarted.vault.get(admin_user, eid)
    restarted.vault.unlock(admin_user, PASSWORD)
    assert restarted.vault.get(admin_user, eid).value == "s3cret"


def test_a_ciphertext_copied_onto_another_row_does_not_decrypt(
    svc: Services, runtime: Runtime, admin_user: Actor
) -> None:
    svc.vault.init(admin_user, PASSWORD)
    one = svc.vault.create(admin_user, entry("k1", "first", client_id="c"))
    for other_client, other_key in (("c", "k2"), ("d", "k1"), ("ck", "1"), ("", "k1")):
        two = svc.vault.create(admin_user, entry(other_key, "second", client_id=other_client))
        with UnitOfWork(runtime.db) as uow:
            rows = {r.id: r for r in uow.session.scalars(select(VaultSecretEntry))}
            rows[two].value = rows[one].value
        with pytest.raises(InvalidTag):
            svc.vault.get(admin_user, two)
        svc.vault.delete(admin_user, two)
    assert svc.vault.get(admin_user, one).value == "first"


def test_list_filters_and_sorts(svc: Services, admin_user: Actor, clock: ManualClock) -> None:
    svc.vault.init(admin_user, PASSWORD)
    a = svc.vault.create(admin_user, entry("b-key", "1", client_id="x"))
    b = svc.vault.create(admin_user, entry("a-key", "2", client_id="y"))
    c = svc.vault.create(admin_user, entry("a-key", "3", client_id=""))
    assert [
        e.id
        for e in svc.vault.list(admin_user, Query(sort=(SortKey.parse("key"), SortKey.parse("client_id"))))
    ] == [c, b, a]
    only = Query(where=(Cond("client_id", Op.EQ, "y"),))
    assert [e.id for e in svc.vault.list(admin_user, only)] == [b]
    by_creator = Query(where=(Cond("created_by", Op.EQ, admin_user.username),))
    assert len(svc.vault.list(admin_user, by_creator)) == 3


def test_keys_are_unique_per_client(svc: Services, admin_user: Actor) -> None:
    svc.vault.init(admin_user, PASSWORD)
    one = svc.vault.create(admin_user, entry("k", client_id="c1"))
    two = svc.vault.create(admin_user, entry("k", client_id="c2"))
    assert one != two
    mark = factories.audit_mark(svc)
    with pytest.raises(Conflict, match="entry with key 'k' already exists for client 'c1'"):
        svc.vault.create(admin_user, entry("k", client_id="c1"))
    with pytest.raises(Conflict, match="already exists for client 'c2'"):
        svc.vault.update(admin_user, one, entry("k", client_id="c2"))
    assert [(r.action, r.result) for r in factories.audit_since(svc, mark)] == [
        ("vault.create", "conflict"),
        ("vault.update", "conflict"),
    ]
    svc.vault.update(admin_user, one, entry("k", "same key, new value", client_id="c1"))
    assert svc.vault.get(admin_user, one).value == "same key, new value"
    assert len(svc.vault.list(admin_user, Query())) == 2


def test_an_update_replaces_every_field_and_re_encrypts(
    svc: Services, admin_user: Actor, clock: ManualClock
) -> None:
    svc.vault.init(admin_user, PASSWORD)
    other = factories.user(svc, Role.OPERATOR, "editor")
    eid = svc.vault.create(admin_user, entry("old", "old value", client_id="c1", type="text"))
    clock.now = T0.replace(hour=10)
    mark = factories.audit_mark(svc)
    svc.vault.update(other, eid, entry("new", "new value", client_id="c2", type="markdown"))
    got = svc.vault.get(admin_user, eid)
    assert (got.client_id, got.key, got.type, got.value) == ("c2", "new", "markdown", "new value")
    assert (got.created_by, got.updated_by) == (admin_user.username, "editor")
    assert got.created_at.replace(tzinfo=None) == T0.replace(tzinfo=None)
    assert got.updated_at.replace(tzinfo=None) == T0.replace(hour=10, tzinfo=None)
    rows = factories.audit_since(svc, mark)
    assert [(r.action, r.object_id, r.result, r.username) for r in rows] == [
        ("vault.update", str(eid), "ok", "editor")
    ]
    assert rows[0].detail == {"client_id": "c2", "key": "new", "type": "markdown", "required_group": ""}
    assert "new value" not in str(rows[0].detail)
    with pytest.raises(NotFound):
        svc.vault.update(admin_user, eid + 100, entry())


def test_delete_removes_the_entry_and_audits_what_it_was(svc: Services, admin_user: Actor) -> None:
    svc.vault.init(admin_user, PASSWORD)
    keep = svc.vault.create(admin_user, entry("keep", client_id="c"))
    gone = svc.vault.create(admin_user, entry("gone", client_id="c"))
    mark = factories.audit_mark(svc)
    svc.vault.delete(admin_user, gone)
    with pytest.raises(NotFound):
        svc.vault.get(admin_user, gone)
    with pytest.raises(NotFound):
        svc.vault.delete(admin_user, gone)
    assert [e.id for e in svc.vault.list(admin_user, Query())] == [keep]
    rows = factories.audit_since(svc, mark)
    assert [(r.action, r.object_id, r.result) for r in rows] == [
        ("vault.delete", str(gone), "ok"),
        ("vault.delete", str(gone), "not_found"),
    ]
    assert rows[0].detail == {"client_id": "c", "key": "gone"}


def test_a_viewer_may_not_use_the_vault(svc: Services, admin_user: Actor) -> None:
    svc.vault.init(admin_user, PASSWORD)
    eid = svc.vault.create(admin_user, entry())
    viewer = factories.user(svc, Role.VIEWER)
    for act in (
        lambda: svc.vault.list(viewer, Query()),
        lambda: svc.vault.get(viewer, eid),
        lambda: svc.vault.create(viewer, entry("v")),
        lambda: svc.vault.update(viewer, eid, entry("v")),
        lambda: svc.vault.delete(viewer, eid),
    ):
        with pytest.raises(PermissionDenied):
            act()
    assert svc.vault.get(admin_user, eid).key == "db-pass"


def test_a_required_group_admits_its_members_and_admins_only(svc: Services, admin_user: Actor) -> None:
    svc.vault.init(admin_user, PASSWORD)
    svc.user_groups.put(ADMIN, "dbas", {})
    made = svc.users.create(ADMIN, "dba", "dba-password-1", Role.OPERATOR, groups=["dbas"])
    dba = Actor(user_id=made.id, username="dba", role=Role.OPERATOR)
    outsider = factories.user(svc, Role.OPERATOR)
    nobody = Actor(user_id=None, username="token", role=Role.OPERATOR)
    eid = svc.vault.create(dba, entry(required_group="dbas"))
    assert svc.vault.get(dba, eid).required_group == "dbas"
    assert svc.vault.get(admin_user, eid).value == "s3cret"
    open_id = svc.vault.create(outsider, entry("open"))
    for who in (outsider, nobody):
        for act in (
            lambda w=who: svc.vault.get(w, eid),
            lambda w=who: svc.vault.update(w, eid, entry()),
            lambda w=who: svc.vault.delete(w, eid),
            lambda w=who: svc.vault.create(w, entry("mine", required_group="dbas")),
            lambda w=who: svc.vault.update(w, open_id, entry("open", required_group="dbas")),
        ):
            with pytest.raises(PermissionDenied, match="only members of group 'dbas'") as err:
                act()
            assert err.value.detail == {"group": "dbas"}
    assert svc.vault.get(outsider, open_id).required_group == ""
    assert len(svc.vault.list(outsider, Query())) == 2  # lists show ids and keys, never values
    svc.vault.update(dba, eid, entry("renamed", "v2", required_group="dbas"))
    assert svc.vault.get(dba, eid).value == "v2"
    svc.vault.delete(admin_user, eid)
    assert [e.id for e in svc.vault.list(admin_user, Query())] == [open_id]


@pytest.mark.parametrize(
    ("bad", "field", "text"),
    [
        (entry(key=""), "key", "key is required"),
        (entry(key="  "), "key", "key is required"),
        (entry(value=""), "value", "value is required"),
        (entry(type="password"), "type", "type must be one of text, secret, markdown, string"),
        (entry(key="k" * 256), "key", "key is longer than 255 characters"),
        (entry(client_id="c" * 201), "client_id", "client_id is longer than 200 characters"),
        (entry(required_group="g" * 151), "required_group", "required_group is longer than 150 characters"),
        (entry(value="v" * (64 * 1024 + 1)), "value", "value is longer than 65536 characters"),
        (entry(key="a\x00b"), "key", "key must not contain NUL characters"),
        (entry(client_id="a\x00"), "client_id", "client_id must not contain NUL characters"),
        (entry(required_group="\x00"), "required_group", "required_group must not contain NUL"),
        (entry(value="\x00"), "value", "value must not contain NUL characters"),
    ],
)
def test_entries_are_checked(
    svc: Services, admin_user: Actor, bad: VaultEntryInput, field: str, text: str
) -> None:
    svc.vault.init(admin_user, PASSWORD)
    eid = svc.vault.create(admin_user, entry("kept"))
    for act in (lambda: svc.vault.create(admin_user, bad), lambda: svc.vault.update(admin_user, eid, bad)):
        with pytest.raises(ValidationFailed) as err:
            act()
        assert err.value.message.startswith(text)
        assert err.value.detail["field"] == field
    assert [e.key for e in svc.vault.list(admin_user, Query())] == ["kept"]


@pytest.mark.parametrize("typ", ["text", "secret", "markdown", "string"])
def test_limits_and_types_that_are_taken(svc: Services, admin_user: Actor, typ: str) -> None:
    svc.vault.init(admin_user, PASSWORD)
    big = entry("k" * 255, "v" * (64 * 1024), type=typ, client_id="c" * 200, required_group="g" * 150)
    eid = svc.vault.create(admin_user, big)
    got = svc.vault.get(admin_user, eid)
    assert (got.type, len(got.key), len(got.value or "")) == (typ, 255, 64 * 1024)
