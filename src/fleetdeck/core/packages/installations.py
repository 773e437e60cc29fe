"""Installation records: what fleetdeck installed where (part of PackageService).

Every change calls ``installation_hooks`` in the same transaction (deployment rules re-evaluate).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from fleetdeck.core.audit import AuditLog
from fleetdeck.core.authz import Actor, Perm
from fleetdeck.core.errors import NotFound
from fleetdeck.core.groups.rules import reach, reaches
from fleetdeck.core.jobs.outcomes import record_installation
from fleetdeck.core.packages import queries, states
from fleetdeck.core.packages.entities import InstallationInfo
from fleetdeck.core.ports import Clock
from fleetdeck.storage.db import Database
from fleetdeck.storage.tables import Computer, Installation, Package, PackageFamily
from fleetdeck.storage.uow import UnitOfWork

# Called inside the transaction that changed installation records of these computers.
InstallationHook = Callable[[Session, set[int]], None]


class Installations:
    _db: Database
    _audit: AuditLog
    _clock: Clock
    installation_hooks: list[InstallationHook]

    def list_installations(
        self, actor: Actor, *, computer_id: int | None = None, package_id: int | None = None
    ) -> list[InstallationInfo]:
        actor.require(Perm.READ)
        with UnitOfWork(self._db, readonly=True) as uow:
            s = uow.session  # a user in user groups: the records of the computers they reach
            scope = reach(s, actor, Perm.READ, Computer.id)
            return queries.installations(s, computer_id=computer_id, package_id=package_id, scope=scope)

    def assign_installation(self, actor: Actor, computer_id: int, package_id: int) -> InstallationInfo:
        """Record a package as installed without a job (it was installed by other means)."""
        with self._audit.mutation(
            actor, "installation.assign", "computer", computer_id, perm=Perm.MANAGE_PACKAGES
        ) as m:
            s = m.session
            if s.get(Computer, computer_id) is None or not reaches(
                s, actor, Perm.MANAGE_PACKAGES, computer_id
            ):
                raise NotFound("computer", computer_id)
            pkg = s.get(Package, package_id)
            if pkg is None:
                raise NotFound("package", package_id)
            record_installation(s, computer_id, package_id, "", None, self._clock(), 0)
            states.installed(s, computer_id, package_id, True, self._clock())
            self._installations_changed(s, {computer_id})
            m.detail = {"package_id": package_id}
            return queries.installations(s, computer_id=computer_id, package_id=package_id)[0]

    def remove_installation(self, actor: Actor, installation_id: int) -> None:
        """Forget an installation record (nothing is uninstalled)."""
        with self._audit.mutation(
            actor, "installation.remove", "installation", installation_id, perm=Perm.MANAGE_PACKAGES
        ) as m:
            row = m.session.get(Installation, installation_id)
            if row is None or not reaches(m.session, actor, Perm.MANAGE_PACKAGES, row.computer_id):
                raise NotFound("installation", installation_id)
            m.detail = {"computer_id": row.computer_id, "package_id": row.package_id}
            m.session.delete(row)
            m.session.flush()
            states.installed(m.session, row.computer_id, row.package_id, False, self._clock())
            self._installations_changed(m.session, {row.computer_id})

    def set_family_installed(
        self, actor: Actor, computer_id: int, family_key: str, installed: bool
    ) -> list[int]:
        """An admin's correction of what is installed (opsi's ``setProductInstallationStatus``):
        ``installed`` records the family's newest package as installed unless it is already
        (no job runs), not ``installed`` forgets every installation record of the family.
        Read and changed in one transaction. Returns the package ids recorded or forgotten."""
        action = "installation.assign" if installed else "installation.remove"
        with self._audit.mutation(actor, action, "computer", computer_id, perm=Perm.MANAGE_PACKAGES) as m:
            s = m.session
            if s.get(Computer, computer_id) is None or not reaches(
                s, actor, Perm.MANAGE_PACKAGES, computer_id
            ):
                raise NotFound("computer", computer_id)
            family = list(
                s.scalars(
                    select(Package.id)
                    .join(PackageFamily, PackageFamily.id == Package.family_id)
                    .where(PackageFamily.key == family_key)
                    .order_by(Package.created_at, Package.id)
                )
            )
            if not family:
                raise NotFound("package family", family_key)
            current = list(
                s.scalars(
                    select(Installation).where(
                        Installation.computer_id == computer_id, Installation.package_id.in_(family)
                    )
                )
            )
            if installed:
                newest = family[-1]
                changed = [] if any(i.package_id == newest for i in current) else [newest]
                for pid in changed:
                    record_installation(s, computer_id, pid, "", None, self._clock(), 0)
                    states.installed(s, computer_id, pid, True, self._clock())
            else:
                changed = [i.package_id for i in current]
                for row in current:
                    s.delete(row)
                    states.installed(s, computer_id, row.package_id, False, self._clock())
            m.detail = {"family_key": family_key, "package_ids": changed}
            if changed:
                s.flush()
                self._installations_changed(s, {computer_id})
            return changed

    def _installations_changed(self, s: Session, computer_ids: set[int]) -> None:
        for hook in self.installation_hooks:
            hook(s, computer_ids)
