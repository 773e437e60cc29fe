"""Migration 0002 carries a frozen copy of the report secret policy; they must agree, and
every secret column must exist in the models (a rename would silently expose it)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from fleetdeck.core.reports import policy
from fleetdeck.storage.tables import Base

VERSIONS = Path(__file__).parents[3] / "src/fleetdeck/storage/migrations/versions"
MIGRATION = VERSIONS / "0002_report_sandbox.py"
TIERS_MIGRATION = VERSIONS / "0011_report_role.py"


def _migration(path: Path = MIGRATION) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_migration_copy_agrees_with_core() -> None:
    m = _migration()
    assert m.SECRET_COLUMNS == policy.SECRET_COLUMNS
    assert m.SECRET_TABLES == policy.SECRET_TABLES
    assert m.SECRET_TABLE_MARKERS == policy.SECRET_TABLE_MARKERS
    assert m.ROLE == policy.ROLE


def test_tier_migration_copy_agrees_with_core() -> None:
    m = _migration(TIERS_MIGRATION)
    assert m.SECRET_COLUMNS == policy.SECRET_COLUMNS
    assert m.SECRET_TABLES == policy.SECRET_TABLES
    assert m.SECRET_TABLE_MARKERS == policy.SECRET_TABLE_MARKERS
    assert m.ROLE == policy.ROLE
    assert tuple((t.name, t.tables) for t in policy.TIERS) == m.TIERS
    for tier in policy.TIERS:
        assert m.role_name(tier.name) == tier.role
        assert m.function_name(tier.name) == tier.function


def test_tiers_are_nested() -> None:
    """Each tier needs every permission of the one below, so the highest tier a caller holds
    all permissions of also covers the tiers below it."""
    for lower, upper in zip(policy.TIERS, policy.TIERS[1:], strict=False):
        assert lower.perms <= upper.perms
    tables = [table for tier in policy.TIERS for table in tier.tables]
    assert len(tables) == len(set(tables))
    assert set(tables) <= set(Base.metadata.tables)


def test_secret_columns_exist() -> None:
    tables = Base.metadata.tables
    for table, column in policy.SECRET_COLUMNS:
        assert column in tables[table].c, f"{table}.{column} is listed as secret but does not exist"
    for table in policy.SECRET_TABLES:
        assert table in tables


def test_column_names_that_look_secret_are_listed() -> None:
    """A new column named like a secret must be classified on purpose."""
    suspicious = {
        (t.name, c.name)
        for t in Base.metadata.sorted_tables
        for c in t.columns
        if any(w in c.name for w in ("password", "secret", "_key", "token_hash"))
    }
    unlisted = {p for p in suspicious if not policy.is_secret_column(*p)}
    assert unlisted <= ALLOWED_LOOKALIKES, f"classify these columns in core/reports/policy.py: {unlisted}"


# Columns whose names look secret but hold none (reviewed).
ALLOWED_LOOKALIKES: set[tuple[str, str]] = {
    ("users", "password_changed_at"),
    ("users", "password_expired"),  # a flag: the next login must choose a new password
    ("license_pools", "product_keys"),
    ("reported_audit", "computer_key"),  # the computer's id or 0, part of the row's unique key
    ("schedules", "group_keys"),  # the keys (names) of the rule groups a schedule targets
}
