"""Enrollment tokens and agent credentials."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from fleetdeck.core.audit import AuditLog
from fleetdeck.core.authz import Actor, Perm, Role
from fleetdeck.core.computers.naming import qualified_name
from fleetdeck.core.errors import AuthenticationFailed, NotFound, ValidationFailed
from fleetdeck.core.ports import Clock
from fleetdeck.core.secrets import SecretBox, random_hex, random_token
from fleetdeck.storage.db import Database
from fleetdeck.storage.tables import Computer, ComputerInterface, EnrollToken
from fleetdeck.storage.uow import UnitOfWork

TOKEN_PREFIX = "fde_"
KEY_CACHE_MAX = 100_000  # decrypted agent keys kept (a few MB at most)


@dataclass(frozen=True, slots=True)
class EnrollTokenInfo:
    id: int
    note: str
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    max_uses: int | None
    uses: int
    revoked: bool


@dataclass(frozen=True, slots=True)
class NewEnrollToken:
    info: EnrollTokenInfo
    token: str


@dataclass(frozen=True, slots=True)
class AgentCredentials:
    computer_id: int
    uid: str
    key: str


@dataclass(frozen=True, slots=True)
class AgentIdentity:
    computer_id: int
    uid: str
    hostname: str
    # What the server holds of the agent's inventory (read with the key: a hello pays per
    # transaction, and thousands come at once after a restart). Empty: none yet.
    inventory_digest: str = ""


def _info(t: EnrollToken) -> EnrollTokenInfo:
    return EnrollTokenInfo(
        id=t.id,
        note=t.note,
        created_at=t.created_at,
        created_by=t.created_by,
        expires_at=t.expires_at,
        max_uses=t.max_uses,
        uses=t.uses,
        revoked=t.revoked,
    )


def agent_actor(computer_id: int, hostname: str, source: str) -> Actor:
    """Agents act as themselves; they never get a user's permissions."""
    return Actor(
        user_id=None, username=f"agent:{hostname}"[:150], role=Role.VIEWER, source=source, via="agent"
    )


