"""Enrollment tokens and agent credentials."""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from fleetdeck.core.audit import AuditLog
from fleetdeck.core.authz import Actor, Perm, Role
from fleetdeck.core.computers.naming import qualified_name
from fleetdeck.core.enrollment.agent_secrets import bound_name
from fleetdeck.core.enrollment.identity import HardwareFacts, same_hardware
from fleetdeck.core.errors import AuthenticationFailed, NotFound, TooManyAttempts, ValidationFailed
from fleetdeck.core.ports import Clock
from fleetdeck.core.secrets import Passwords, SecretBox, random_hex, random_token
from fleetdeck.core.users.throttle import LoginThrottle
from fleetdeck.storage.db import Database
from fleetdeck.storage.tables import AgentSecret, Computer, ComputerInterface, EnrollToken
from fleetdeck.storage.uow import UnitOfWork

TOKEN_PREFIX = "fde_"
KEY_CACHE_MAX = 100_000  # decrypted agent keys kept (a few MB at most)
REENROLL_WINDOW = timedelta(days=1)  # how long an admin's "allow re-enrollment" lasts by default
MAX_MACS = 64  # network cards an enrolling agent may name (the frame is the agent's to fill)
ATTEMPT_MAX = 128  # characters of the agent's attempt id kept (it sends 32 hex)
# How long after an enrollment the same attempt may come back for its answer (the agent lost
# it: timed out, or its connection was cut after the server committed).
RETRY_WINDOW = timedelta(days=1)
MAX_LOOKALIKES = 20  # enrolled computers compared with a new agent (a golden image's clones)
_VERDICT = {True: "same", False: "different", None: "unknown"}


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
    # Set when this enrollment replaced the computer's previous agent (an allowed re-enroll):
    # connections authenticated before this moment hold a key that is no longer valid.
    replaced_enrollment: datetime | None = None
    clone_of: int | None = None  # the enrolled computer this new one resembles (audit note)


@dataclass(frozen=True, slots=True)
class AgentIdentity:
    computer_id: int
    uid: str
    hostname: str
    # What the server holds of the agent's inventory (read with the key: a hello pays per
    # transaction, and thousands come at once after a restart). Empty: none yet.
    inventory_digest: str = ""
    enrolled_at: datetime | None = None  # when the key this agent proved itself with was issued


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


# What a host login reads of a candidate computer, and which computers have a key at all.
_LOGIN_COLUMNS = (
    Computer.id,
    Computer.uid,
    Computer.hostname,
    Computer.fqdn,
    Computer.agent_key_hash,
    Computer.host_key_enc,
)
_HAS_KEY = Computer.agent_key_hash.is_not(None) | Computer.host_key_enc.is_not(None)


