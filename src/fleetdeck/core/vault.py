"""The secrets vault: entries (per computer or global) whose values are encrypted at rest under
a key only the vault password gives.

- Init takes a password, derives a 256-bit key with argon2id (random salt, the installation's
  argon2 cost) and stores only the salt, the parameters and a random check value encrypted under
  the key: the password and the key never reach the database, and the check value tells a wrong
  password on unlock. Init also unlocks.
- The key lives only in this process's memory (``VaultService._key``). After a restart the vault
  is locked until an admin unlocks it again. With several server processes each one holds its
  own key: an unlock or a lock reaches only the process that served it (docs/vault.md).
- Values are AES-256-GCM with a random 12-byte nonce (stored first); the entry's client id and
  key are the associated data, so a ciphertext copied onto another row does not decrypt.
- Every data call needs ``Perm.USE_VAULT`` and an unlocked vault; an entry with a
  ``required_group`` is read, changed or deleted only by members of that group (and admins).
- Init, unlock, lock and every entry change are audited; the detail never holds a value.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from datetime import datetime

from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fleetdeck.core import query as q
from fleetdeck.core.audit import AuditLog
from fleetdeck.core.authz import Actor, Perm, Role
from fleetdeck.core.errors import AuthenticationFailed, Conflict, NotFound, PermissionDenied, ValidationFailed
from fleetdeck.core.ports import Clock
from fleetdeck.core.secrets import Argon2Cost
from fleetdeck.storage.db import Database
from fleetdeck.storage.tables import UserGroupMember, VaultSecretEntry, VaultSecretState
from fleetdeck.storage.uow import UnitOfWork

ENTRY_TYPES = ("text", "secret", "markdown", "string")
MIN_PASSWORD = 4  # bytes: rportd's "32 to 256 bits"
MAX_PASSWORD = 32
MAX_KEY = 255
MAX_CLIENT_ID = 200
MAX_GROUP = 150
MAX_VALUE = 64 * 1024  # characters; the transports cap request bodies below this anyway
NONCE = 12
KDF = "argon2id"
_CHECK_AAD = b"fleetdeck-vault-check"
LOCKED = "vault is locked"
NOT_INITIALISED = "vault is not initialized"
# The fields lists may filter and sort on (values and groups are not among them).
ENTRY_FIELDS: q.Fields = {
    "id": VaultSecretEntry.id,
    "client_id": VaultSecretEntry.client_id,
    "key": VaultSecretEntry.key,
    "created_by": VaultSecretEntry.created_by,
    "created_at": VaultSecretEntry.created_at,
}


@dataclass(frozen=True, slots=True)
class VaultStatus:
    initialised: bool
    unlocked: bool


@dataclass(frozen=True, slots=True)
class VaultEntryInput:
    """A whole entry: updates replace every field (no partial updates)."""

    key: str
    value: str
    type: str
    client_id: str = ""  # "" = every computer
    required_group: str = ""  # "" = anyone with USE_VAULT


@dataclass(frozen=True, slots=True)
class VaultEntryInfo:
    id: int
    client_id: str
    key: str
    type: str
    required_group: str
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str
    value: str | None = None  # only when one entry is read


def _derive(password: str, state: VaultSecretState) -> bytes:
    return hash_secret_raw(
        password.encode(),
        state.salt,
        time_cost=state.time_cost,
        memory_cost=state.memory_kib,
        parallelism=state.parallelism,
        hash_len=32,
        type=Type.ID,
    )


def _seal(key: bytes, plain: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE)
    return nonce + AESGCM(key).encrypt(nonce, plain, aad)


def _open(key: bytes, sealed: bytes, aad: bytes) -> bytes:
    return AESGCM(key).decrypt(sealed[:NONCE], sealed[NONCE:], aad)


def _aad(client_id: str, key: str) -> bytes:
    return b"fleetdeck-vault-entry\x00" + client_id.encode() + b"\x00" + key.encode()


def _check_password(password: str) -> None:
    if not isinstance(password, str) or not MIN_PASSWORD <= len(password.encode()) <= MAX_PASSWORD:
        raise ValidationFailed(
            f"password must be {MIN_PASSWORD} to {MAX_PASSWORD} bytes long", field="password"
        )


def _check_entry(entry: VaultEntryInput) -> None:
    if not entry.key or not entry.key.strip():
        raise ValidationFailed("key is required", field="key")
    if not entry.value:
        raise ValidationFailed("value is required", field="value")
    if entry.type not in ENTRY_TYPES:
        raise ValidationFailed(f"type must be one of {', '.join(ENTRY_TYPES)}", field="type")
    for name, text, most in (
        ("key", entry.key, MAX_KEY),
        ("client_id", entry.client_id, MAX_CLIENT_ID),
        ("required_group", entry.required_group, MAX_GROUP),
        ("value", entry.value, MAX_VALUE),
    ):
        if len(text) > most:
            raise ValidationFailed(f"{name} is longer than {most} characters", field=name)
        if "\x00" in text:
            raise ValidationFailed(f"{name} must not contain NUL characters", field=name)


def _info(row: VaultSecretEntry, value: str | None = None) -> VaultEntryInfo:
    return VaultEntryInfo(
        row.id,
        row.client_id,
        row.key,
        row.type,
        row.required_group,
        row.created_at,
        row.created_by,
        row.updated_at,
        row.updated_by,
        value,
    )


def _require_admin(actor: Actor) -> None:
    if actor.role is not Role.ADMIN:
        raise PermissionDenied(
            f"{actor.username} is no admin: only admins initialise, unlock or lock the vault"
        )


class VaultService:
    def __init__(self, db: Database, audit: AuditLog, clock: Clock, cost: Argon2Cost) -> None:
        self._db = db
        self._audit = audit
        self._clock = clock
        self._cost = cost
        self._key: bytes | None = None  # only in this process's memory
        self._lock = threading.Lock()

    # -- state ---------------------------------------------------------------------------

    def status(self, actor: Actor) -> VaultStatus:
        actor.require(Perm.USE_VAULT)
        if self._key is not None:
            return VaultStatus(True, True)
        with UnitOfWork(self._db, readonly=True) as uow:
            initialised = uow.session.get(VaultSecretState, 1) is not None
        return VaultStatus(initialised, False)

    def init(self, actor: Actor, password: str) -> None:
        """Initialise and unlock. Conflict when already initialised (by any process)."""
        _require_admin(actor)
        _check_password(password)
        with self._lock, self._audit.mutation(actor, "vault.init", "vault", "vault") as m:
            if m.session.get(VaultSecretState, 1) is not None:
                raise Conflict("vault is already initialized")
            state = VaultSecretState(
                id=1,
                kdf=KDF,
                salt=os.urandom(16),
                time_cost=self._cost.time_cost,
                memory_kib=self._cost.memory_kib,
                parallelism=self._cost.parallelism,
                check_value=b"",
                created_at=self._clock(),
                created_by=actor.username,
            )
            key = _derive(password, state)
            state.check_value = _seal(key, os.urandom(32), _CHECK_AAD)
            m.session.add(state)
            try:
                m.session.flush()
            except IntegrityError:  # another process initialised it meanwhile
                raise Conflict("vault is already initialized") from None
            m.detail = {"kdf": KDF}
            self._key = key

    def unlock(self, actor: Actor, password: str) -> None:
        """AuthenticationFailed for a wrong password (audited as such)."""
        _require_admin(actor)
        _check_password(password)
        with self._lock, self._audit.mutation(actor, "vault.unlock", "vault", "vault") as m:
            if self._key is not None:
                raise Conflict("vault is already unlocked")
            state = m.session.get(VaultSecretState, 1)
            if state is None:
                raise Conflict(NOT_INITIALISED)
            key = _derive(password, state)
            try:
                _open(key, state.check_value, _CHECK_AAD)
            except InvalidTag:
                raise AuthenticationFailed("wrong password provided") from None
            self._key = key

    def lock(self, actor: Actor) -> None:
        """Forget the key in this process."""
        _require_admin(actor)
        with self._lock, self._audit.mutation(actor, "vault.lock", "vault", "vault") as m:
            if self._key is None:
                if m.session.get(VaultSecretState, 1) is None:
                    raise Conflict(NOT_INITIALISED)
                raise Conflict("vault is already locked")
            self._key = None

    def _unlocked(self, s: Session) -> bytes:
        """The key, or Conflict saying why there is none (a query only on that path)."""
        key = self._key
        if key is None:
            raise Conflict(LOCKED if s.get(VaultSecretState, 1) is not None else NOT_INITIALISED)
        return key

    # -- entries -------------------------------------------------------------------------

    def list(self, actor: Actor, query: q.Query) -> list[VaultEntryInfo]:
        """Every entry matching ``query`` (no values): one query whatever their number."""
        actor.require(Perm.USE_VAULT)
        with UnitOfWork(self._db, readonly=True) as uow:
            self._unlocked(uow.session)
            stmt, _ = q.apply_query(select(VaultSecretEntry), None, query, ENTRY_FIELDS)
            return [_info(r) for r in uow.session.scalars(stmt)]

    def get(self, actor: Actor, entry_id: int) -> VaultEntryInfo:
        """One entry with its value decrypted."""
        actor.require(Perm.USE_VAULT)
        with UnitOfWork(self._db, readonly=True) as uow:
            key = self._unlocked(uow.session)
            row = self._row(uow.session, actor, entry_id)
            value = _open(key, row.value, _aad(row.client_id, row.key)).decode()
            return _info(row, value)

    def create(self, actor: Actor, entry: VaultEntryInput) -> int:
        _check_entry(entry)
        with self._audit.mutation(actor, "vault.create", "vault", perm=Perm.USE_VAULT) as m:
            s = m.session
            key = self._unlocked(s)
            self._member(s, actor, entry.required_group)
            now = self._clock()
            row = VaultSecretEntry(
                client_id=entry.client_id,
                key=entry.key,
                type=entry.type,
                required_group=entry.required_group,
                value=_seal(key, entry.value.encode(), _aad(entry.client_id, entry.key)),
                created_at=now,
                created_by=actor.username,
                updated_at=now,
                updated_by=actor.username,
            )
            self._unique(s, entry, None)
            s.add(row)
            self._flush(s)
            m.object_id = str(row.id)
            m.detail = _detail(entry)
            return row.id

    def update(self, actor: Actor, entry_id: int, entry: VaultEntryInput) -> None:
        """Replace every field of the entry (and re-encrypt its value)."""
        _check_entry(entry)
        with self._audit.mutation(actor, "vault.update", "vault", entry_id, perm=Perm.USE_VAULT) as m:
            s = m.session
            key = self._unlocked(s)
            row = self._row(s, actor, entry_id)
            self._member(s, actor, entry.required_group)
            self._unique(s, entry, row.id)
            row.client_id = entry.client_id
            row.key = entry.key
            row.type = entry.type
            row.required_group = entry.required_group
            row.value = _seal(key, entry.value.encode(), _aad(entry.client_id, entry.key))
            row.updated_at = self._clock()
            row.updated_by = actor.username
            self._flush(s)
            m.detail = _detail(entry)

    def delete(self, actor: Actor, entry_id: int) -> None:
        with self._audit.mutation(actor, "vault.delete", "vault", entry_id, perm=Perm.USE_VAULT) as m:
            s = m.session
            self._unlocked(s)
            row = self._row(s, actor, entry_id)
            m.detail = {"client_id": row.client_id, "key": row.key}
            s.delete(row)

    # -- helpers -------------------------------------------------------------------------

    def _row(self, s: Session, actor: Actor, entry_id: int) -> VaultSecretEntry:
        row = s.get(VaultSecretEntry, entry_id)
        if row is None:
            raise NotFound("vault entry", entry_id)
        self._member(s, actor, row.required_group)
        return row

    @staticmethod
    def _member(s: Session, actor: Actor, group: str) -> None:
        """An entry's ``required_group`` admits its members and admins only."""
        if not group or actor.role is Role.ADMIN:
            return
        found = actor.user_id is not None and s.scalar(
            select(UserGroupMember.id).where(
                UserGroupMember.user_id == actor.user_id, UserGroupMember.group_name == group
            )
        )
        if not found:
            raise PermissionDenied(f"only members of group {group!r} may use this vault entry", group=group)

    @staticmethod
    def _unique(s: Session, entry: VaultEntryInput, own_id: int | None) -> None:
        other = s.scalar(
            select(VaultSecretEntry.id).where(
                VaultSecretEntry.client_id == entry.client_id, VaultSecretEntry.key == entry.key
            )
        )
        if other is not None and other != own_id:
            raise Conflict(f"entry with key {entry.key!r} already exists for client {entry.client_id!r}")

    @staticmethod
    def _flush(s: Session) -> None:
        try:
            s.flush()
        except IntegrityError:  # the same key written concurrently
            raise Conflict("an entry with this key and client id already exists") from None


def _detail(entry: VaultEntryInput) -> dict[str, str]:
    """What the audit keeps of an entry: never its value."""
    return {
        "client_id": entry.client_id,
        "key": entry.key,
        "type": entry.type,
        "required_group": entry.required_group,
    }
