"""Values the package service takes and returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from fleetdeck.core.settings.configs import Config

POST_ACTIONS = (0, 1, 2, 3)  # none, restart, shutdown, restart the agent
UPGRADE_BEHAVIORS = (0, 1, 2)  # keep old records, installer replaces old versions, uninstall jobs first


@dataclass(frozen=True, slots=True)
class PayloadFile:
    name: str
    content: bytes


@dataclass(frozen=True, slots=True)
class PackageFields:
    """Everything about a package that is not its identity; ``None`` in an update = unchanged."""

    description: str | None = None
    install_procedure: str | None = None
    install_success_codes: str | None = None
    install_post_action: int | None = None
    uninstall_procedure: str | None = None
    uninstall_success_codes: str | None = None
    download_for_uninstall: bool | None = None
    uninstall_post_action: int | None = None
    upgrade_behavior: int | None = None
    line_endings: str | None = None  # "" clears it
    compatible_os: str | None = None
    compatible_os_version: str | None = None
    compatible_architecture: str | None = None
    license_count: int | None = None  # negative clears it
    priority: int | None = None  # -100..100: higher runs first among independent actions


@dataclass(frozen=True, slots=True)
class FamilyInfo:
    id: int
    key: str
    name: str
    notes: str
    license_count: int | None
    created_at: datetime
    created_by: str
    package_count: int
    install_count: int
    newest_package_created: datetime | None
    oldest_package_created: datetime | None
    icon: bytes | None = None


@dataclass(frozen=True, slots=True)
class PackageInfo:
    id: int
    family_id: int
    family_key: str
    family_name: str
    version: str
    package_version: str
    description: str
    install_procedure: str
    install_success_codes: str
    install_post_action: int
    uninstall_procedure: str
    uninstall_success_codes: str
    download_for_uninstall: bool
    uninstall_post_action: int
    upgrade_behavior: int
    line_endings: str | None
    compatible_os: str
    compatible_os_version: str
    compatible_architecture: str
    license_count: int | None
    payload_sha256: str | None
    payload_size: int | None
    created_at: datetime
    created_by: str
    updated_at: datetime
    install_count: int = 0
    depends_on: tuple[int, ...] = ()  # packages to install first (the rules fleetdeck acts on)
    priority: int = 0
    dependency_rules: tuple[DependencyRule, ...] = ()


ACTIONS = ("setup", "uninstall", "update", "always", "once", "custom")
STATUSES = ("installed", "not_installed")
REQUIREMENT_TYPES = ("before", "after", "")


@dataclass(frozen=True, slots=True)
class DependencyRule:
    """When this package gets ``action``, package ``requires_id`` must end up in
    ``required_status`` or get ``required_action`` (one of the two), ``requirement_type`` this
    package's action ("before", "after", or "" = order does not matter).
    ``required_version``/``required_package_version`` pin the required product's version (opsi's
    requiredProductVersion/requiredPackageVersion); None = any version of its product.

    Deployments act on the install rules (``setup`` with ``installed`` or ``setup`` required);
    the full set is what opsi's action-request sequencing (``core/packages/ordering.py``) uses.
    """

    requires_id: int
    action: str = "setup"
    required_action: str | None = None
    required_status: str | None = "installed"
    requirement_type: str = "before"
    required_version: str | None = None
    required_package_version: str | None = None

    @property
    def installs_first(self) -> bool:
        return (
            self.action == "setup"
            and (self.required_status == "installed" or self.required_action == "setup")
            and self.requirement_type in ("before", "")
        )


@dataclass(frozen=True, slots=True)
class InstallationInfo:
    id: int
    computer_id: int
    hostname: str
    package_id: int
    family_id: int
    family_name: str
    version: str
    installed_at: datetime
    procedure: str
    job_id: int | None
    # the family's stored state on the computer (``core/packages/states.py``)
    action_request: str = "none"
    last_action: str | None = None
    action_result: str | None = None


@dataclass(frozen=True, slots=True)
class PackageGroupRef:
    id: int
    name: str
    parent_id: int | None
    sequence: int


@dataclass(frozen=True, slots=True)
class PendingJob:
    id: int
    batch_id: int
    batch_name: str
    computer_id: int
    hostname: str
    kind: str
    status: str
    sequence: int


@dataclass(frozen=True, slots=True)
class PackageDetail:
    package: PackageInfo
    groups: list[PackageGroupRef] = field(default_factory=list)
    installations: list[InstallationInfo] = field(default_factory=list)
    pending_jobs: list[PendingJob] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class PackageGroupInfo:
    id: int
    key: str
    name: str
    parent_id: int | None
    description: str
    created_at: datetime
    package_count: int


@dataclass(frozen=True, slots=True)
class PackageListing:
    """Packages of a family or a group, with the groups to show beside them."""

    name: str
    packages: list[PackageInfo]
    groups: list[PackageGroupInfo]


@dataclass(frozen=True, slots=True)
class PayloadRef:
    """Where core keeps a payload; handed to the agent endpoint to stream it."""

    path: str
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class ImportedDependency:
    """A dependency rule of an imported package, naming the required package family by key
    (it is resolved to that family's newest package when imported)."""

    requires_key: str
    action: str = "setup"
    required_action: str | None = None
    required_status: str | None = "installed"
    requirement_type: str = "before"
    required_version: str | None = None
    required_package_version: str | None = None


@dataclass(frozen=True, slots=True)
class PackageImport:
    """A whole package read from a package archive (e.g. an opsi ``.opsi`` file): imported in
    one transaction by ``PackageService.import_package``. ``payload`` is a ZIP or None."""

    family_key: str
    name: str
    version: str
    package_version: str
    fields: PackageFields
    properties: tuple[Config, ...] = ()  # one per property key
    dependencies: tuple[ImportedDependency, ...] = ()
    payload: bytes | None = None
    # or the payload as a ZIP file on disk (a large package is spooled, never held in memory):
    # the import takes the file over (moves it into the payload store, or deletes it on failure)
    payload_file: Path | None = None
    # what the package keeps but fleetdeck does not run (``not_run``), as a ZIP taken over likewise
    server_files: Path | None = None
    source: str = ""  # what was imported (a file name), for the audit record
    # what the package brings that fleetdeck keeps but does not run, e.g. opsi's SERVER_DATA
    # and preinst/postinst scripts: (file, why), said in the import's answer and audit record
    not_run: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class ImportResult:
    package: PackageInfo
    replaced: bool  # the same family, version and package version existed and was replaced
    unresolved: tuple[str, ...] = ()  # required family keys with no package here (rule left out)
    not_run: tuple[tuple[str, str], ...] = ()  # the import's ``not_run``: kept, never run