class EnrollmentService:
    def __init__(self, db: Database, audit: AuditLog, box: SecretBox, clock: Clock) -> None:
        self._db = db
        self._audit = audit
        self._box = box
        self._plain_keys: dict[str, str] = {}
        self._clock = clock

    def create_token(
        self,
        actor: Actor,
        *,
        expires_in: timedelta | None = timedelta(days=1),
        max_uses: int | None = None,
        note: str = "",
    ) -> NewEnrollToken:
        if max_uses is not None and max_uses < 1:
            raise ValidationFailed("uses must be at least 1", field="uses")
        if expires_in is not None and expires_in.total_seconds() <= 0:
            raise ValidationFailed("expiry must be in the future", field="expires")
        with self._audit.mutation(
            actor, "enroll_token.create", "enroll_token", perm=Perm.MANAGE_ENROLLMENT
        ) as m:
            now = self._clock()
            secret = TOKEN_PREFIX + random_token(24)
            row = EnrollToken(
                secret_hash=self._box.keyed_hash(secret),
                note=note[:255],
                created_at=now,
                created_by=actor.username,
                max_uses=max_uses,
                expires_at=now + expires_in if expires_in is not None else None,
            )
            m.session.add(row)
            m.session.flush()
            m.object_id = str(row.id)
            m.detail = {
                "max_uses": max_uses,
                "expires_at": row.expires_at.isoformat() if row.expires_at else None,
            }
            return NewEnrollToken(info=_info(row), token=secret)

    def list_tokens(self, actor: Actor) -> list[EnrollTokenInfo]:
        actor.require(Perm.MANAGE_ENROLLMENT)
        with UnitOfWork(self._db, readonly=True) as uow:
            return [_info(t) for t in uow.session.scalars(select(EnrollToken).order_by(EnrollToken.id))]

    def revoke_token(self, actor: Actor, token_id: int) -> None:
        with self._audit.mutation(
            actor, "enroll_token.revoke", "enroll_token", token_id, perm=Perm.MANAGE_ENROLLMENT
        ) as m:
            row = m.session.get(EnrollToken, token_id)
            if row is None:
                raise NotFound("enroll_token", token_id)
            row.revoked = True

    def enroll(
        self, token: str, *, hostname: str, machine_id: str, agent_version: str, source: str
    ) -> AgentCredentials:
        """Turn a valid enrollment token into a computer and its agent key.

        A computer that was pre-registered under this host name, or that enrolled before from the
        same machine (same machine id and host name), is taken over and re-keyed instead of
        duplicated, so reinstalling an agent keeps the computer's history.
        """
        hostname = hostname.strip()[:255]
        if not hostname:
            raise ValidationFailed("hostname must not be empty", field="hostname")
        actor = agent_actor(0, hostname, source)
        with self._audit.mutation(actor, "agent.enroll", "computer") as m:
            s = m.session
            now = self._clock()
            row = s.scalar(select(EnrollToken).where(EnrollToken.secret_hash == self._box.keyed_hash(token)))
            if (
                row is None
                or row.revoked
                or (row.expires_at is not None and row.expires_at <= now)
                or (row.max_uses is not None and row.uses >= row.max_uses)
            ):
                raise AuthenticationFailed("invalid, expired or used-up enrollment token")
            row.uses += 1
            computer = s.scalar(
                select(Computer).where(
                    func.lower(Computer.hostname) == hostname.lower(), Computer.agent_key_hash.is_(None)
                )
            )
            if computer is None and machine_id:
                computer = s.scalar(
                    select(Computer).where(
                        Computer.machine_id == machine_id[:64],
                        func.lower(Computer.hostname) == hostname.lower(),
                    )
                )
            key = random_hex(16)  # 32 hex characters: also valid as an opsi host key
            if computer is None:
                computer = Computer(
                    uid=uuid.uuid4().hex,
                    hostname=hostname,
                    created_at=now,
                    created_by=f"enroll-token:{row.id}",
                )
                s.add(computer)
            computer.machine_id = machine_id[:64]
            computer.agent_key_hash = self._box.keyed_hash(key)
            computer.agent_key_enc = self._box.encrypt(key)
            computer.agent_version = agent_version[:50]
            computer.enrolled_at = now
            s.flush()
            m.object_id = str(computer.id)
            m.detail = {"hostname": hostname, "enroll_token_id": row.id}
            return AgentCredentials(computer_id=computer.id, uid=computer.uid, key=key)

    def authenticate_agent(self, uid: str, key: str) -> AgentIdentity:
        with UnitOfWork(self._db, readonly=True) as uow:
            row = uow.session.execute(
                select(
                    Computer.id, Computer.hostname, Computer.agent_key_hash, Computer.inventory_digest
                ).where(Computer.uid == uid[:64])
            ).first()
        if row is None or row[2] is None or not self._box.matches(key, row[2]):
            raise AuthenticationFailed("unknown agent or wrong key")
        return AgentIdentity(computer_id=row[0], uid=uid, hostname=row[1], inventory_digest=row[3] or "")

    def authenticate_host(self, host_name: str, key: str, default_domain: str) -> AgentIdentity:
        """A computer proving itself with its qualified name and agent key (opsi clients log in
        with host id + host key). Constant-time key check; unknown names cost the same."""
        wanted = host_name.strip().lower()
        first = wanted.split(".")[0]
        with UnitOfWork(self._db, readonly=True) as uow:
            rows = uow.session.execute(
                select(Computer.id, Computer.uid, Computer.hostname, Computer.fqdn, Computer.agent_key_hash)
                .where(
                    (func.lower(Computer.fqdn) == wanted) | (func.lower(Computer.hostname) == first),
                    Computer.agent_key_hash.is_not(None),
                )
                .limit(50)
            ).all()
        for cid, uid, hostname, fqdn, key_hash in rows:
            if (
                key_hash is not None
                and qualified_name(hostname, fqdn, default_domain) == wanted
                and self._box.matches(key, key_hash)
            ):
                return AgentIdentity(computer_id=cid, uid=uid, hostname=hostname)
        self._box.matches(key, self._box.keyed_hash("-"))  # same work when nothing matched
        raise AuthenticationFailed("unknown host or wrong host key")

    def authenticate_host_by_mac(self, mac: str, key: str, default_domain: str) -> tuple[AgentIdentity, str]:
        """A computer proving itself with one of its MAC addresses and its agent key (opsi
        clients that do not know their host id yet, e.g. after a rename). Returns the identity
        and the host's qualified name, which the client should use from then on."""
        wanted = mac.strip().lower().replace("-", ":")
        with UnitOfWork(self._db, readonly=True) as uow:
            rows = uow.session.execute(
                select(Computer.id, Computer.uid, Computer.hostname, Computer.fqdn, Computer.agent_key_hash)
                .join(ComputerInterface, ComputerInterface.computer_id == Computer.id)
                .where(
                    ComputerInterface.mac.in_([wanted, wanted.upper()]),
                    Computer.agent_key_hash.is_not(None),
                )
                .distinct()
                .limit(50)
            ).all()
        for cid, uid, hostname, fqdn, key_hash in rows:
            if key_hash is not None and self._box.matches(key, key_hash):
                identity = AgentIdentity(computer_id=cid, uid=uid, hostname=hostname)
                return identity, qualified_name(hostname, fqdn, default_domain)
        self._box.matches(key, self._box.keyed_hash("-"))  # same work when nothing matched
        raise AuthenticationFailed("unknown host or wrong host key")

    def agent_keys(self, actor: Actor, computer_ids: list[int] | None) -> dict[int, str]:
        """Decrypted agent keys of many computers (``None``: of every computer) in one query
        (admins and operators only)."""
        actor.require(Perm.MANAGE_COMPUTERS)
        stmt = select(Computer.id, Computer.agent_key_enc).where(Computer.agent_key_enc.is_not(None))
        if computer_ids is not None:
            stmt = stmt.where(Computer.id.in_(computer_ids))
        with UnitOfWork(self._db, readonly=True) as uow:
            rows = uow.session.connection().execute(stmt).all()
        return {cid: self._decrypt_key(enc) for cid, enc in rows if enc}

    def _decrypt_key(self, enc: str) -> str:
        """Decrypting is ~30 us a key (Fernet: HMAC + AES); opsi's host list shows every key,
        so 10,000 hosts cost 300 ms a call. A ciphertext never changes meaning (a new key is a
        new ciphertext, with a fresh IV), so its plaintext is remembered, up to a bound."""
        plain = self._plain_keys.get(enc)
        if plain is None:
            plain = self._box.decrypt(enc)
            if len(self._plain_keys) >= KEY_CACHE_MAX:
                self._plain_keys.clear()
            self._plain_keys[enc] = plain
        return plain

    def agent_key(self, actor: Actor, computer_id: int) -> str | None:
        """Decrypt an agent key for dialects that show it (opsi host key, OCO agent_key)."""
        actor.require(Perm.MANAGE_COMPUTERS)
        with UnitOfWork(self._db, readonly=True) as uow:
            enc = uow.session.scalar(select(Computer.agent_key_enc).where(Computer.id == computer_id))
        return self._box.decrypt(enc) if enc else None
