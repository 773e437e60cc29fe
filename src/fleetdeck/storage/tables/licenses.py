from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fleetdeck.storage.tables.base import Base, BigId


class LicenseContract(Base):
    __tablename__ = "license_contracts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    partner: Mapped[str] = mapped_column(String(255), default="")
    concluded_at: Mapped[datetime | None]
    notify_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]


class LicensePool(Base):
    __tablename__ = "license_pools"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    product_keys: Mapped[list[Any]] = mapped_column(default=list)  # package family keys


class SoftwareLicense(Base):
    """One license of a contract: retail, oem (bound to one computer), volume or concurrent."""

    __tablename__ = "software_licenses"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)
    contract_id: Mapped[int] = mapped_column(
        ForeignKey("license_contracts.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(12), default="retail")
    max_installations: Mapped[int] = mapped_column(default=1)  # 0 = unlimited
    bound_computer_id: Mapped[int | None] = mapped_column(ForeignKey("computers.id", ondelete="SET NULL"))
    expires_at: Mapped[datetime | None]


class LicensePoolMember(Base):
    """A license offered by a pool, with the key to use (encrypted: license keys are secrets)."""

    __tablename__ = "license_pool_members"
    __table_args__ = (UniqueConstraint("license_id", "pool_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    license_id: Mapped[int] = mapped_column(
        ForeignKey("software_licenses.id", ondelete="CASCADE"), index=True
    )
    pool_id: Mapped[int] = mapped_column(ForeignKey("license_pools.id", ondelete="CASCADE"), index=True)
    license_key_enc: Mapped[str] = mapped_column(Text, default="")


class LicenseAssignment(Base):
    """A license of a pool in use by a computer (opsi's licenseOnClient)."""

    __tablename__ = "license_assignments"
    __table_args__ = (UniqueConstraint("license_id", "pool_id", "computer_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    license_id: Mapped[int] = mapped_column(
        ForeignKey("software_licenses.id", ondelete="CASCADE"), index=True
    )
    pool_id: Mapped[int] = mapped_column(ForeignKey("license_pools.id", ondelete="CASCADE"), index=True)
    computer_id: Mapped[int] = mapped_column(ForeignKey("computers.id", ondelete="CASCADE"), index=True)
    license_key_enc: Mapped[str] = mapped_column(Text, default="")
    notes: Mapped[str] = mapped_column(Text, default="")


class LicensePoolSoftware(Base):
    """Installed software (as the inventory names it) that counts against a pool: opsi's
    AuditSoftwareToLicensePool. ``sub_version``/``language``/``architecture`` are "" when unknown."""

    __tablename__ = "license_pool_software"
    __table_args__ = (
        UniqueConstraint("pool_id", "name", "version", "sub_version", "language", "architecture"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("license_pools.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    version: Mapped[str] = mapped_column(String(255), default="")
    sub_version: Mapped[str] = mapped_column(String(255), default="")
    language: Mapped[str] = mapped_column(String(64), default="")
    architecture: Mapped[str] = mapped_column(String(32), default="")
