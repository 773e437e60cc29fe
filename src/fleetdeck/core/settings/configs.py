"""Configuration entries with per-computer values: free-form keys that admins define, each with
allowed and default values, which a computer may override (what opsi calls Config and
ConfigState). The typed server settings (``registry.py``) are a separate, fixed set.

Reading needs ``READ``; changing entries needs ``MANAGE_SETTINGS``; a computer may set its own
values (an agent-authenticated actor with ``computer_id``), as opsi clients do.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select
from sqlalchemy.orm import Session

from fleetdeck.core.audit import AuditLog
from fleetdeck.core.authz import Actor, Perm
from fleetdeck.core.errors import NotFound, ValidationFailed
from fleetdeck.core.query import Query, apply_query, to_sql
from fleetdeck.storage.db import Database
from fleetdeck.storage.locks import Serial, serialize
from fleetdeck.storage.tables import ConfigEntry, ConfigOverride
from fleetdeck.storage.uow import UnitOfWork

KEY_RE = re.compile(r"^\S{1,255}$")
KINDS = ("str", "bool")
ENTRY_FIELDS = {
    "id": ConfigEntry.id,
    "key": ConfigEntry.key,
    "kind": ConfigEntry.kind,
    "description": ConfigEntry.description,
    "editable": ConfigEntry.editable,
    "multi_value": ConfigEntry.multi_value,
}
VALUE_FIELDS = {"key": ConfigEntry.key, "computer_id": ConfigOverride.computer_id}


@dataclass(frozen=True, slots=True)
class Config:
    key: str
    kind: str = "str"
    description: str = ""
    possible_values: list[Any] = field(default_factory=list)
    default_values: list[Any] = field(default_factory=list)
    editable: bool = True
    multi_value: bool = False


@dataclass(frozen=True, slots=True)
class ConfigValue:
    key: str
    computer_id: int
    values: list[Any]


def _entity(row: ConfigEntry) -> Config:
    return Config(
        key=row.key,
        kind=row.kind,
        description=row.description,
        possible_values=list(row.possible_values),
        default_values=list(row.default_values),
        editable=row.editable,
        multi_value=row.multi_value,
    )


def check_config(config: Config) -> None:
    if not KEY_RE.match(config.key):
        raise ValidationFailed(f"invalid config key {config.key!r}", field="key")
    if config.kind not in KINDS:
        raise ValidationFailed(f"config kind must be one of {', '.join(KINDS)}", field="kind")
    for name in ("possible_values", "default_values"):
        values = getattr(config, name)
        if not isinstance(values, list) or len(values) > 10_000:
            raise ValidationFailed(f"{name} must be a list", field=name)
        if config.kind == "bool" and any(not isinstance(v, bool) for v in values):
            raise ValidationFailed(f"{name} of a bool config must be true/false", field=name)


def store_config(s: Session, config: Config) -> Config:
    """Create or replace an entry (checked by ``check_config``) in the caller's transaction."""
    row = s.scalar(select(ConfigEntry).where(ConfigEntry.key == config.key))
    if row is None:
        row = ConfigEntry(key=config.key)
        s.add(row)
    row.kind = config.kind
    row.description = config.description
    row.possible_values = list(config.possible_values)
    row.default_values = list(config.default_values)
    row.editable = config.editable
    row.multi_value = config.multi_value
    return _entity(row)


