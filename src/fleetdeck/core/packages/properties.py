"""Package properties: settings a package's procedures read (opsi's ProductProperty), defined
per package version, with per-computer values per package family (opsi's ProductPropertyState).
The effective values for a computer travel with its package job (``core/jobs/delivery.py``),
and the agent hands them to the procedure as environment variables.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from fleetdeck.core.audit import AuditLog, Mutation
from fleetdeck.core.authz import Actor, Perm
from fleetdeck.core.errors import NotFound, ValidationFailed
from fleetdeck.core.groups.rules import reach, reaches
from fleetdeck.core.settings.configs import Config, check_config
from fleetdeck.storage.db import Database
from fleetdeck.storage.locks import Serial, serialize
from fleetdeck.storage.tables import Package, PackageProperty, PackagePropertyValue
from fleetdeck.storage.uow import UnitOfWork


@dataclass(frozen=True, slots=True)
class PropertyInfo:
    package_id: int
    prop: Config  # key, kind, description, possible/default values, editable, multi_value


@dataclass(frozen=True, slots=True)
class PropertyValue:
    family_id: int
    key: str
    computer_id: int
    values: list[Any]


def check_property(prop: Config) -> None:
    check_config(prop)
    if len(prop.key) > 128:
        raise ValidationFailed("property key is longer than 128 characters", field="key")


def fill_row(row: PackageProperty, prop: Config) -> None:
    row.kind, row.description = prop.kind, prop.description
    row.possible_values, row.default_values = list(prop.possible_values), list(prop.default_values)
    row.editable, row.multi_value = prop.editable, prop.multi_value


def _info(row: PackageProperty) -> PropertyInfo:
    return PropertyInfo(
        row.package_id,
        Config(
            key=row.key,
            kind=row.kind,
            description=row.description,
            possible_values=list(row.possible_values),
            default_values=list(row.default_values),
            editable=row.editable,
            multi_value=row.multi_value,
        ),
    )


def effective_values(
    s: Session, pairs: Sequence[tuple[int, int]]
) -> dict[tuple[int, int], dict[str, list[Any]]]:
    """{(package_id, computer_id): {key: values}}: the package's defaults, overridden by the
    computer's own values for the family. One query per table for all pairs."""
    package_ids = {p for p, _ in pairs}
    if not package_ids:
        return {}
    props = s.execute(
        select(
            PackageProperty.package_id, PackageProperty.key, PackageProperty.default_values, Package.family_id
        )
        .join(Package, Package.id == PackageProperty.package_id)
        .where(PackageProperty.package_id.in_(package_ids))
    ).all()
    if not props:
        return {}
    family_of = {pid: fid for pid, _, _, fid in props}
    own = s.execute(
        select(
            PackagePropertyValue.family_id,
            PackagePropertyValue.key,
            PackagePropertyValue.computer_id,
            PackagePropertyValue.values,
        ).where(
            PackagePropertyValue.family_id.in_(set(family_of.values())),
            PackagePropertyValue.computer_id.in_({c for _, c in pairs}),
        )
    ).all()
    overrides = {(f, k, c): list(v) for f, k, c, v in own}
    out: dict[tuple[int, int], dict[str, list[Any]]] = {}
    for package_id, computer_id in pairs:
        values = {
            key: overrides.get((family_of[pid], key, computer_id), list(defaults))
            for pid, key, defaults, _ in props
            if pid == package_id
        }
        if values:
            out[(package_id, computer_id)] = values
    return out


