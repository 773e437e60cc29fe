"""Packages: families, versions with their payload, dependencies and installation records.

Package groups and their ordered membership are in ``groups.py`` (same service object)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from fleetdeck.core.audit import AuditLog, Mutation
from fleetdeck.core.authz import Actor, Perm
from fleetdeck.core.errors import NotFound, PermissionDenied, Reason, Unavailable, ValidationFailed
from fleetdeck.core.groups.service import GroupService
from fleetdeck.core.packages import queries
from fleetdeck.core.packages.entities import (
    ACTIONS,
    REQUIREMENT_TYPES,
    STATUSES,
    DependencyRule,
    FamilyInfo,
    ImportResult,
    PackageDetail,
    PackageFields,
    PackageImport,
    PackageInfo,
    PayloadFile,
    PayloadRef,
)
from fleetdeck.core.packages.groups import PackageGroups
from fleetdeck.core.packages.imports import check_import, replace_properties, resolve_rules
from fleetdeck.core.packages.installations import InstallationHook, Installations
from fleetdeck.core.packages.payloads import PayloadStore, build_zip
from fleetdeck.core.packages.uploads import PayloadUploads
from fleetdeck.core.packages.validation import clean_fields, required, slug
from fleetdeck.core.ports import Clock
from fleetdeck.core.query import Page, Query, apply_query
from fleetdeck.storage.db import Database
from fleetdeck.storage.locks import Serial, serialize
from fleetdeck.storage.tables import (
    Installation,
    Job,
    Package,
    PackageDependency,
    PackageFamily,
)
from fleetdeck.storage.uow import UnitOfWork


class PackageService(PackageGroups, Installations, PayloadUploads):
    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        clock: Clock,
        groups: GroupService,
        payload_dir: Path | None,
        max_payload_bytes: int = 64 * 1024**3,
    ) -> None:
        super().__init__(db, audit, groups)
        self._clock = clock
        self._store = PayloadStore(payload_dir) if payload_dir is not None else None
        self._init_uploads(max_payload_bytes)
        self.installation_hooks: list[InstallationHook] = []

    # ------------------------------------------------------------ families

    def list_families(self, actor: Actor, *, show_icons: bool = False) -> list[FamilyInfo]:
        actor.require(Perm.READ)
        with UnitOfWork(self._db, readonly=True) as uow:
            return queries.family_infos(uow.session, icons=show_icons)

    def get_family(self, actor: Actor, family_id: int) -> FamilyInfo:
        actor.require(Perm.READ)
        with UnitOfWork(self._db, readonly=True) as uow:
            found = queries.family_infos(uow.session, [family_id], icons=True)
            if not found:
                raise NotFound("package family", family_id)
            return found[0]

    def update_family(
        self,
        actor: Actor,
        family_id: int,
        *,
        name: str | None = None,
        notes: str | None = None,
        icon: bytes | None = None,
        clear_icon: bool = False,
        license_count: int | None = None,
    ) -> FamilyInfo:
        with self._audit.mutation(
            actor, "package_family.update", "package_family", family_id, perm=Perm.MANAGE_PACKAGES
        ) as m:
            s = m.session
            f = s.get(PackageFamily, family_id)
            if f is None:
                raise NotFound("package family", family_id)
            if name is not None:
                name = name.strip()
                if not name:
                    raise ValidationFailed("the name cannot be empty", field="name", reason=Reason.NAME_EMPTY)
                other = s.scalar(select(PackageFamily.id).where(PackageFamily.name == name))
                if other is not None and other != family_id:
                    raise ValidationFailed(
                        f"a family named {name!r} exists", field="name", reason=Reason.INVALID
                    )
                m.detail["name"] = [f.name, name]
                f.name = name
            if notes is not None:
                f.notes = notes
            if icon is not None or clear_icon:
                f.icon = icon
            if license_count is not None:
                f.license_count = license_count if license_count >= 0 else None
            s.flush()
            return queries.family_infos(s, [family_id])[0]

    def delete_family(self, actor: Actor, family_id: int) -> None:
        with self._audit.mutation(
            actor, "package_family.delete", "package_family", family_id, perm=Perm.MANAGE_PACKAGES
        ) as m:
            f = m.session.get(PackageFamily, family_id)
            if f is None:
                raise NotFound("package family", family_id)
            if m.session.scalar(select(Package.id).where(Package.family_id == family_id).limit(1)):
                raise ValidationFailed("the family still has packages", reason=Reason.HAS_DEPENDENTS)
            m.detail = {"name": f.name}
            m.session.delete(f)

    # ------------------------------------------------------------ packages

    def create(
        self,
        actor: Actor,
        family_name: str,
        version: str,
        fields: PackageFields,
        *,
        package_version: str = "1",
        files: Sequence[PayloadFile] = (),
        depends_on: Sequence[int] = (),
        family_key: str | None = None,
        precheck: Callable[[], None] | None = None,
    ) -> PackageInfo:
        """Checks the permission, the required fields (family, version, install procedure) and
        a duplicate family + version; the family is created when no family has that exact name.
        ``precheck`` runs right after the permission check, inside the audited mutation, for a
        transport whose clients expect the failures in a fixed order.

        ``family_key`` addresses the family by its key instead (opsi's productId), which stays
        when the family is renamed: a new version of a renamed product joins its family. Then
        ``family_name`` is the display name: a new family gets it, an existing one is renamed."""
        written: list[str] = []
        try:
            with self._audit.mutation(actor, "package.create", "package", perm=Perm.MANAGE_PACKAGES) as m:
                if precheck is not None:
                    precheck()
                return self._insert(
                    m,
                    actor,
                    family_name,
                    version,
                    fields,
                    package_version,
                    files,
                    depends_on,
                    written,
                    family_key,
                )
        except Exception:
            for sha in written:  # the payload file of a package that was never committed
                self._collect_payload(sha)
            raise

    def _insert(
        self,
        m: Mutation,
        actor: Actor,
        family_name: str,
        version: str,
        fields: PackageFields,
        package_version: str,
        files: Sequence[PayloadFile],
        depends_on: Sequence[int],
        written: list[str],
        family_key: str | None,
    ) -> PackageInfo:
        family_name, version = family_name.strip(), version.strip()
        # A package addressed by family key (a product of another system, such as a meta or
        # uninstall-only product) may have no install procedure: installing it runs nothing, its
        # dependencies do the work. fleetdeck's own forms still require one.
        required(family_name, version, package_version)
        if family_key is None:
            required(fields.install_procedure or "")
        values = clean_fields(fields)
        s = m.session
        family = s.scalar(
            select(PackageFamily)
            .where(PackageFamily.key == family_key if family_key else PackageFamily.name == family_name)
            .order_by(PackageFamily.id)  # by name: the oldest family of that name
            .limit(1)
        )
        if family_key and family is not None and family.name != family_name:
            # Addressed by key, the name is only the display name: another family may have it
            # too (two opsi products may share a name), set in this transaction.
            family.name = family_name
        if family is not None and s.scalar(
            select(Package.id).where(
                Package.family_id == family.id,
                Package.version == version,
                Package.package_version == package_version,
            )
        ):
            raise ValidationFailed(
                "a package with this name already exists with this version",
                field="version",
                reason=Reason.VERSION_EXISTS,
            )
        data = build_zip(files)
        now = self._clock()
        if family is None:
            family = PackageFamily(
                key=family_key or self._free_key(s, slug(family_name)),
                name=family_name,
                created_at=now,
                created_by=actor.username,
            )
            s.add(family)
            s.flush()
        pkg = Package(
            family_id=family.id,
            version=version,
            package_version=package_version,
            created_at=now,
            created_by=actor.username,
            updated_at=now,
            **values,
        )
        if data is not None:
            pkg.payload_sha256, pkg.payload_size = self._payloads().put(data)
            written.append(pkg.payload_sha256)
        s.add(pkg)
        s.flush()
        self._set_dependencies(s, pkg.id, depends_on)
        m.object_id = str(pkg.id)
        m.detail = {"family": family_name, "version": version, "payload": pkg.payload_sha256}
        return queries.package_infos(s, [pkg.id])[pkg.id]

    def import_package(self, actor: Actor, imp: PackageImport | Callable[[], PackageImport]) -> ImportResult:
        """A whole package from a package archive, in one audited transaction
        (``package.import``): created, or, when its family key, version and package version
        exist, replaced (fields, payload, properties and dependency rules), as opsi's
        ``depot_installPackage`` re-installs a package. A dependency on a product that has no
        package here is left out and reported in ``unresolved`` (opsi keeps such rules; they
        only take effect once the product is there).

        ``imp`` may be the reader of the archive: it then runs after the permission check (and
        outside the transaction), so a caller who may not import packages is refused, and
        audited, before the server unpacks anything he sent; what the reader raises passes
        through."""
        if callable(imp):
            self._audit.require(actor, Perm.MANAGE_PACKAGES, "package.import", "package")
            imp = imp()
        written: list[str] = []
        old_sha: str | None = None
        old_kept: str | None = None
        try:
            check_import(imp)
            # Spooled files are hashed and moved into the store before the transaction (they
            # may be gigabytes); a failed import collects them again below.
            payload = self._take(imp.payload_file, written)
            kept = self._take(imp.server_files, written)
            with self._audit.mutation(actor, "package.import", "package", perm=Perm.MANAGE_PACKAGES) as m:
                s = m.session
                pkg = _locked_version(s, imp.family_key, imp.version, imp.package_version)
                replaced = pkg is not None
                files = [PayloadFile("payload.zip", imp.payload)] if imp.payload else []
                if pkg is None:
                    info = self._insert(
                        m,
                        actor,
                        imp.name or imp.family_key,
                        imp.version,
                        imp.fields,
                        imp.package_version,
                        files,
                        (),
                        written,
                        imp.family_key,
                    )
                    package_id = info.id
                else:
                    package_id = pkg.id
                    values = clean_fields(imp.fields)
                    required(values.get("install_procedure", pkg.install_procedure) or "")
                    for key, value in values.items():
                        setattr(pkg, key, value)
                    old_sha, old_kept = pkg.payload_sha256, pkg.server_files_sha256
                    data = build_zip(files)
                    pkg.payload_sha256, pkg.payload_size = (
                        self._payloads().put(data) if data else (None, None)
                    )
                    if pkg.payload_sha256:
                        written.append(pkg.payload_sha256)
                    pkg.updated_at = self._clock()
                    family = s.get(PackageFamily, pkg.family_id)
                    if family is not None and imp.name and family.name != imp.name:
                        if s.scalar(select(PackageFamily.id).where(PackageFamily.name == imp.name)):
                            raise ValidationFailed(
                                f"a family named {imp.name!r} exists", field="name", reason=Reason.INVALID
                            )
                        family.name = imp.name
                    s.flush()
                stored = s.get(Package, package_id)
                assert stored is not None
                if payload is not None:
                    stored.payload_sha256, stored.payload_size = payload
                stored.server_files_sha256 = kept[0] if kept else None
                s.flush()
                family_id = stored.family_id
                rules, unresolved = resolve_rules(s, family_id, imp.dependencies)
                _store_rules(s, package_id, rules)
                replace_properties(s, package_id, imp)
                m.object_id = str(package_id)
                m.detail = {
                    "family": imp.family_key,
                    "version": imp.version,
                    "package_version": imp.package_version,
                    "source": imp.source,
                    "replaced": replaced,
                    "properties": len(imp.properties),
                    "dependencies": len(rules),
                    "unresolved": unresolved,
                    "payload": stored.payload_sha256,
                    "server_files": stored.server_files_sha256,
                    "not_run": [name for name, _ in imp.not_run],
                }
                info = queries.package_infos(s, [package_id])[package_id]
        except BaseException:
            for path in (imp.payload_file, imp.server_files):
                if path is not None:
                    path.unlink(missing_ok=True)
            for sha in written:
                if sha not in (old_sha, old_kept):
                    self._collect_payload(sha)
            raise
        for old in (old_sha, old_kept):
            if old and old not in (info.payload_sha256, kept[0] if kept else None):
                self._collect_payload(old)
        return ImportResult(
            package=info, replaced=replaced, unresolved=tuple(unresolved), not_run=imp.not_run
        )

    def _take(self, path: Path | None, written: list[str]) -> tuple[str, int] | None:
        """A spooled ZIP moved into the payload store (see ``PayloadStore.put_file``)."""
        if path is None:
            return None
        sha, size = self._payloads().put_file(path)
        written.append(sha)
        return sha, size

    def get(self, actor: Actor, package_id: int) -> PackageDetail:
        actor.require(Perm.READ)
        with UnitOfWork(self._db, readonly=True) as uow:
            found = queries.detail(uow.session, package_id)
            if found is None:
                raise NotFound("package", package_id)
            return found

    def find(self, actor: Actor, query: Query) -> Page[PackageInfo]:
        actor.require(Perm.READ)
        with UnitOfWork(self._db, readonly=True) as uow:
            stmt, count = apply_query(
                select(Package.id), select(func.count()).select_from(Package), query, queries.PACKAGE_FIELDS
            )
            assert count is not None
            ids = list(uow.session.scalars(stmt))
            return Page(items=queries.ordered_infos(uow.session, ids), total=uow.session.scalar(count) or 0)

    def update(
        self,
        actor: Actor,
        package_id: int,
        fields: PackageFields,
        *,
        version: str | None = None,
        package_version: str | None = None,
        files: Sequence[PayloadFile] | None = None,
        depends_on: Sequence[int] | None = None,
    ) -> PackageInfo:
        """Absent (None) values stay; ``files`` replaces the payload (empty list removes it)."""
        old_sha: str | None = None
        with self._audit.mutation(
            actor, "package.update", "package", package_id, perm=Perm.MANAGE_PACKAGES
        ) as m:
            s = m.session
            pkg = s.get(Package, package_id)
            if pkg is None:
                raise NotFound("package", package_id)
            values = clean_fields(fields)
            if values.get("install_procedure") == "" or (version is not None and not version.strip()):
                raise ValidationFailed("please fill the required fields", reason=Reason.REQUIRED_MISSING)
            if version is not None or package_version is not None:
                new_v = version.strip() if version is not None else pkg.version
                new_pv = package_version.strip() if package_version is not None else pkg.package_version
                required(new_pv)
                clash = s.scalar(
                    select(Package.id).where(
                        Package.family_id == pkg.family_id,
                        Package.version == new_v,
                        Package.package_version == new_pv,
                        Package.id != package_id,
                    )
                )
                if clash:
                    raise ValidationFailed(
                        "a package with this name already exists with this version",
                        reason=Reason.VERSION_EXISTS,
                    )
                pkg.version, pkg.package_version = new_v, new_pv
            for name, value in values.items():
                setattr(pkg, name, value)
            if files is not None:
                old_sha = pkg.payload_sha256
                data = build_zip(files)
                pkg.payload_sha256, pkg.payload_size = self._payloads().put(data) if data else (None, None)
            if depends_on is not None:
                self._set_dependencies(s, package_id, depends_on)
            pkg.updated_at = self._clock()
            m.detail = {"fields": sorted(values), "payload": files is not None}
            s.flush()
            info = queries.package_infos(s, [package_id])[package_id]
        if old_sha and old_sha != info.payload_sha256:
            self._collect_payload(old_sha)
        return info

    def put_version(
        self,
        actor: Actor,
        family_key: str,
        version: str,
        package_version: str,
        fields: PackageFields,
        *,
        new_fields: PackageFields | None,
        name: str | None = None,
    ) -> PackageInfo | None:
        """Create-or-update of the package addressed by family key, version and package
        version (opsi's ``product_insertObject`` / ``updateObject(s)``), decided in one
        transaction serialised with other puts, so two concurrent puts of one new version
        create it once and the other updates it. An existing package gets ``fields`` (None
        values stay; audited ``package.update``); a missing one is created with ``new_fields``
        (audited ``package.create``), named ``name``, else its family's name, else the key. An
        empty install procedure is allowed here (see ``_insert``).
        ``new_fields`` None: a missing package stays missing (returns None). A refusal before
        either is known is recorded as what the caller may create (``package.create``)."""
        first = "package.update" if new_fields is None else "package.create"
        with self._audit.mutation(actor, first, "package", perm=Perm.MANAGE_PACKAGES) as m:
            s = m.session
            pkg = _locked_version(s, family_key, version, package_version)
            if pkg is not None:
                values = clean_fields(fields)
                for key, value in values.items():
                    setattr(pkg, key, value)
                pkg.updated_at = self._clock()
                m.action, m.object_id = "package.update", str(pkg.id)
                m.detail = {"fields": sorted(values), "payload": False}
                s.flush()
                return queries.package_infos(s, [pkg.id])[pkg.id]
            if new_fields is None:
                m.detail = {"family_key": family_key, "version": version, "missing": True}
                return None
            m.action = "package.create"
            family_name = name or s.scalar(select(PackageFamily.name).where(PackageFamily.key == family_key))
            return self._insert(
                m,
                actor,
                family_name or family_key,
                version,
                new_fields,
                package_version,
                (),
                (),
                [],
                family_key,
            )

    def delete(self, actor: Actor, package_id: int, *, force: bool = True) -> None:
        """Without ``force``, refuse while jobs for it are pending or other packages depend on
        it. The payload file goes when no package uses it any more."""
        with self._audit.mutation(
            actor, "package.delete", "package", package_id, perm=Perm.MANAGE_PACKAGES
        ) as m:
            s = m.session
            pkg = s.get(Package, package_id)
            if pkg is None:
                raise NotFound("package", package_id)
            if not force:
                if s.scalar(
                    select(Job.id)
                    .where(Job.package_id == package_id, Job.status.in_(queries.PENDING_VALUES))
                    .limit(1)
                ):
                    raise ValidationFailed(
                        "there are active jobs for this package", reason=Reason.IN_USE_BY_JOBS
                    )
                if s.scalar(
                    select(PackageDependency.package_id)
                    .where(PackageDependency.requires_id == package_id)
                    .limit(1)
                ):
                    raise ValidationFailed(
                        "other packages depend on this package", reason=Reason.HAS_DEPENDENTS
                    )
            sha, kept = pkg.payload_sha256, pkg.server_files_sha256
            affected = set(
                s.scalars(select(Installation.computer_id).where(Installation.package_id == package_id))
            )
            m.detail = {"version": pkg.version, "family_id": pkg.family_id}
            s.delete(pkg)
            s.flush()
            if affected:
                self._installations_changed(s, affected)
        for blob in (sha, kept):
            if blob:
                self._collect_payload(blob)

    # ------------------------------------------------------------ payloads

    def _payloads(self) -> PayloadStore:
        if self._store is None:
            raise Unavailable("no payload directory is configured")
        return self._store

    def _collect_payload(self, sha: str) -> None:
        """Delete the file unless another package still uses it."""
        with UnitOfWork(self._db, readonly=True) as uow:
            used = uow.session.scalar(
                select(Package.id)
                .where((Package.payload_sha256 == sha) | (Package.server_files_sha256 == sha))
                .limit(1)
            )
        if used is None and self._store is not None:
            self._store.delete(sha)

    def payload(self, actor: Actor, package_id: int) -> PayloadRef:
        """The payload for an administrator to download."""
        actor.require(Perm.MANAGE_PACKAGES)
        with UnitOfWork(self._db, readonly=True) as uow:
            pkg = uow.session.get(Package, package_id)
            if pkg is None:
                raise NotFound("package", package_id)
            return self._ref(pkg)

    def payload_for_agent(self, computer_id: int, package_id: int) -> PayloadRef:
        """The payload, for an agent that has a pending job for this package (else denied)."""
        with UnitOfWork(self._db, readonly=True) as uow:
            s = uow.session
            pkg = s.get(Package, package_id)
            if pkg is None:
                raise NotFound("package", package_id)
            if not s.scalar(
                select(Job.id)
                .where(
                    Job.computer_id == computer_id,
                    Job.package_id == package_id,
                    Job.status.in_(queries.PENDING_VALUES),
                )
                .limit(1)
            ):
                raise PermissionDenied("no pending job of this computer needs this package")
            return self._ref(pkg)

    def _ref(self, pkg: Package) -> PayloadRef:
        if pkg.payload_sha256 is None or pkg.payload_size is None:
            raise NotFound("payload of package", pkg.id)
        store = self._payloads()
        if not store.exists(pkg.payload_sha256):
            raise NotFound("payload file of package", pkg.id)
        return PayloadRef(
            path=str(store.path(pkg.payload_sha256)), sha256=pkg.payload_sha256, size=pkg.payload_size
        )

    # ------------------------------------------------------------ dependencies

    def set_dependencies(self, actor: Actor, package_id: int, requires: Sequence[int]) -> PackageInfo:
        """The packages to install before this one (the plain rule); other rules stay."""
        with self._audit.mutation(
            actor, "package.set_dependencies", "package", package_id, perm=Perm.MANAGE_PACKAGES
        ) as m:
            if m.session.get(Package, package_id) is None:
                raise NotFound("package", package_id)
            self._set_dependencies(m.session, package_id, requires)
            m.detail = {"requires": sorted(set(requires))}
            return queries.package_infos(m.session, [package_id])[package_id]

    def set_dependency_rules(
        self, actor: Actor, package_id: int, rules: Sequence[DependencyRule]
    ) -> PackageInfo:
        """Replaces every dependency rule of the package (opsi's ProductDependency objects)."""
        with self._audit.mutation(
            actor, "package.set_dependencies", "package", package_id, perm=Perm.MANAGE_PACKAGES
        ) as m:
            s = m.session
            if s.get(Package, package_id) is None:
                raise NotFound("package", package_id)
            _store_rules(s, package_id, rules)
            m.detail = {"rules": len(rules)}
            return queries.package_infos(s, [package_id])[package_id]

    @staticmethod
    def _set_dependencies(s: Session, package_id: int, requires: Sequence[int]) -> None:
        ids = sorted(set(requires))
        if package_id in ids:
            raise ValidationFailed(
                "a package cannot depend on itself", field="depends_on", reason=Reason.INVALID
            )
        found = set(s.scalars(select(Package.id).where(Package.id.in_(ids)))) if ids else set()
        for i in ids:
            if i not in found:
                raise NotFound("package", i)
        s.execute(
            delete(PackageDependency).where(
                PackageDependency.package_id == package_id,
                PackageDependency.action == "setup",
                PackageDependency.required_action.is_(None),
                PackageDependency.required_status == "installed",
                PackageDependency.requirement_type == "before",
            )
        )
        s.flush()
        taken = set(
            s.scalars(
                select(PackageDependency.requires_id).where(
                    PackageDependency.package_id == package_id, PackageDependency.action == "setup"
                )
            )
        )
        s.add_all(
            PackageDependency(package_id=package_id, requires_id=i, required_status="installed")
            for i in ids
            if i not in taken
        )
        s.flush()

    @staticmethod
    def _free_key(s: Session, base: str) -> str:
        key, n = base, 1
        while s.scalar(select(PackageFamily.id).where(PackageFamily.key == key)):
            n += 1
            key = f"{base}-{n}"
        return key


def _check_rule(rule: DependencyRule, package_id: int) -> None:
    if rule.requires_id == package_id:
        raise ValidationFailed(
            "a package cannot depend on itself", field="dependencies", reason=Reason.INVALID
        )
    problems = []
    if rule.action not in ACTIONS:
        problems.append(f"action must be one of {', '.join(ACTIONS)}")
    if rule.required_action is not None and rule.required_action not in ACTIONS:
        problems.append(f"required_action must be one of {', '.join(ACTIONS)}")
    if rule.required_status is not None and rule.required_status not in STATUSES:
        problems.append(f"required_status must be one of {', '.join(STATUSES)}")
    if (rule.required_action is None) == (rule.required_status is None):
        problems.append("give either required_action or required_status")
    if rule.requirement_type not in REQUIREMENT_TYPES:
        problems.append("requirement_type must be before, after or empty")
    if rule.required_version is not None and not 0 < len(rule.required_version) <= 255:
        problems.append("required_version must be 1 to 255 characters")
    if rule.required_package_version is not None and not 0 < len(rule.required_package_version) <= 64:
        problems.append("required_package_version must be 1 to 64 characters")
    if problems:
        raise ValidationFailed("; ".join(problems), field="dependencies", reason=Reason.INVALID)


def _store_rules(s: Session, package_id: int, rules: Sequence[DependencyRule]) -> None:
    """Replace every dependency rule of the package with ``rules``, checked."""
    seen: set[tuple[str, int]] = set()
    for rule in rules:
        _check_rule(rule, package_id)
        if (rule.action, rule.requires_id) in seen:
            raise ValidationFailed(
                "one rule per action and required package",
                field="dependencies",
                reason=Reason.INVALID,
            )
        seen.add((rule.action, rule.requires_id))
    ids = {r.requires_id for r in rules}
    found = set(s.scalars(select(Package.id).where(Package.id.in_(ids)))) if ids else set()
    for i in sorted(ids - found):
        raise NotFound("package", i)
    s.execute(delete(PackageDependency).where(PackageDependency.package_id == package_id))
    s.add_all(
        PackageDependency(
            package_id=package_id,
            action=r.action,
            requires_id=r.requires_id,
            required_action=r.required_action,
            required_status=r.required_status,
            requirement_type=r.requirement_type,
            required_version=r.required_version,
            required_package_version=r.required_package_version,
        )
        for r in rules
    )
    s.flush()


def _locked_version(s: Session, family_key: str, version: str, package_version: str) -> Package | None:
    """The package of this family key and versions, read after taking the lock that serialises
    creating versions (so two concurrent writers of one new version create it once)."""
    serialize(s, Serial.PACKAGE_VERSIONS)
    return s.scalar(
        select(Package)
        .join(PackageFamily, PackageFamily.id == Package.family_id)
        .where(
            PackageFamily.key == family_key,
            Package.version == version,
            Package.package_version == package_version,
        )
    )
