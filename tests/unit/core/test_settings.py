"""The settings registry (types, parsing) and store (secrets, audit, cache)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from fleetdeck.app import DIALECTS, Runtime
from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.errors import NotFound, PermissionDenied, ValidationFailed
from fleetdeck.core.query import Cond, Op, Query
from fleetdeck.core.services import build_services
from fleetdeck.core.settings import CORE_SETTINGS, MASK, SettingsRegistry, coerce
from fleetdeck.core.settings.service import CACHE_TTL_SEC
from fleetdeck.storage.tables import AuditEntry, SettingValue
from fleetdeck.storage.uow import UnitOfWork
from tests.conftest import SECRET

# core's settings and the dialects', as the composition root registers them
REGISTRY = SettingsRegistry((*CORE_SETTINGS, *(d for dialect in DIALECTS for d in dialect.settings)))


@pytest.mark.parametrize(
    ("key", "given", "expected"),
    [
        ("oco.api_enabled", True, True),
        ("oco.api_enabled", "yes", True),
        ("oco.api_enabled", "FALSE", False),
        ("oco.api_enabled", "1", True),
        ("oco.api_enabled", 0, False),
        ("wol.port", "9", 9),
        ("wol.port", 7, 7),
        ("reports.timeout_sec", "2.5", 2.5),
        ("reports.timeout_sec", 3, 3.0),
        ("wol.broadcast_addresses", "10.0.0.255, 10.1.255.255", ["10.0.0.255", "10.1.255.255"]),
        ("wol.broadcast_addresses", '["127.0.0.1"]', ["127.0.0.1"]),
        ("wol.broadcast_addresses", ["a"], ["a"]),
        ("wol.broadcast_addresses", "", []),
        ("opsi.default_domain", "example.org", "example.org"),
        ("oco.value_types", "native", "native"),
        ("oco.value_types", "strings", "strings"),
        # a list whose items have a format: '<user name>' or '<computer group id>|<user name>'
        ("polling.password_rotation_users", "root, 12|Administrator", ["root", "12|Administrator"]),
        ("polling.password_rotation_users", ["John Doe"], ["John Doe"]),
    ],
)
def test_coerce(key: str, given: object, expected: object) -> None:
    assert coerce(REGISTRY.lookup(key), given) == expected


@pytest.mark.parametrize(
    ("key", "given"),
    [
        ("oco.api_enabled", "maybe"),
        ("oco.api_enabled", 2),
        ("wol.port", True),
        ("wol.port", "nine"),
        ("wol.port", 70000),
        ("wol.port", 1.5),
        ("reports.timeout_sec", "nan"),
        ("reports.max_rows", 0),
        ("wol.broadcast_addresses", [1, 2]),
        ("wol.broadcast_addresses", "[not json"),
        ("opsi.default_domain", 5),
        ("opsi.default_domain", "a\x00b"),
        ("oco.value_types", "Native"),  # a setting with choices takes exactly one of them
        ("oco.value_types", ""),
        ("oco.value_types", 1),
        ("polling.password_rotation_users", "root, x|Administrator"),
        ("polling.password_rotation_users", ["12|"]),
        ("polling.password_rotation_users", ["|root"]),
    ],
)
def test_coerce_rejects(key: str, given: object) -> None:
    with pytest.raises(ValidationFailed):
        coerce(REGISTRY.lookup(key), given)


def test_defaults_and_set(runtime: Runtime, admin: Actor) -> None:
    store = runtime.services.settings
    assert store.value("oco.api_enabled") is False
    assert store.value("wol.port") == 9
    assert store.value("reports.max_rows") == 10_000
    assert store.value("wol.broadcast_addresses") == []
    store.set(admin, "oco.api_enabled", "true")
    assert store.value("oco.api_enabled") is True  # cache dropped on set
    view = store.get(admin, "oco.api_enabled")
    assert (view.value, view.is_default, view.updated_by, view.type) == (True, False, "admin", "bool")
    store.reset(admin, "oco.api_enabled")
    assert store.value("oco.api_enabled") is False
    assert store.get(admin, "oco.api_enabled").is_default


def test_unknown_key_and_wrong_type(runtime: Runtime, admin: Actor) -> None:
    store = runtime.services.settings
    with pytest.raises(NotFound):
        store.set(admin, "no.such.key", 1)
    with pytest.raises(NotFound):
        store.get(admin, "no.such.key")
    with pytest.raises(ValidationFailed):
        store.set(admin, "wol.port", "x")


def test_permissions(runtime: Runtime, system: Actor) -> None:
    runtime.services.users.create(system, "olga", "olga-password-1", Role.OPERATOR)
    operator = Actor(user_id=None, username="olga", role=Role.OPERATOR)
    assert runtime.services.settings.list(operator)
    with pytest.raises(PermissionDenied):
        runtime.services.settings.set(operator, "wol.port", 7)
    with pytest.raises(PermissionDenied):
        runtime.services.settings.reset(operator, "wol.port")


def test_secrets_encrypted_masked_and_not_audited(runtime: Runtime, admin: Actor) -> None:
    store = runtime.services.settings
    secret = "s3cret-api-key-value"
    assert not store.is_set("oco.api_key")
    view = store.set(admin, "oco.api_key", secret)
    assert view.value == MASK
    assert view.secret
    assert store.get(admin, "oco.api_key").value == MASK
    assert {s.key: s.value for s in store.list(admin)}["oco.api_key"] == MASK
    assert store.is_set("oco.api_key")
    assert store.get_secret("oco.api_key") == secret
    assert store.matches_secret("oco.api_key", secret)
    assert not store.matches_secret("oco.api_key", secret + "x")
    with pytest.raises(TypeError):
        store.value("oco.api_key")
    with UnitOfWork(runtime.db, readonly=True) as uow:
        row = uow.session.scalars(select(SettingValue).where(SettingValue.key == "oco.api_key")).one()
        assert secret not in json.dumps(row.value)
        assert "enc" in row.value
        audit = json.dumps([e.detail for e in uow.session.scalars(select(AuditEntry))])
    assert secret not in audit
    records = runtime.services.audit.find(admin, Query()).items
    assert any(r.action == "setting.set" and r.object_id == "oco.api_key" for r in records)
    store.reset(admin, "oco.api_key")
    assert not store.is_set("oco.api_key")
    assert store.get(admin, "oco.api_key").value == ""


def test_non_secret_change_is_audited_with_values(runtime: Runtime, admin: Actor) -> None:
    runtime.services.settings.set(admin, "wol.port", 7)
    record = next(r for r in runtime.services.audit.find(admin, Query()).items if r.action == "setting.set")
    assert record.detail == {"old": 9, "new": 7}


def test_reset_is_audited_with_the_old_value_and_leaves_a_default_view(
    runtime: Runtime, admin: Actor
) -> None:
    store = runtime.services.settings
    store.set(admin, "wol.port", 7)
    view = store.reset(admin, "wol.port")
    assert (view.value, view.is_default, view.updated_at, view.updated_by) == (9, True, None, "")
    store.reset(admin, "wol.port")  # nothing stored: still fine
    resets = runtime.services.audit.find(admin, Query(where=(Cond("action", Op.EQ, "setting.reset"),))).items
    assert [r.detail for r in resets] == [{}, {"old": 7, "new": 9}]
    store.set(admin, "oco.api_key", "secret-value-1")
    store.reset(admin, "oco.api_key")
    last = runtime.services.audit.find(admin, Query()).items[0]
    assert (last.action, last.detail) == ("setting.reset", {})  # no secret in the audit log


def test_the_view_says_who_changed_what_and_how(runtime: Runtime, admin: Actor) -> None:
    store = runtime.services.settings
    view = store.set(admin, "reports.max_rows", "500")
    assert (view.key, view.value, view.default, view.type, view.secret, view.is_default) == (
        "reports.max_rows",
        500,
        10_000,
        "int",
        False,
        False,
    )
    assert view.updated_by == "admin" and view.updated_at is not None and view.description
    assert view.scope == "global"
    listed = {s.key: s for s in store.list(admin)}
    assert listed["reports.max_rows"].value == 500 and listed["wol.port"].is_default
    secret = listed["oco.api_key"]
    assert (secret.value, secret.default, secret.secret) == ("", "", True)  # empty secrets are not masked


def test_a_stored_value_that_no_longer_fits_counts_as_unset(runtime: Runtime, admin: Actor) -> None:
    store = runtime.services.settings
    with UnitOfWork(runtime.db) as uow:
        uow.session.add(SettingValue(key="wol.port", value={"v": "not a port"}, updated_at=datetime.now(UTC)))
        uow.session.add(
            SettingValue(key="oco.api_key", value={"enc": "garbage"}, updated_at=datetime.now(UTC))
        )
        uow.session.add(SettingValue(key="reports.max_rows", value={}, updated_at=datetime.now(UTC)))
    assert store.value("wol.port") == 9
    assert store.get(admin, "wol.port").value == 9
    assert store.get_secret("oco.api_key") == ""
    assert store.value("reports.max_rows") == 10_000


def test_secret_and_plain_readers_are_not_mixed_up(runtime: Runtime, admin: Actor) -> None:
    store = runtime.services.settings
    with pytest.raises(TypeError, match="not a secret"):
        store.get_secret("wol.port")
    with pytest.raises(TypeError, match="is secret"):
        store.value("oco.api_key")
    store.set(admin, "oco.api_key", "k1")
    assert not store.matches_secret("oco.api_key", 1)  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        store.is_set("no.such.key")
    assert store.is_set("wol.port")
    store.set(admin, "wol.broadcast_addresses", [])
    assert not store.is_set("wol.broadcast_addresses")


def test_another_process_s_change_is_seen_after_the_cache_expires(runtime: Runtime, admin: Actor) -> None:
    """Two servers share the database: each caches values for CACHE_TTL_SEC."""
    ours = runtime.services.settings
    theirs = build_services(runtime.db, SECRET).settings
    assert ours.value("wol.port") == 9
    theirs.set(admin, "wol.port", 7)
    assert theirs.value("wol.port") == 7  # their own change drops their cache
    assert ours.value("wol.port") == 9  # ours is still cached
    time.sleep(CACHE_TTL_SEC + 0.1)
    assert ours.value("wol.port") == 7
