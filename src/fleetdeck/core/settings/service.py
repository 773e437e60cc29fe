"""The settings store: typed keys from the registry, values in the ``settings`` table.

Secret settings are encrypted at rest and never leave through ``list``/``get`` (they show as
``********``); core code reads them with ``get_secret`` or compares with ``matches_secret``.
Other services read values with ``value(key)``, served from a small in-process cache that is
dropped on every change made here and refreshed after ``CACHE_TTL_SEC`` (for changes made by
another process).
"""

from __future__ import annotations

import hmac
import json
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from fleetdeck.core.audit import AuditLog
from fleetdeck.core.authz import Actor, Perm
from fleetdeck.core.errors import FleetdeckError
from fleetdeck.core.ports import Clock
from fleetdeck.core.secrets import SecretBox
from fleetdeck.core.settings.registry import MASK, SettingDef, SettingsRegistry, coerce
from fleetdeck.storage.db import Database
from fleetdeck.storage.tables import SettingValue
from fleetdeck.storage.uow import UnitOfWork

CACHE_TTL_SEC = 2.0


@dataclass(frozen=True, slots=True)
class Setting:
    key: str
    value: Any  # MASK for a secret that is set
    default: Any  # MASK for a secret with a non-empty default
    type: str
    description: str
    secret: bool
    scope: str
    is_default: bool
    updated_at: datetime | None
    updated_by: str


class SettingsService:
    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        box: SecretBox,
        clock: Clock,
        registry: SettingsRegistry | None = None,
    ) -> None:
        self.registry = registry or SettingsRegistry()
        self._db = db
        self._audit = audit
        self._box = box
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[str, Any] | None = None
        self._loaded_at = 0.0

    # ------------------------------------------------------------ for transports

    def list(self, actor: Actor) -> list[Setting]:
        actor.require(Perm.READ)
        with UnitOfWork(self._db, readonly=True) as uow:
            rows = {r.key: r for r in uow.session.scalars(select(SettingValue))}
        return [self._view(d, rows.get(d.key)) for d in self.registry]

    def get(self, actor: Actor, key: str) -> Setting:
        actor.require(Perm.READ)
        d = self.registry.lookup(key)
        with UnitOfWork(self._db, readonly=True) as uow:
            return self._view(d, uow.session.get(SettingValue, key))

    def set(self, actor: Actor, key: str, value: object) -> Setting:
        actor.require(Perm.MANAGE_SETTINGS)
        d = self.registry.lookup(key)
        new = coerce(d, value)
        try:
            with self._audit.mutation(actor, "setting.set", "setting", key, perm=Perm.MANAGE_SETTINGS) as m:
                row = m.session.get(SettingValue, key)
                old = self._decode(d, row) if row is not None else d.default
                if row is None:
                    row = SettingValue(key=key, value={}, updated_at=self._clock())
                    m.session.add(row)
                row.value = self._encode(d, new)
                row.updated_at = self._clock()
                row.updated_by = actor.username
                m.detail = {"secret": True} if d.secret else {"old": old, "new": new}
                m.session.flush()
                return self._view(d, row)
        finally:
            self._invalidate()

    def reset(self, actor: Actor, key: str) -> Setting:
        actor.require(Perm.MANAGE_SETTINGS)
        d = self.registry.lookup(key)
        try:
            with self._audit.mutation(actor, "setting.reset", "setting", key, perm=Perm.MANAGE_SETTINGS) as m:
                row = m.session.get(SettingValue, key)
                if row is not None:
                    if not d.secret:
                        m.detail = {"old": self._decode(d, row), "new": d.default}
                    m.session.delete(row)
                return self._view(d, None)
        finally:
            self._invalidate()

    # ------------------------------------------------------------ for other core services

    def value(self, key: str) -> Any:
        """The effective value of a non-secret setting (cheap: cached)."""
        d = self.registry.lookup(key)
        if d.secret:
            raise TypeError(f"{key} is secret; use get_secret() or matches_secret()")
        return self._values()[key]

    def is_set(self, key: str) -> bool:
        """True when the effective value is not empty ("", [], false, 0)."""
        self.registry.lookup(key)
        return bool(self._values()[key])

    def get_secret(self, key: str) -> Any:
        d = self.registry.lookup(key)
        if not d.secret:
            raise TypeError(f"{key} is not a secret setting")
        return self._values()[key]

    def matches_secret(self, key: str, candidate: str) -> bool:
        """Constant-time comparison of ``candidate`` with a secret text setting."""
        stored = self.get_secret(key)
        if not isinstance(stored, str) or not isinstance(candidate, str):
            return False
        return hmac.compare_digest(stored.encode(), candidate.encode())

    # ------------------------------------------------------------ helpers

    def _values(self) -> dict[str, Any]:
        with self._lock:
            if self._cache is None or time.monotonic() - self._loaded_at > CACHE_TTL_SEC:
                with UnitOfWork(self._db, readonly=True) as uow:
                    rows = {r.key: r for r in uow.session.scalars(select(SettingValue))}
                self._cache = {
                    d.key: self._decode(d, rows[d.key]) if d.key in rows else d.default for d in self.registry
                }
                self._loaded_at = time.monotonic()
            return self._cache

    def _invalidate(self) -> None:
        with self._lock:
            self._cache = None

    def _encode(self, d: SettingDef, value: Any) -> dict[str, Any]:
        if d.secret:
            return {"enc": self._box.encrypt(json.dumps(value))}
        return {"v": value}

    def _decode(self, d: SettingDef, row: SettingValue) -> Any:
        stored = row.value or {}
        try:
            raw = json.loads(self._box.decrypt(stored["enc"])) if "enc" in stored else stored.get("v")
            return coerce(d, raw)
        except (ValueError, KeyError, TypeError, FleetdeckError):
            # A row that no longer fits its declaration (or a key that changed) counts as unset.
            return d.default

    def _view(self, d: SettingDef, row: SettingValue | None) -> Setting:
        value = self._decode(d, row) if row is not None else d.default
        return Setting(
            key=d.key,
            value=MASK if d.secret and value else value,
            default=MASK if d.secret and d.default else d.default,
            type=d.kind.value,
            description=d.description,
            secret=d.secret,
            scope=d.scope.value,
            is_default=row is None,
            updated_at=row.updated_at if row is not None else None,
            updated_by=row.updated_by if row is not None else "",
        )