class EnrollmentService:
    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        box: SecretBox,
        clock: Clock,
        throttle: LoginThrottle | None = None,
        passwords: Passwords | None = None,
    ) -> None:
        self._passwords = passwords
        self._db = db
        self._throttle = throttle
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

    def check_token(self, token: str) -> EnrollTokenInfo:
        """The token, if it would enroll an agent now; it is not used up. The agent install
        script (``GET /install/agent.sh``) is handed out only for such a token, so a typo or an
        expired token fails at the download, not later on the managed computer."""
        with UnitOfWork(self._db, readonly=True) as uow:
            return _info(self._usable_token(uow.session, token, self._clock()))

    def _usable_token(self, s: Session, token: str, now: datetime) -> EnrollToken:
        row = s.scalar(select(EnrollToken).where(EnrollToken.secret_hash == self._box.keyed_hash(token)))
        if (
            row is None
            or row.revoked
            or (row.expires_at is not None and row.expires_at <= now)
            or (row.max_uses is not None and row.uses >= row.max_uses)
        ):
            raise AuthenticationFailed("invalid, expired or used-up enrollment token")
        return row

    def enroll(
        self,
        token: str,
        *,
        hostname: str,
        machine_id: str,
        agent_version: str,
        source: str,
        hardware_uuid: str = "",
        macs: Sequence[str] = (),
        attempt: str = "",
        client_auth: tuple[str, str] | None = None,
    ) -> AgentCredentials:
        """Turn a valid enrollment token into a computer and its agent key.

        ``client_auth``: an agent credential (id, password: ``core.enrollment.agent_secrets``,
        rportd's ``/clients-auth``) instead of a token; the password is checked against its
        argon2 hash, failures are audited ``auth.login`` and throttled per id and address as
        logins are (``TooManyAttempts``); a credential may enroll any number of agents, and
        the computer records which one (``created_by`` ``client-auth:<id>``). Retries with it
        are not recognised (``attempt`` belongs to tokens).

        A computer pre-registered under this host name (no agent yet) is taken over. A computer
        that already has an agent is never taken over silently: a new agent presenting its
        machine id (or firmware UUID) replaces it only when an admin allowed a re-enrollment
        (``allow_reenroll``) and the hardware does not differ (a re-install); otherwise the new
        agent becomes a computer of its own (a clone), and the audit notes which computer it
        resembles. See docs/operations.md, "Clones and re-installs".

        ``attempt`` is the random id the agent keeps on disk for this enrollment (empty: an
        older agent). The same attempt with the same token again, within RETRY_WINDOW, is a
        retry whose answer was lost: it gets the computer it created back, with a fresh key (a
        key is never handed out twice), and uses the token no further, even if that use was its
        last. See docs/reliability.md, "Enrollment retries".
        """
        hostname = hostname.strip()[:255]
        if not hostname:
            raise ValidationFailed("hostname must not be empty", field="hostname")
        machine_id = machine_id.strip()[:64]
        facts = HardwareFacts.of(hardware_uuid, list(macs)[:MAX_MACS])
        actor = agent_actor(0, hostname, source)
        attempt = attempt.strip()[:ATTEMPT_MAX] if client_auth is None else ""
        if client_auth is not None:
            self._check_client_auth(client_auth, source)
        with self._audit.mutation(actor, "agent.enroll", "computer") as m:
            s = m.session
            now = self._clock()
            again = self._retried(s, token, attempt, now) if attempt else None
            if again is not None:
                retried, token_id = again
                key = self._rekey(retried, now)
                s.flush()
                m.object_id = str(retried.id)
                m.detail = {"hostname": hostname, "enroll_token_id": token_id, "retry": True}
                return AgentCredentials(computer_id=retried.id, uid=retried.uid, key=key)
            detail: dict[str, Any] = {"hostname": hostname}
            if client_auth is None:
                row = self._usable_token(s, token, now)
                row.uses += 1
                detail["enroll_token_id"] = row.id
                creator = f"enroll-token:{row.id}"
            else:
                detail["client_auth_id"] = client_auth[0]
                creator = bound_name(client_auth[0])
            computer = s.scalar(
                select(Computer).where(
                    func.lower(Computer.hostname) == hostname.lower(), Computer.agent_key_hash.is_(None)
                )
            )
            replaced: Computer | None = None
            if computer is None:
                replaced, lookalike = self._match_enrolled(s, machine_id, facts, now)
                computer = replaced
                if lookalike is not None:
                    detail.update(lookalike)
            if computer is None:
                computer = Computer(
                    uid=uuid.uuid4().hex,
                    hostname=hostname,
                    created_at=now,
                    created_by=creator,
                )
                s.add(computer)
            previous = {
                "enrolled_at": computer.enrolled_at.isoformat() if computer.enrolled_at else None,
                "agent_version": computer.agent_version,
                "hostname": computer.hostname,
            }
            computer.machine_id = machine_id
            computer.hardware_uuid = facts.uuid or computer.hardware_uuid or ""
            computer.reenroll_until = None
            computer.agent_version = agent_version[:50]
            key = self._rekey(computer, now)
            computer.enroll_attempt_hash = (
                self._attempt_hash(int(detail["enroll_token_id"]), attempt) if attempt else None
            )
            s.flush()
            m.object_id = str(computer.id)
            if replaced is not None:
                detail["replaced"] = True
                self._audit.add(
                    s, actor, "agent.reenroll", "computer", computer.id, previous=previous, **detail
                )
            m.detail = detail
            return AgentCredentials(
                computer_id=computer.id,
                uid=computer.uid,
                key=key,
                replaced_enrollment=now if replaced is not None else None,
                clone_of=detail.get("clone_of"),
            )

    def _check_client_auth(self, client_auth: tuple[str, str], source: str) -> None:
        """AuthenticationFailed unless the credential's password is right (argon2; a dummy
        hash for an unknown id, so both take as long); throttled and audited as logins."""
        key, password = client_auth
        name = bound_name(key)[:150]
        self._check_throttle(name, source, "agent")
        with UnitOfWork(self._db, readonly=True) as uow:
            stored = uow.session.scalar(select(AgentSecret.password_hash).where(AgentSecret.key == key))
        passwords = self._passwords
        ok = passwords is not None and passwords.verify(stored or passwords.dummy_hash, password)
        if not ok or stored is None:
            self._login_failed(name, source, "agent")
            raise AuthenticationFailed("invalid client credentials")
        self._login_succeeded(name, source)

    def _attempt_hash(self, token_id: int, attempt: str) -> str:
        """Bound to the token: the same attempt id with another token is another attempt."""
        return self._box.keyed_hash(f"{token_id}:{attempt}")

    def _retried(self, s: Session, token: str, attempt: str, now: datetime) -> tuple[Computer, int] | None:
        """The computer an earlier try of this attempt with this token enrolled, and the
        token's id; None when there is none (a first try, or too long ago). The token need not
        be usable any more (that try may have used it up), only not revoked: revoking it is how
        an admin stops what it enrolls."""
        row = s.scalar(select(EnrollToken).where(EnrollToken.secret_hash == self._box.keyed_hash(token)))
        if row is None or row.revoked:
            return None  # the usual check refuses it
        computer = s.scalar(
            select(Computer).where(Computer.enroll_attempt_hash == self._attempt_hash(row.id, attempt))
        )
        if computer is None:
            return None
        if computer.enrolled_at is None or computer.enrolled_at + RETRY_WINDOW <= now:
            computer.enroll_attempt_hash = None  # too late: this try enrolls anew, and takes the id
            s.flush()
            return None
        return computer, row.id

    def _rekey(self, computer: Computer, now: datetime) -> str:
        """A new agent key for ``computer``, stored only hashed and encrypted; returned once."""
        key = random_hex(16)  # 32 hex characters: also valid as an opsi host key
        computer.agent_key_hash = self._box.keyed_hash(key)
        computer.agent_key_enc = self._box.encrypt(key)
        computer.enrolled_at = now
        return key

    def _match_enrolled(
        self, s: Session, machine_id: str, facts: HardwareFacts, now: datetime
    ) -> tuple[Computer | None, dict[str, Any] | None]:
        """The enrolled computer a new agent may replace, else None and, when the agent looks
        like an enrolled computer (same machine id or firmware UUID), what the audit should say."""
        same = [Computer.machine_id == machine_id] if machine_id else []
        if facts.uuid:
            same.append(Computer.hardware_uuid == facts.uuid)
        if not same:
            return None, None
        candidates = list(
            s.scalars(
                select(Computer)
                .where(or_(*same), Computer.agent_key_hash.is_not(None))
                # Those an admin allowed to re-enroll first: a golden image may have many clones.
                .order_by(Computer.reenroll_until.is_(None), Computer.id)
                .limit(MAX_LOOKALIKES)
            )
        )
        if not candidates:
            return None, None
        macs: dict[int, set[str]] = {}
        for cid, mac in s.execute(
            select(ComputerInterface.computer_id, ComputerInterface.mac).where(
                ComputerInterface.computer_id.in_([c.id for c in candidates])
            )
        ):
            macs.setdefault(cid, set()).add(mac)
        refused: dict[str, Any] | None = None
        for c in candidates:
            verdict = same_hardware(HardwareFacts.of(c.hardware_uuid, macs.get(c.id, ())), facts)
            allowed = c.reenroll_until is not None and c.reenroll_until > now
            if allowed and verdict is not False:
                return c, {"hardware": _VERDICT[verdict]}
            if refused is None or (allowed and not refused["reenroll_allowed"]):
                refused = {
                    "clone_of": c.id,
                    "clone_hostname": c.hostname,
                    "hardware": _VERDICT[verdict],
                    "reenroll_allowed": allowed,
                }
        return None, refused

    def allow_reenroll(
        self, actor: Actor, computer_id: int, within: timedelta | None = REENROLL_WINDOW
    ) -> datetime | None:
        """Let the next agent enrolling from this same machine replace the enrolled one, until
        ``within`` from now (None: take the permission back). Returns the new deadline."""
        if within is not None and within.total_seconds() <= 0:
            raise ValidationFailed("the window must be in the future", field="within")
        action = "computer.allow_reenroll" if within is not None else "computer.disallow_reenroll"
        with self._audit.mutation(actor, action, "computer", computer_id, perm=Perm.MANAGE_ENROLLMENT) as m:
            c = m.session.get(Computer, computer_id)
            if c is None:
                raise NotFound("computer", computer_id)
            c.reenroll_until = self._clock() + within if within is not None else None
            m.detail = {
                "hostname": c.hostname,
                "until": c.reenroll_until.isoformat() if c.reenroll_until else None,
            }
            return c.reenroll_until

    def authenticate_agent(self, uid: str, key: str) -> AgentIdentity:
        with UnitOfWork(self._db, readonly=True) as uow:
            row = uow.session.execute(
                select(
                    Computer.id,
                    Computer.hostname,
                    Computer.agent_key_hash,
                    Computer.inventory_digest,
                    Computer.enrolled_at,
                ).where(Computer.uid == uid[:64])
            ).first()
        if row is None or row[2] is None or not self._box.matches(key, row[2]):
            raise AuthenticationFailed("unknown agent or wrong key")
        return AgentIdentity(
            computer_id=row[0], uid=uid, hostname=row[1], inventory_digest=row[3] or "", enrolled_at=row[4]
        )

    def authenticate_host(
        self, host_name: str, key: str, default_domain: str, *, source: str = "", via: str = ""
    ) -> AgentIdentity:
        """A computer proving itself with its qualified name and key (opsi clients log in with
        host id + host key): an enrolled computer's agent key, or the host key recorded for a
        computer without an agent (``ComputerService.put``'s ``record``, e.g. opsi's
        ``host_createOpsiClient``). Constant-time key checks; unknown names cost the same.
        Throttled like user logins (``LoginThrottle``, per name and address); a failure is
        audited (``auth.login`` failed), never with the key."""
        wanted = host_name.strip().lower()
        first = wanted.split(".")[0]
        self._check_throttle(wanted, source, via)
        with UnitOfWork(self._db, readonly=True) as uow:
            rows = uow.session.execute(
                select(*_LOGIN_COLUMNS)
                .where(
                    (func.lower(Computer.fqdn) == wanted) | (func.lower(Computer.hostname) == first),
                    _HAS_KEY,
                )
                .limit(50)
            ).all()
        for cid, uid, hostname, fqdn, key_hash, host_key in rows:
            if qualified_name(hostname, fqdn, default_domain) == wanted and self._key_matches(
                key, key_hash, host_key
            ):
                self._login_succeeded(wanted, source)
                return AgentIdentity(computer_id=cid, uid=uid, hostname=hostname)
        self._box.matches(key, self._box.keyed_hash("-"))  # same work when nothing matched
        self._login_failed(wanted, source, via)
        raise AuthenticationFailed("unknown host or wrong host key")

    def authenticate_host_by_mac(
        self, mac: str, key: str, default_domain: str, *, source: str = "", via: str = ""
    ) -> tuple[AgentIdentity, str]:
        """A computer proving itself with one of its MAC addresses and its key (agent key or
        recorded host key, as ``authenticate_host``; opsi clients that do not know their host
        id yet, e.g. after a rename). The MAC is one the agent reported or, for a computer
        without an agent, the hardware address recorded for it (opsi's ``hardwareAddress``).
        Returns the identity and the host's qualified name, which the client should use from
        then on. Throttled and audited like ``authenticate_host``."""
        wanted = mac.strip().lower().replace("-", ":")
        self._check_throttle(wanted, source, via)
        with UnitOfWork(self._db, readonly=True) as uow:
            rows = uow.session.execute(
                select(*_LOGIN_COLUMNS)
                .outerjoin(ComputerInterface, ComputerInterface.computer_id == Computer.id)
                .where(
                    # the agent's inventory, or the hardware address recorded for a computer
                    # without an agent (opsi's host record: opsiconfd matches hardwareAddress)
                    ComputerInterface.mac.in_([wanted, wanted.upper()])
                    | Computer.given_mac.in_([wanted, wanted.upper()]),
                    _HAS_KEY,
                )
                .distinct()
                .limit(50)
            ).all()
        for cid, uid, hostname, fqdn, key_hash, host_key in rows:
            if self._key_matches(key, key_hash, host_key):
                self._login_succeeded(wanted, source)
                identity = AgentIdentity(computer_id=cid, uid=uid, hostname=hostname)
                return identity, qualified_name(hostname, fqdn, default_domain)
        self._box.matches(key, self._box.keyed_hash("-"))  # same work when nothing matched
        self._login_failed(wanted, source, via)
        raise AuthenticationFailed("unknown host or wrong host key")

    def host_key_current(self, computer_id: int, key: str) -> bool:
        """Whether ``key`` is still the computer's key (a session of a host login checks it on
        every use: changing or removing the key, or enrolling an agent, ends the session)."""
        with UnitOfWork(self._db, readonly=True) as uow:
            row = uow.session.execute(
                select(Computer.agent_key_hash, Computer.host_key_enc).where(Computer.id == computer_id)
            ).first()
        return row is not None and self._key_matches(key, row[0], row[1])

    def _key_matches(self, key: str, key_hash: str | None, host_key_enc: str | None) -> bool:
        """An enrolled computer's key is its agent key (the recorded host key no longer counts,
        as opsi's host list then shows the agent key); otherwise the recorded host key.
        Both compared in constant time."""
        if key_hash is not None:
            return self._box.matches(key, key_hash)
        if host_key_enc:
            plain = self._decrypt_key(host_key_enc)
            return hmac.compare_digest(plain.encode("utf-8"), key.encode("utf-8"))
        return False

    def _check_throttle(self, name: str, source: str, via: str) -> None:
        if self._throttle is None:
            return
        wait = self._throttle.retry_after(name, source)
        if wait > 0:
            self._audit.record(self._anon(name, source, via), "auth.login", "computer", name, "throttled")
            raise TooManyAttempts("too many failed logins; try again later", retry_after=round(wait, 1))

    def _login_failed(self, name: str, source: str, via: str) -> None:
        with UnitOfWork(self._db) as uow:
            if self._throttle is not None:
                self._throttle.failed(uow.session, name, source)
            self._audit.add(
                uow.session,
                self._anon(name, source, via),
                "auth.login",
                "computer",
                name,
                result="failed",
                reason="bad_credentials",
            )

    def _login_succeeded(self, name: str, source: str) -> None:
        """Clears this name's failures from this address, only when there are some (a host
        login is frequent: no write on the usual path)."""
        if self._throttle is None or not self._throttle.has_failures(name, source):
            return
        with UnitOfWork(self._db) as uow:
            self._throttle.succeeded(uow.session, name, source)

    @staticmethod
    def _anon(name: str, source: str, via: str) -> Actor:
        return Actor(user_id=None, username=name[:150], role=Role.VIEWER, source=source, via=via)

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