class PropertyService:
    def __init__(self, db: Database, audit: AuditLog) -> None:
        self._db = db
        self._audit = audit

    def find(self, actor: Actor, package_ids: Sequence[int] | None = None) -> list[PropertyInfo]:
        actor.require(Perm.READ)
        stmt = select(PackageProperty).order_by(PackageProperty.package_id, PackageProperty.key)
        if package_ids is not None:
            stmt = stmt.where(PackageProperty.package_id.in_(list(package_ids)))
        with UnitOfWork(self._db, readonly=True) as uow:
            return [_info(r) for r in uow.session.scalars(stmt)]

    def put(self, actor: Actor, package_id: int, prop: Config) -> PropertyInfo:
        check_property(prop)
        with self._audit.mutation(
            actor, "package_property.put", "package", package_id, perm=Perm.MANAGE_PACKAGES
        ) as m:
            serialize(m.session, Serial.PACKAGE_PROPERTIES)
            if m.session.get(Package, package_id) is None:
                raise NotFound("package", package_id)
            return self._store(m, package_id, prop, self._row(m.session, package_id, prop.key))

    def merge(
        self, actor: Actor, package_id: int, key: str, change: Callable[[Config | None], Config | None]
    ) -> PropertyInfo | None:
        """Read the package's property ``key`` (None when it has none), and store what
        ``change`` makes of it (None: store nothing), in one transaction serialised with other
        puts and merges: a transport that read the property, merged the given fields into it
        and put the result lost a change another request made in between. ``change`` is the
        transport's merge rule (which fields a partial update keeps); what it returns is
        checked as ``put`` checks, and must keep the key. Audited ``package_property.put``
        (detail ``merged`` when a stored property was changed)."""
        with self._audit.mutation(
            actor, "package_property.put", "package", package_id, perm=Perm.MANAGE_PACKAGES
        ) as m:
            s = m.session
            serialize(s, Serial.PACKAGE_PROPERTIES)
            if s.get(Package, package_id) is None:
                raise NotFound("package", package_id)
            row = self._row(s, package_id, key)
            prop = change(_info(row).prop if row is not None else None)
            if prop is None:
                m.detail = {"key": key, "missing": True}
                return None
            if prop.key != key:
                raise ValidationFailed("a merge cannot change the property key", field="key")
            check_property(prop)
            info = self._store(m, package_id, prop, row)
            m.detail["merged"] = row is not None
            return info

    @staticmethod
    def _row(s: Session, package_id: int, key: str) -> PackageProperty | None:
        return s.scalar(
            select(PackageProperty).where(
                PackageProperty.package_id == package_id, PackageProperty.key == key
            )
        )

    @staticmethod
    def _store(m: Mutation, package_id: int, prop: Config, row: PackageProperty | None) -> PropertyInfo:
        if row is None:
            row = PackageProperty(package_id=package_id, key=prop.key)
            m.session.add(row)
        fill_row(row, prop)
        m.detail = {"key": prop.key, "default_values": list(prop.default_values)}
        m.session.flush()
        return _info(row)

    def delete(self, actor: Actor, package_id: int, key: str) -> bool:
        with self._audit.mutation(
            actor, "package_property.delete", "package", package_id, perm=Perm.MANAGE_PACKAGES
        ) as m:
            row = m.session.scalar(
                select(PackageProperty).where(
                    PackageProperty.package_id == package_id, PackageProperty.key == key
                )
            )
            if row is None:
                return False
            m.session.delete(row)
            m.detail = {"key": key}
            return True

    def values(self, actor: Actor, computer_ids: Sequence[int] | None = None) -> list[PropertyValue]:
        actor.require(Perm.READ)
        stmt = select(PackagePropertyValue).order_by(PackagePropertyValue.family_id, PackagePropertyValue.key)
        if computer_ids is not None:
            stmt = stmt.where(PackagePropertyValue.computer_id.in_(list(computer_ids)))
        with UnitOfWork(self._db, readonly=True) as uow:
            scope = reach(uow.session, actor, Perm.READ, PackagePropertyValue.computer_id)
            if scope is not None:  # a user in user groups: the computers they reach
                stmt = stmt.where(scope)
            return [
                PropertyValue(r.family_id, r.key, r.computer_id, list(r.values))
                for r in uow.session.scalars(stmt)
            ]

    def set_value(self, actor: Actor, family_id: int, key: str, computer_id: int, values: list[Any]) -> None:
        own = actor.computer_id is not None and actor.computer_id == computer_id
        if not isinstance(values, list):
            raise ValidationFailed("values must be a list", field="values")
        perm = None if own else Perm.MANAGE_PACKAGES
        with self._audit.mutation(
            actor, "package_property.set_value", "computer", computer_id, perm=perm
        ) as m:
            if not own and not reaches(m.session, actor, Perm.MANAGE_PACKAGES, computer_id):
                raise NotFound("computer", computer_id)  # out of a user's groups' reach
            row = m.session.scalar(
                select(PackagePropertyValue).where(
                    PackagePropertyValue.family_id == family_id,
                    PackagePropertyValue.key == key,
                    PackagePropertyValue.computer_id == computer_id,
                )
            )
            if row is None:
                m.session.add(
                    PackagePropertyValue(
                        family_id=family_id, key=key, computer_id=computer_id, values=list(values)
                    )
                )
            else:
                row.values = list(values)
            m.detail = {"family_id": family_id, "key": key, "values": list(values)}

    def clear_value(self, actor: Actor, family_id: int, key: str, computer_id: int) -> None:
        with self._audit.mutation(
            actor, "package_property.clear_value", "computer", computer_id, perm=Perm.MANAGE_PACKAGES
        ) as m:
            if not reaches(m.session, actor, Perm.MANAGE_PACKAGES, computer_id):
                raise NotFound("computer", computer_id)  # out of a user's groups' reach
            m.session.execute(
                delete(PackagePropertyValue).where(
                    PackagePropertyValue.family_id == family_id,
                    PackagePropertyValue.key == key,
                    PackagePropertyValue.computer_id == computer_id,
                )
            )
            m.detail = {"family_id": family_id, "key": key}
