from __future__ import annotations

from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fleetdeck.storage.tables.base import Base, BigId


class ConfigEntry(Base):
    """A free-form configuration key that admins define (opsi's Config objects), with its
    allowed and default values; per-computer values are ``ConfigOverride`` rows."""

    __tablename__ = "config_entries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(8), default="str")  # "str" | "bool"
    description: Mapped[str] = mapped_column(Text, default="")
    possible_values: Mapped[list[Any]] = mapped_column(default=list)
    default_values: Mapped[list[Any]] = mapped_column(default=list)
    editable: Mapped[bool] = mapped_column(default=True)
    multi_value: Mapped[bool] = mapped_column(default=False)


class ConfigOverride(Base):
    __tablename__ = "config_overrides"
    __table_args__ = (UniqueConstraint("config_id", "computer_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    config_id: Mapped[int] = mapped_column(ForeignKey("config_entries.id", ondelete="CASCADE"), index=True)
    computer_id: Mapped[int] = mapped_column(ForeignKey("computers.id", ondelete="CASCADE"), index=True)
    values: Mapped[list[Any]] = mapped_column(default=list)


class PackageProperty(Base):
    """A setting a package's procedures read (opsi's ProductProperty), per package version."""

    __tablename__ = "package_properties"
    __table_args__ = (UniqueConstraint("package_id", "key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    package_id: Mapped[int] = mapped_column(ForeignKey("packages.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(8), default="str")  # "str" | "bool"
    description: Mapped[str] = mapped_column(Text, default="")
    possible_values: Mapped[list[Any]] = mapped_column(default=list)
    default_values: Mapped[list[Any]] = mapped_column(default=list)
    editable: Mapped[bool] = mapped_column(default=True)
    multi_value: Mapped[bool] = mapped_column(default=False)


class PackagePropertyValue(Base):
    """A computer's own values for a property of a package family (any version)."""

    __tablename__ = "package_property_values"
    __table_args__ = (UniqueConstraint("family_id", "key", "computer_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    family_id: Mapped[int] = mapped_column(ForeignKey("package_families.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(128))
    computer_id: Mapped[int] = mapped_column(ForeignKey("computers.id", ondelete="CASCADE"), index=True)
    values: Mapped[list[Any]] = mapped_column(default=list)
