"""Deployable software: families, packages (versions), dependencies, package-group membership
and installation records (what fleetdeck installed where)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fleetdeck.storage.tables.base import Base, BigId


class PackageFamily(Base):
    """A product; ``key`` is the stable slug dialects address it by (opsi productId)."""

    __tablename__ = "package_families"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)
    # A display name, not an identity (the key is): two families may share one, as two opsi
    # products may. fleetdeck's own rename refuses a name another family has.
    name: Mapped[str] = mapped_column(String(255), index=True)
    notes: Mapped[str] = mapped_column(Text, default="")
    icon: Mapped[bytes | None] = mapped_column(LargeBinary)
    license_count: Mapped[int | None]
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(150), default="")


class Package(Base):
    """One version of a family, with its procedures and an optional payload (a ZIP)."""

    __tablename__ = "packages"
    __table_args__ = (
        UniqueConstraint("family_id", "version", "package_version", name="uq_packages_family_version"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    family_id: Mapped[int] = mapped_column(ForeignKey("package_families.id", ondelete="RESTRICT"), index=True)
    version: Mapped[str] = mapped_column(String(255))
    package_version: Mapped[str] = mapped_column(String(64), default="1")
    description: Mapped[str] = mapped_column(Text, default="")
    install_procedure: Mapped[str] = mapped_column(Text, default="")
    install_success_codes: Mapped[str] = mapped_column(String(255), default="0")
    install_post_action: Mapped[int] = mapped_column(default=0)
    uninstall_procedure: Mapped[str] = mapped_column(Text, default="")
    uninstall_success_codes: Mapped[str] = mapped_column(String(255), default="0")
    download_for_uninstall: Mapped[bool] = mapped_column(default=False)
    uninstall_post_action: Mapped[int] = mapped_column(default=0)
    upgrade_behavior: Mapped[int] = mapped_column(default=0)
    line_endings: Mapped[str | None] = mapped_column(String(10))
    compatible_os: Mapped[str] = mapped_column(Text, default="")
    compatible_os_version: Mapped[str] = mapped_column(Text, default="")
    compatible_architecture: Mapped[str] = mapped_column(Text, default="")
    license_count: Mapped[int | None]
    # Order among packages with no dependency between them: higher first (-100..100, opsi's range).
    priority: Mapped[int] = mapped_column(default=0, server_default="0")
    payload_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    payload_size: Mapped[int | None] = mapped_column(BigInteger)
    # What an imported package brings for the server and fleetdeck keeps but never runs (opsi's
    # SERVER_DATA, preinst/postinst): a ZIP in the payload store, never sent to agents.
    server_files_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(150), default="")
    updated_at: Mapped[datetime]


class PackageDependency(Base):
    """When ``package_id`` gets ``action``, ``requires_id`` must be in ``required_status`` (or
    get ``required_action``) ``requirement_type`` it ("before", "after", or "" = in any order).

    The common rule, and the one fleetdeck's own deployments act on, is "install requires the
    other installed before": action ``setup``, required_status ``installed``, type ``before``.
    """

    __tablename__ = "package_dependencies"

    package_id: Mapped[int] = mapped_column(ForeignKey("packages.id", ondelete="CASCADE"), primary_key=True)
    action: Mapped[str] = mapped_column(String(16), primary_key=True, default="setup")
    requires_id: Mapped[int] = mapped_column(
        ForeignKey("packages.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    required_action: Mapped[str | None] = mapped_column(String(16))
    # No default: None is a real value here (the rule names a required action instead).
    required_status: Mapped[str | None] = mapped_column(String(16))
    requirement_type: Mapped[str] = mapped_column(String(8), default="before")
    # opsi's requiredProductVersion/requiredPackageVersion: the rule holds only while the depot
    # offers (and, for a required status, the computer has) these versions. None = any version.
    required_version: Mapped[str | None] = mapped_column(String(255))
    required_package_version: Mapped[str | None] = mapped_column(String(64))


class PackageGroupMember(Base):
    """Ordered members of a package group (a ``groups`` row of kind ``package``)."""

    __tablename__ = "package_group_members"

    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True)
    package_id: Mapped[int] = mapped_column(
        ForeignKey("packages.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    sequence: Mapped[int] = mapped_column(default=1)


class Installation(Base):
    """fleetdeck installed this package on this computer (not what inventory found)."""

    __tablename__ = "installations"
    __table_args__ = (
        UniqueConstraint("computer_id", "package_id", name="uq_installations_computer_package"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    computer_id: Mapped[int] = mapped_column(ForeignKey("computers.id", ondelete="CASCADE"), index=True)
    package_id: Mapped[int] = mapped_column(ForeignKey("packages.id", ondelete="CASCADE"), index=True)
    installed_at: Mapped[datetime]
    procedure: Mapped[str] = mapped_column(Text, default="")
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))


class PackageState(Base):
    """The state of a package family on a computer (opsi's productOnClient): what is installed,
    the action requested (``job_id``: the job that carries it out, if any), the last action and
    its result, the progress the agent reports. Written by job outcomes and by admins; read by
    every dialect. One row per (computer, family), kept when the request goes back to ``none``."""

    __tablename__ = "package_states"
    __table_args__ = (
        UniqueConstraint("computer_id", "family_id", name="uq_package_states_computer_family"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    computer_id: Mapped[int] = mapped_column(ForeignKey("computers.id", ondelete="CASCADE"), index=True)
    family_id: Mapped[int] = mapped_column(ForeignKey("package_families.id", ondelete="CASCADE"), index=True)
    installation_status: Mapped[str] = mapped_column(String(16), default="not_installed")
    action_request: Mapped[str] = mapped_column(String(16), default="none")
    last_action: Mapped[str | None] = mapped_column(String(16))
    action_result: Mapped[str | None] = mapped_column(String(16))
    action_progress: Mapped[str | None] = mapped_column(String(255))
    target_configuration: Mapped[str | None] = mapped_column(String(16))
    version: Mapped[str | None] = mapped_column(String(255))
    package_version: Mapped[str | None] = mapped_column(String(64))
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"), index=True)
    modified_at: Mapped[datetime]


class PayloadUpload(Base):
    """A payload being uploaded in pieces (``core.packages.uploads``). The bytes received so far
    are the spool file ``<payload dir>/.uploads/<id>.part``, whose size is the offset: the row
    says what the upload is for and who started it, so a resumed upload needs no write here."""

    __tablename__ = "payload_uploads"
    __table_args__ = {"sqlite_autoincrement": True}  # an abandoned upload's id never names a new one

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # None: the size is known only when the body ends (a multipart form in one request).
    length: Mapped[int | None] = mapped_column(BigInteger)
    filename: Mapped[str] = mapped_column(String(255), default="")
    package_id: Mapped[int | None] = mapped_column(ForeignKey("packages.id", ondelete="CASCADE"), index=True)
    expected_sha256: Mapped[str | None] = mapped_column(String(64))
    sha256: Mapped[str | None] = mapped_column(String(64))  # set when complete
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(150), default="")
    user_id: Mapped[int | None] = mapped_column(index=True)
    completed_at: Mapped[datetime | None]