class ConfigService:
    def __init__(self, db: Database, audit: AuditLog) -> None:
        self._db = db
        self._audit = audit

    def entries(self, actor: Actor, query: Query | None = None) -> list[Config]:
        """Every entry, or those ``query`` keeps (``ENTRY_FIELDS``, in SQL); by key unless the
        query sorts otherwise. Its limit applies: internal callers pass ``limit=None``."""
        actor.require(Perm.READ)
        stmt = select(ConfigEntry)
        if query is None:
            stmt = stmt.order_by(ConfigEntry.key)
        else:
            stmt, _ = apply_query(stmt, None, query, ENTRY_FIELDS, default_sort="key")
        with UnitOfWork(self._db, readonly=True) as uow:
            return [_entity(r) for r in uow.session.scalars(stmt)]

    def put(self, actor: Actor, config: Config) -> Config:
        """Create or replace an entry."""
        check_config(config)
        with self._audit.mutation(actor, "config.put", "config", config.key, perm=Perm.MANAGE_SETTINGS) as m:
            serialize(m.session, Serial.CONFIG_ENTRIES)
            m.detail = {"kind": config.kind, "default_values": list(config.default_values)}
            return store_config(m.session, config)

    def merge(
        self, actor: Actor, key: str, change: Callable[[Config | None], Config | None]
    ) -> Config | None:
        """Read the entry ``key`` (None when there is none) and store what ``change`` makes of
        it (None: store nothing), in one transaction serialised with other puts and merges: a
        transport that read the entry, merged the given fields into it and put the result lost
        a change made in between. ``change`` is the transport's merge rule; its result is
        checked as ``put`` checks it and must keep the key. Audited ``config.put``."""
        with self._audit.mutation(actor, "config.put", "config", key, perm=Perm.MANAGE_SETTINGS) as m:
            s = m.session
            serialize(s, Serial.CONFIG_ENTRIES)
            row = s.scalar(select(ConfigEntry).where(ConfigEntry.key == key))
            config = change(_entity(row) if row is not None else None)
            if config is None:
                m.detail = {"missing": True}
                return None
            if config.key != key:
                raise ValidationFailed("a merge cannot change the config key", field="key")
            check_config(config)
            m.detail = {
                "kind": config.kind,
                "default_values": list(config.default_values),
                "merged": row is not None,
            }
            return store_config(s, config)

    def delete(self, actor: Actor, keys: Iterable[str]) -> int:
        wanted = sorted(set(keys))
        with self._audit.mutation(
            actor, "config.delete", "config", ",".join(wanted)[:200], perm=Perm.MANAGE_SETTINGS
        ) as m:
            result = cast(
                CursorResult[Any], m.session.execute(delete(ConfigEntry).where(ConfigEntry.key.in_(wanted)))
            )
            done = result.rowcount or 0
            m.detail = {"keys": wanted, "deleted": done}
            return int(done)

    def values(
        self, actor: Actor, computer_ids: Sequence[int] | None = None, query: Query | None = None
    ) -> list[ConfigValue]:
        """Computers' own values, of ``computer_ids`` or all, those ``query`` keeps
        (``VALUE_FIELDS``, in SQL; its sort and limit are not used), by key."""
        actor.require(Perm.READ)
        stmt = select(ConfigEntry.key, ConfigOverride.computer_id, ConfigOverride.values).join(
            ConfigEntry, ConfigEntry.id == ConfigOverride.config_id
        )
        if computer_ids is not None:
            stmt = stmt.where(ConfigOverride.computer_id.in_(list(computer_ids)))
        for expr in query.where if query is not None else ():
            stmt = stmt.where(to_sql(expr, VALUE_FIELDS))
        with UnitOfWork(self._db, readonly=True) as uow:
            return [
                ConfigValue(k, c, list(v)) for k, c, v in uow.session.execute(stmt.order_by(ConfigEntry.key))
            ]

    def set_value(
        self, actor: Actor, key: str, computer_id: int, values: list[Any], *, builtin: Config | None = None
    ) -> None:
        """A computer's own values for an entry (``[]`` is a value too: "none selected").
        ``builtin``: the entry to store first when none is stored under ``key`` (a dialect's
        built-in default config), in this same
        transaction; audited with the value."""
        own = actor.computer_id is not None and actor.computer_id == computer_id
        perm = None if own else Perm.MANAGE_SETTINGS
        if not isinstance(values, list):
            raise ValidationFailed("values must be a list", field="values")
        with self._audit.mutation(actor, "config.set_value", "computer", computer_id, perm=perm) as m:
            entry = m.session.scalar(select(ConfigEntry).where(ConfigEntry.key == key))
            if entry is None and builtin is not None and builtin.key == key:
                check_config(builtin)
                serialize(m.session, Serial.CONFIG_ENTRIES)
                store_config(m.session, builtin)
                m.session.flush()
                entry = m.session.scalar(select(ConfigEntry).where(ConfigEntry.key == key))
                m.detail["stored_builtin"] = True
            if entry is None:
                raise NotFound("config", key)
            if entry.kind == "bool" and any(not isinstance(v, bool) for v in values):
                raise ValidationFailed(f"{key} takes true/false values", field="values")
            row = m.session.scalar(
                select(ConfigOverride).where(
                    ConfigOverride.config_id == entry.id, ConfigOverride.computer_id == computer_id
                )
            )
            if row is None:
                m.session.add(
                    ConfigOverride(config_id=entry.id, computer_id=computer_id, values=list(values))
                )
            else:
                row.values = list(values)
            m.detail.update({"key": key, "values": list(values)})

    def clear_value(self, actor: Actor, key: str, computer_id: int) -> bool:
        with self._audit.mutation(
            actor, "config.clear_value", "computer", computer_id, perm=Perm.MANAGE_SETTINGS
        ) as m:
            entry_id = m.session.scalar(select(ConfigEntry.id).where(ConfigEntry.key == key))
            if entry_id is None:
                return False
            stmt = delete(ConfigOverride).where(
                ConfigOverride.config_id == entry_id, ConfigOverride.computer_id == computer_id
            )
            done = cast(CursorResult[Any], m.session.execute(stmt)).rowcount
            m.detail = {"key": key}
            return bool(done)
