"""The secrets vault (``core.vault``): its one state row and its entries.

Both table names contain "secret" and "vault", so reports never read them
(``core.reports.policy.SECRET_TABLE_MARKERS``). Nothing here is readable without the vault
password: the state row holds only the KDF's salt and parameters and a random check value
encrypted under the derived key; an entry's value is AES-256-GCM ciphertext (nonce first).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fleetdeck.storage.tables.base import Base, BigId


class VaultSecretState(Base):
    """One row (id 1) once the vault is initialised; none before."""

    __tablename__ = "vault_secret_state"
    __table_args__ = {"sqlite_autoincrement": True}  # the id is always 1; this keeps the rule

    id: Mapped[int] = mapped_column(primary_key=True)
    kdf: Mapped[str] = mapped_column(String(20))  # "argon2id"
    salt: Mapped[bytes] = mapped_column(LargeBinary)
    time_cost: Mapped[int]
    memory_kib: Mapped[int]
    parallelism: Mapped[int]
    check_value: Mapped[bytes] = mapped_column(LargeBinary)  # nonce + AES-GCM(random 32 bytes)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(150))


class VaultSecretEntry(Base):
    """A secret, for one client (``client_id``) or for all (``client_id`` empty); its key is
    unique per client."""

    __tablename__ = "vault_secret_entries"
    __table_args__ = (UniqueConstraint("client_id", "key"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(200))
    key: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(20))
    required_group: Mapped[str] = mapped_column(String(150))
    value: Mapped[bytes] = mapped_column(LargeBinary)  # nonce + AES-256-GCM ciphertext and tag
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(150))
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(150))
