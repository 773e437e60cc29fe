"""Software license management: contracts, licenses (retail, OEM, volume, concurrent), pools
that offer licenses for products, and assignments of a pool's license to a computer.

``acquire`` is the usage rule: a computer that already holds a license of the pool keeps it;
otherwise the first license of the pool that is not expired, not bound to another computer and
below its ``max_installations`` (0 = unlimited) is assigned; none left is ``LicenseExhausted``.
License keys are secrets: stored encrypted, shown only to callers who may manage licenses (or
the computer using the license). Objects are named by their string keys.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from fleetdeck.core.audit import AuditLog
from fleetdeck.core.authz import Actor, Perm
from fleetdeck.core.errors import Conflict, NotFound, ValidationFailed
from fleetdeck.core.ports import Clock
from fleetdeck.core.query import Query, to_sql
from fleetdeck.core.secrets import SecretBox
from fleetdeck.storage.db import Database
from fleetdeck.storage.tables import (
    LicenseAssignment,
    LicenseContract,
    LicensePool,
    LicensePoolMember,
    LicensePoolSoftware,
    SoftwareLicense,
)
from fleetdeck.storage.uow import UnitOfWork

KEY_RE = re.compile(r"^[a-z0-9][a-z0-9\-_. :]{0,254}$")
KINDS = ("retail", "oem", "volume", "concurrent")


class LicenseExhausted(Conflict):
    """The pool has no license left for this computer."""


@dataclass(frozen=True, slots=True)
class Contract:
    key: str
    description: str = ""
    notes: str = ""
    partner: str = ""
    concluded_at: datetime | None = None
    notify_at: datetime | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Pool:
    key: str
    description: str = ""
    product_keys: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class License:
    key: str
    contract_key: str
    kind: str = "retail"
    max_installations: int = 1
    bound_computer_id: int | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PoolMember:
    license_key: str
    pool_key: str
    license_value: str | None  # the license key text; None when the caller may not see it


@dataclass(frozen=True, slots=True)
class PoolSoftware:
    """Installed software (named as the inventory names it) that counts against a pool."""

    pool_key: str
    name: str
    version: str = ""
    sub_version: str = ""
    language: str = ""
    architecture: str = ""


@dataclass(frozen=True, slots=True)
class Assignment:
    license_key: str
    pool_key: str
    computer_id: int
    license_value: str | None
    notes: str = ""


def check_key(key: str, what: str) -> str:
    key = key.strip().lower()
    if not KEY_RE.match(key):
        raise ValidationFailed(f"invalid {what} id {key!r}", field=what)
    return key


def _software_values(item: PoolSoftware) -> dict[str, str]:
    values = {
        "name": item.name.strip(),
        "version": item.version.strip(),
        "sub_version": item.sub_version.strip(),
        "language": item.language.strip(),
        "architecture": item.architecture.strip(),
    }
    if not values["name"]:
        raise ValidationFailed("software name is required", field="name")
    limits = {"name": 255, "version": 255, "sub_version": 255, "language": 64, "architecture": 32}
    for k, v in values.items():
        if len(v) > limits[k] or "\x00" in v:
            raise ValidationFailed(f"invalid {k}", field=k)
    return values


def _one(s: Session, table: Any, key: str, what: str) -> Any:
    row = s.scalar(select(table).where(table.key == key))
    if row is None:
        raise NotFound(what, key)
    return row


# Fields of the reads below that a ``core.query.Query`` may filter on (in SQL); the reads keep
# their own order, a query's sort and limit are not used.
CONTRACT_FIELDS = {
    "key": LicenseContract.key,
    "description": LicenseContract.description,
    "notes": LicenseContract.notes,
    "partner": LicenseContract.partner,
    "concluded_at": LicenseContract.concluded_at,
    "notify_at": LicenseContract.notify_at,
    "expires_at": LicenseContract.expires_at,
}
POOL_FIELDS = {"key": LicensePool.key, "description": LicensePool.description}
LICENSE_FIELDS = {
    "key": SoftwareLicense.key,
    "contract_key": LicenseContract.key,
    "kind": SoftwareLicense.kind,
    "max_installations": SoftwareLicense.max_installations,
    "expires_at": SoftwareLicense.expires_at,
}
MEMBER_FIELDS = {"license_key": SoftwareLicense.key, "pool_key": LicensePool.key}
POOL_SOFTWARE_FIELDS = {
    "pool_key": LicensePool.key,
    "name": LicensePoolSoftware.name,
    "version": LicensePoolSoftware.version,
    "sub_version": LicensePoolSoftware.sub_version,
    "language": LicensePoolSoftware.language,
    "architecture": LicensePoolSoftware.architecture,
}
ASSIGNMENT_FIELDS = {
    "license_key": SoftwareLicense.key,
    "pool_key": LicensePool.key,
    "computer_id": LicenseAssignment.computer_id,
    "notes": LicenseAssignment.notes,
}


def _where(stmt: Any, query: Query | None, fields: Mapping[str, Any]) -> Any:
    for expr in query.where if query is not None else ():
        stmt = stmt.where(to_sql(expr, fields))
    return stmt


class LicenseService:
    def __init__(self, db: Database, audit: AuditLog, box: SecretBox, clock: Clock) -> None:
        self._db = db
        self._audit = audit
        self._box = box
        self._clock = clock

    def _value(self, actor: Actor, enc: str, computer_id: int | None = None) -> str | None:
        if not enc:
            return ""
        mine = computer_id is not None and actor.computer_id == computer_id
        return self._box.decrypt(enc) if actor.can(Perm.MANAGE_PACKAGES) or mine else None

    # ------------------------------------------------------------ reading

    def contracts(self, actor: Actor, query: Query | None = None) -> list[Contract]:
        actor.require(Perm.READ)
        stmt = _where(select(LicenseContract).order_by(LicenseContract.key), query, CONTRACT_FIELDS)
        with UnitOfWork(self._db, readonly=True) as uow:
            return [
                Contract(r.key, r.description, r.notes, r.partner, r.concluded_at, r.notify_at, r.expires_at)
                for r in uow.session.scalars(stmt)
            ]

    def pools(self, actor: Actor, query: Query | None = None) -> list[Pool]:
        actor.require(Perm.READ)
        stmt = _where(select(LicensePool).order_by(LicensePool.key), query, POOL_FIELDS)
        with UnitOfWork(self._db, readonly=True) as uow:
            return [
                Pool(r.key, r.description, [str(p) for p in r.product_keys])
                for r in uow.session.scalars(stmt)
            ]

    def licenses(self, actor: Actor, query: Query | None = None) -> list[License]:
        actor.require(Perm.READ)
        stmt = (
            select(SoftwareLicense, LicenseContract.key)
            .join(LicenseContract, LicenseContract.id == SoftwareLicense.contract_id)
            .order_by(SoftwareLicense.key)
        )
        with UnitOfWork(self._db, readonly=True) as uow:
            rows = uow.session.execute(_where(stmt, query, LICENSE_FIELDS))
            return [
                License(r.key, ck, r.kind, r.max_installations, r.bound_computer_id, r.expires_at)
                for r, ck in rows
            ]

    def pool_members(self, actor: Actor, query: Query | None = None) -> list[PoolMember]:
        """Filtered in SQL before any license key is decrypted (``MEMBER_FIELDS``)."""
        actor.require(Perm.READ)
        stmt = (
            select(SoftwareLicense.key, LicensePool.key, LicensePoolMember.license_key_enc)
            .join(SoftwareLicense, SoftwareLicense.id == LicensePoolMember.license_id)
            .join(LicensePool, LicensePool.id == LicensePoolMember.pool_id)
            .order_by(LicensePool.key, SoftwareLicense.key)
        )
        with UnitOfWork(self._db, readonly=True) as uow:
            rows = uow.session.execute(_where(stmt, query, MEMBER_FIELDS))
            return [PoolMember(lk, pk, self._value(actor, enc)) for lk, pk, enc in rows]

    def pool_software(self, actor: Actor, query: Query | None = None) -> list[PoolSoftware]:
        actor.require(Perm.READ)
        stmt = (
            select(LicensePoolSoftware, LicensePool.key)
            .join(LicensePool, LicensePool.id == LicensePoolSoftware.pool_id)
            .order_by(LicensePool.key, LicensePoolSoftware.name, LicensePoolSoftware.version)
        )
        with UnitOfWork(self._db, readonly=True) as uow:
            rows = uow.session.execute(_where(stmt, query, POOL_SOFTWARE_FIELDS))
            return [
                PoolSoftware(pk, r.name, r.version, r.sub_version, r.language, r.architecture)
                for r, pk in rows
            ]

    def put_pool_software(self, actor: Actor, item: PoolSoftware) -> None:
        """Idempotent: the same software in the same pool is kept once."""
        values = _software_values(item)
        with self._audit.mutation(
            actor, "license_pool.add_software", "license_pool", item.pool_key, perm=Perm.MANAGE_PACKAGES
        ) as m:
            pool = _one(m.session, LicensePool, item.pool_key.lower(), "license pool")
            exists = m.session.scalar(
                select(LicensePoolSoftware.id).where(
                    LicensePoolSoftware.pool_id == pool.id,
                    *(getattr(LicensePoolSoftware, k) == v for k, v in values.items()),
                )
            )
            if exists is None:
                m.session.add(LicensePoolSoftware(pool_id=pool.id, **values))
            m.detail = {"software": values["name"], "version": values["version"]}

    def delete_pool_software(self, actor: Actor, item: PoolSoftware) -> int:
        values = _software_values(item)
        with self._audit.mutation(
            actor, "license_pool.remove_software", "license_pool", item.pool_key, perm=Perm.MANAGE_PACKAGES
        ) as m:
            pool = _one(m.session, LicensePool, item.pool_key.lower(), "license pool")
            result = m.session.execute(
                delete(LicensePoolSoftware).where(
                    LicensePoolSoftware.pool_id == pool.id,
                    *(getattr(LicensePoolSoftware, k) == v for k, v in values.items()),
                )
            )
            return int(getattr(result, "rowcount", 0) or 0)

    def assignments(
        self, actor: Actor, computer_ids: Iterable[int] | None = None, query: Query | None = None
    ) -> list[Assignment]:
        """Filtered in SQL (``ASSIGNMENT_FIELDS``) before any license key is decrypted."""
        actor.require(Perm.READ)
        stmt = (
            select(SoftwareLicense.key, LicensePool.key, LicenseAssignment)
            .join(SoftwareLicense, SoftwareLicense.id == LicenseAssignment.license_id)
            .join(LicensePool, LicensePool.id == LicenseAssignment.pool_id)
            .order_by(LicensePool.key, SoftwareLicense.key, LicenseAssignment.computer_id)
        )
        if computer_ids is not None:
            stmt = stmt.where(LicenseAssignment.computer_id.in_(list(computer_ids)))
        stmt = _where(stmt, query, ASSIGNMENT_FIELDS)
        with UnitOfWork(self._db, readonly=True) as uow:
            return [
                Assignment(
                    lk, pk, a.computer_id, self._value(actor, a.license_key_enc, a.computer_id), a.notes
                )
                for lk, pk, a in uow.session.execute(stmt)
            ]

    # ------------------------------------------------------------ writing

    def put_contract(self, actor: Actor, c: Contract) -> None:
        key = check_key(c.key, "license contract")
        with self._audit.mutation(
            actor, "license_contract.put", "license_contract", key, perm=Perm.MANAGE_PACKAGES
        ) as m:
            row = m.session.scalar(select(LicenseContract).where(LicenseContract.key == key))
            if row is None:
                row = LicenseContract(key=key)
                m.session.add(row)
            row.description, row.notes, row.partner = c.description, c.notes, c.partner
            row.concluded_at, row.notify_at, row.expires_at = c.concluded_at, c.notify_at, c.expires_at

    def put_pool(self, actor: Actor, p: Pool) -> None:
        key = check_key(p.key, "license pool")
        with self._audit.mutation(
            actor, "license_pool.put", "license_pool", key, perm=Perm.MANAGE_PACKAGES
        ) as m:
            row = m.session.scalar(select(LicensePool).where(LicensePool.key == key))
            if row is None:
                row = LicensePool(key=key)
                m.session.add(row)
            row.description, row.product_keys = p.description, [str(k).lower() for k in p.product_keys]

    def put_license(self, actor: Actor, lic: License) -> None:
        key = check_key(lic.key, "software license")
        if lic.kind not in KINDS:
            raise ValidationFailed(f"license kind must be one of {', '.join(KINDS)}", field="kind")
        if lic.max_installations < 0:
            raise ValidationFailed("max_installations must be >= 0", field="max_installations")
        with self._audit.mutation(
            actor, "software_license.put", "software_license", key, perm=Perm.MANAGE_PACKAGES
        ) as m:
            contract = _one(
                m.session,
                LicenseContract,
                check_key(lic.contract_key, "license contract"),
                "license contract",
            )
            row = m.session.scalar(select(SoftwareLicense).where(SoftwareLicense.key == key))
            if row is None:
                row = SoftwareLicense(key=key)
                m.session.add(row)
            row.contract_id, row.kind, row.max_installations = contract.id, lic.kind, lic.max_installations
            row.bound_computer_id, row.expires_at = lic.bound_computer_id, lic.expires_at

    def put_pool_member(self, actor: Actor, license_key: str, pool_key: str, value: str = "") -> None:
        with self._audit.mutation(
            actor, "license_pool.add_license", "license_pool", pool_key, perm=Perm.MANAGE_PACKAGES
        ) as m:
            lic = _one(m.session, SoftwareLicense, license_key.lower(), "software license")
            pool = _one(m.session, LicensePool, pool_key.lower(), "license pool")
            row = m.session.scalar(
                select(LicensePoolMember).where(
                    LicensePoolMember.license_id == lic.id, LicensePoolMember.pool_id == pool.id
                )
            )
            if row is None:
                row = LicensePoolMember(license_id=lic.id, pool_id=pool.id)
                m.session.add(row)
            row.license_key_enc = self._box.encrypt(value) if value else ""
            m.detail = {"license": lic.key}

    def put_assignment(
        self,
        actor: Actor,
        license_key: str,
        pool_key: str,
        computer_id: int,
        value: str = "",
        notes: str = "",
    ) -> None:
        with self._audit.mutation(
            actor, "license.assign", "computer", computer_id, perm=Perm.MANAGE_PACKAGES
        ) as m:
            lic = _one(m.session, SoftwareLicense, license_key.lower(), "software license")
            pool = _one(m.session, LicensePool, pool_key.lower(), "license pool")
            self._assign(m.session, lic, pool, computer_id, value, notes)
            m.detail = {"license": lic.key, "pool": pool.key}

    def _assign(
        self, s: Session, lic: SoftwareLicense, pool: LicensePool, computer_id: int, value: str, notes: str
    ) -> None:
        row = s.scalar(
            select(LicenseAssignment).where(
                LicenseAssignment.license_id == lic.id,
                LicenseAssignment.pool_id == pool.id,
                LicenseAssignment.computer_id == computer_id,
            )
        )
        if row is None:
            row = LicenseAssignment(license_id=lic.id, pool_id=pool.id, computer_id=computer_id)
            s.add(row)
        if not value:
            value_enc = s.scalar(
                select(LicensePoolMember.license_key_enc).where(
                    LicensePoolMember.license_id == lic.id, LicensePoolMember.pool_id == pool.id
                )
            )
            row.license_key_enc = value_enc or ""
        else:
            row.license_key_enc = self._box.encrypt(value)
        row.notes = notes

    def delete(self, actor: Actor, kind: str, keys: Iterable[str]) -> int:
        """Delete contracts (``contract``), pools (``pool``) or licenses (``license``) by key."""
        table: Any = {"contract": LicenseContract, "pool": LicensePool, "license": SoftwareLicense}[kind]
        wanted = sorted({k.lower() for k in keys})
        with self._audit.mutation(
            actor,
            f"license_{kind}.delete",
            f"license_{kind}",
            ",".join(wanted)[:200],
            perm=Perm.MANAGE_PACKAGES,
        ) as m:
            rows = list(m.session.scalars(select(table).where(table.key.in_(wanted))))
            for row in rows:
                m.session.delete(row)
            m.detail = {"deleted": [r.key for r in rows]}
            return len(rows)

    def delete_pool_member(self, actor: Actor, license_key: str, pool_key: str) -> int:
        with self._audit.mutation(
            actor, "license_pool.remove_license", "license_pool", pool_key, perm=Perm.MANAGE_PACKAGES
        ) as m:
            lic = _one(m.session, SoftwareLicense, license_key.lower(), "software license")
            pool = _one(m.session, LicensePool, pool_key.lower(), "license pool")
            result = m.session.execute(
                delete(LicensePoolMember).where(
                    LicensePoolMember.license_id == lic.id, LicensePoolMember.pool_id == pool.id
                )
            )
            return int(getattr(result, "rowcount", 0) or 0)

    def release(self, actor: Actor, license_key: str, pool_key: str, computer_id: int) -> int:
        own = actor.computer_id is not None and actor.computer_id == computer_id
        with self._audit.mutation(
            actor, "license.release", "computer", computer_id, perm=None if own else Perm.MANAGE_PACKAGES
        ) as m:
            lic = _one(m.session, SoftwareLicense, license_key.lower(), "software license")
            pool = _one(m.session, LicensePool, pool_key.lower(), "license pool")
            result = m.session.execute(
                delete(LicenseAssignment).where(
                    LicenseAssignment.license_id == lic.id,
                    LicenseAssignment.pool_id == pool.id,
                    LicenseAssignment.computer_id == computer_id,
                )
            )
            return int(getattr(result, "rowcount", 0) or 0)

    # ------------------------------------------------------------ the usage rule

    def acquire(self, actor: Actor, computer_id: int, pool_key: str) -> Assignment:
        own = actor.computer_id is not None and actor.computer_id == computer_id
        with self._audit.mutation(
            actor, "license.acquire", "computer", computer_id, perm=None if own else Perm.MANAGE_PACKAGES
        ) as m:
            s = m.session
            pool = _one(s, LicensePool, pool_key.lower(), "license pool")
            held = s.execute(
                select(LicenseAssignment, SoftwareLicense.key)
                .join(SoftwareLicense, SoftwareLicense.id == LicenseAssignment.license_id)
                .where(LicenseAssignment.pool_id == pool.id, LicenseAssignment.computer_id == computer_id)
            ).first()
            if held is not None:
                a, lk = held
                m.detail = {"pool": pool.key, "license": lk, "reused": True}
                return Assignment(
                    lk, pool.key, computer_id, self._value(actor, a.license_key_enc, computer_id), a.notes
                )
            now = self._clock()
            used = dict(
                s.execute(
                    select(LicenseAssignment.license_id, func.count()).group_by(LicenseAssignment.license_id)
                ).all()
            )
            candidates = s.scalars(
                select(SoftwareLicense)
                .join(LicensePoolMember, LicensePoolMember.license_id == SoftwareLicense.id)
                .where(LicensePoolMember.pool_id == pool.id)
                .order_by(SoftwareLicense.bound_computer_id.is_(None), SoftwareLicense.key)
            )
            for lic in candidates:
                if lic.expires_at is not None and lic.expires_at <= now:
                    continue
                if lic.bound_computer_id is not None and lic.bound_computer_id != computer_id:
                    continue
                if lic.max_installations and used.get(lic.id, 0) >= lic.max_installations:
                    continue
                self._assign(s, lic, pool, computer_id, "", "")
                s.flush()
                m.detail = {"pool": pool.key, "license": lic.key}
                enc = s.scalar(
                    select(LicenseAssignment.license_key_enc).where(
                        LicenseAssignment.license_id == lic.id,
                        LicenseAssignment.pool_id == pool.id,
                        LicenseAssignment.computer_id == computer_id,
                    )
                )
                return Assignment(lic.key, pool.key, computer_id, self._value(actor, enc or "", computer_id))
            raise LicenseExhausted(
                f"no license left in pool {pool.key!r} for computer {computer_id}", pool=pool.key
            )
