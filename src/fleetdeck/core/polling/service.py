"""Polling agents: who may call, what they are told, what they report.

A polling agent signs every request body with its own key (HMAC-SHA256, hex) and puts an
increasing timestamp in it; the server answers with a body signed with the computer's server
key. Both keys are random, per computer, and encrypted at rest (``agent_key_enc``,
``agent_server_key_enc``); the agent key's keyed hash (``agent_key_hash``) is kept too, as for
every agent key. A request whose timestamp is not greater than the last accepted one is a
replay and is refused; the check and the update are one conditional UPDATE, so two copies of
one request racing each other cannot both pass.

An unknown host name registers itself when the transport allows it (``Registration``), signing
with the registration key; a computer an admin pre-registered (no agent key yet) proves itself
with that key once. Either way the server then hands out the computer's own keys.

Each method here is one call of the transport: authenticate, then do the work. Failures are
``AuthenticationFailed`` (the caller is not who it says: 401 in the transport) and
``ValidationFailed``/``NotFound``/``PermissionDenied`` (a request the server cannot serve: 400).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NoReturn

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from fleetdeck.core.audit import AuditLog
from fleetdeck.core.computers.entities import POLLING_AGENT
from fleetdeck.core.computers.inventory import apply_inventory
from fleetdeck.core.enrollment.service import agent_actor
from fleetdeck.core.errors import AuthenticationFailed, NotFound, ValidationFailed
from fleetdeck.core.jobs.entities import JobStatus
from fleetdeck.core.jobs.service import JobService
from fleetdeck.core.packages.entities import PayloadRef
from fleetdeck.core.packages.service import PackageService
from fleetdeck.core.polling.records import EventQuery, PasswordRequest, store_events, store_passwords, wanted
from fleetdeck.core.ports import Clock
from fleetdeck.core.secrets import SecretBox, random_hex
from fleetdeck.core.settings.service import SettingsService
from fleetdeck.protocol import messages as msg
from fleetdeck.storage.db import Database
from fleetdeck.storage.tables import Computer
from fleetdeck.storage.uow import UnitOfWork

INVENTORY_INTERVAL_SETTING = "polling.inventory_interval_sec"  # OCO's agent-update-interval
OFFLINE_AFTER_SETTING = "polling.offline_after_sec"  # OCO's computer-offline-seconds
# An inventory this soon after the last one is refused while an admin's forced inventory is
# pending: OCO's rule, word for word (see ``PollingAgentService.inventory``)
INVENTORY_MIN_SPACING = timedelta(seconds=25)
MIN_AGENT_VERSION = (1, 1, 7)  # older OCO agents send their key in plain text
MAX_TEXT = 4000


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """One request as it came: the raw body (what the signature covers), the signature header
    (None when missing), what the body says about its sender, and where it came from."""

    hostname: str
    timestamp: object
    body: bytes = field(repr=False)
    signature: str | None = field(repr=False)
    source: str = ""


@dataclass(frozen=True, slots=True)
class Registration:
    """Whether unknown host names may register, and the key they (and pre-registered
    computers) sign with; "" = none set."""

    enabled: bool = False
    key: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class PollFacts:
    """What a poll says about the machine besides its name."""

    agent_version: str = ""
    uptime_sec: float | None = None
    inventory_wanted: bool = False  # the agent asks to send its inventory (a user logged in...)
    # OCO's agent sends both on every poll (False for each without a battery): ``battery``
    # says whether this poll said anything about it, the values are None for "no battery"
    battery: bool = False
    battery_level: float | None = None  # 0..1
    battery_status: int | None = None  # 1 on mains power, 2 discharging


@dataclass(frozen=True, slots=True)
class JobReport:
    """A polling agent's word on one job: ``phase`` ``download`` (``progress`` 0..100, above
    100 = unpacking), ``execute`` (``output`` so far), or ``done`` / ``failed`` with the exit
    code and the output."""

    job_id: int
    phase: str
    exit_code: int | None = None
    output: str = ""
    progress: float | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    """What every answer carries: the computer, and the key to sign the answer with."""

    computer_id: int
    server_key: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class HelloAnswer(Answer):
    new_agent_key: str | None = field(default=None, repr=False)  # set: the agent must store it
    new_server_key: str | None = field(default=None, repr=False)  # set: the agent may store it
    inventory_due: bool = False
    jobs: list[msg.JobSpec] = field(default_factory=list)
    registered: bool = False
    event_queries: list[EventQuery] = field(default_factory=list)
    password_requests: list[PasswordRequest] = field(default_factory=list, repr=False)


@dataclass(frozen=True, slots=True)
class InventoryAnswer(Answer):
    accepted: bool = True  # False: sent too soon after the last one, nothing was applied


@dataclass(frozen=True, slots=True)
class StoredAnswer(Answer):
    stored: bool = False  # OCO's ``success`` of the passwords call: something was kept


@dataclass(frozen=True, slots=True)
class PayloadAnswer(Answer):
    payload: PayloadRef | None = None


@dataclass(frozen=True, slots=True)
class JobStateAnswer(Answer):
    status: JobStatus = JobStatus.RUNNING

    @property
    def succeeded(self) -> bool:
        return self.status == JobStatus.SUCCEEDED


@dataclass(slots=True)
class _Caller:
    computer: Computer
    server_key: str
    new_agent_key: str | None = None
    new_server_key: str | None = None
    registered: bool = False
    failed_jobs: list[int] = field(default_factory=list)


def _seen(c: Computer, now: datetime, req: SignedRequest) -> None:
    """A request of the computer's agent: it is online until ``polling.offline_after_sec``
    passes without another (``PollingAgentService.mark_offline``)."""
    c.last_seen = now
    c.online = True
    c.remote_address = req.source[:64]


def _battery(level: float | None, status: int | None) -> tuple[float | None, int | None]:
    ok_level = level if level is not None and 0.0 <= level <= 1.0 else None
    return (round(ok_level, 4) if ok_level is not None else None), (status if status in (1, 2) else None)


def version_tuple(version: str) -> tuple[int, ...] | None:
    """``1.1.7`` -> (1, 1, 7); None when it is not a dotted version (PHP's version_compare
    would still order it, but no OCO agent sends such a thing)."""
    parts = version.strip().split(".")
    if not parts or not all(p.isdigit() for p in parts):
        return None
    return tuple(int(p) for p in parts)


def outdated(version: str) -> bool:
    """An OCO agent older than 1.1.7: it authenticates with its key in plain text."""
    parsed = version_tuple(version)
    return parsed is not None and parsed < MIN_AGENT_VERSION


def _timestamp(value: object) -> float | None:
    """The request's timestamp as a number (a numeric string too), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def sign(key: str, body: bytes) -> str:
    """HMAC-SHA256 of ``body`` under ``key``, hex: how both sides sign."""
    return hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


def _signed_by(req: SignedRequest, key: str) -> bool:
    """Constant time; bytes, since ``compare_digest`` refuses text that is not ASCII."""
    if not key or req.signature is None:
        return False
    return hmac.compare_digest(sign(key, req.body).encode(), req.signature.encode("utf-8", "replace"))


class PollingAgentService:
    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        box: SecretBox,
        clock: Clock,
        jobs: JobService,
        packages: PackageService,
        settings: SettingsService,
    ) -> None:
        self._settings = settings
        self._db = db
        self._audit = audit
        self._box = box
        self._clock = clock
        self._jobs = jobs
        self._packages = packages

    # ------------------------------------------------------------ the calls

    def hello(self, req: SignedRequest, registration: Registration, facts: PollFacts) -> HelloAnswer:
        """A poll: registers an unknown host (when allowed), notes that the computer was seen
        (when, from where, which agent version, since when it runs), says whether its inventory
        is due, and hands over its open package jobs."""
        now = self._clock()
        interval = timedelta(seconds=int(self._settings.value(INVENTORY_INTERVAL_SETTING)))
        with self._caller(req, registration, may_register=True) as (s, caller):
            c = caller.computer
            _seen(c, now, req)
            if facts.agent_version:
                c.agent_version = facts.agent_version[:50]
            if facts.uptime_sec is not None and 0 <= facts.uptime_sec < 100 * 365 * 86400:
                c.boot_time = now - timedelta(seconds=facts.uptime_sec)
            if facts.battery:
                c.battery_level, c.battery_status = _battery(facts.battery_level, facts.battery_status)
            # OCO's rule: a new computer, the agent asks (a user logged in), an admin asked
            # (force_update, cleared by the inventory), or the last one is older than the interval
            due = (
                caller.registered
                or facts.inventory_wanted
                or c.force_update
                or c.inventory_at is None
                or now - c.inventory_at > interval
            )
            cid = c.id
            jobs = self._jobs.claim_for_polling(s, cid, req.source)
            events, passwords = wanted(s, self._settings, self._box, c, now)
        self._jobs.finished(caller.failed_jobs)
        return HelloAnswer(
            computer_id=cid,
            server_key=caller.server_key,
            new_agent_key=caller.new_agent_key,
            new_server_key=caller.new_server_key,
            inventory_due=due,
            jobs=jobs,
            registered=caller.registered,
            event_queries=events,
            password_requests=passwords,
        )

    def inventory(self, req: SignedRequest, inv: msg.Inventory) -> InventoryAnswer:
        """The agent's inventory, into the same model fleetdeck's agent feeds (audited as
        ``computer.inventory``, like theirs).

        Refused (``accepted`` False, nothing applied, the computer still noted as seen and the
        refusal audited) when it comes less than ``INVENTORY_MIN_SPACING`` after the last one
        while an admin's forced inventory is pending. That is the condition OCO 1.2 checks
        (``last_update`` < 25 s ago *and* ``force_update`` set); its comment speaks of load, and
        an inventory the agent sends on its own (a user logged in) is not limited by it. Kept
        as OCO has it, so an agent sees the same answers from both servers; the next poll still
        asks for the inventory (``force_update`` stays set), so nothing is lost."""
        now = self._clock()
        digest = msg.inventory_digest(inv)
        with self._caller(req, Registration(), may_register=False) as (s, caller):
            c = caller.computer
            _seen(c, now, req)
            actor = agent_actor(c.id, c.hostname, req.source)
            last = c.inventory_at
            if c.force_update and last is not None and now - last < INVENTORY_MIN_SPACING:
                self._audit.add(
                    s,
                    actor,
                    "computer.inventory",
                    "computer",
                    c.id,
                    result="refused",
                    reason=f"sent {(now - last).total_seconds():.0f} s after the last inventory, less than"
                    f" {INVENTORY_MIN_SPACING.total_seconds():.0f} s",
                )
                return InventoryAnswer(computer_id=c.id, server_key=caller.server_key, accepted=False)
            c.force_update = False
            changed = apply_inventory(s, c, inv, digest, now)
            self._audit.add(s, actor, "computer.inventory", "computer", c.id, changed=changed)
            return InventoryAnswer(computer_id=c.id, server_key=caller.server_key)

    def events(self, req: SignedRequest, events: Sequence[Mapping[str, Any]]) -> StoredAnswer:
        """Event log entries the agent found for the hello's event queries: stored (bounded;
        housekeeping purges old ones). Audited as ``computer.events`` with the count."""
        now = self._clock()
        with self._caller(req, Registration(), may_register=False) as (s, caller):
            c = caller.computer
            _seen(c, now, req)
            count = store_events(s, c.id, events, now)
            if count:
                actor = agent_actor(c.id, c.hostname, req.source)
                self._audit.add(s, actor, "computer.events", "computer", c.id, stored=count)
            return StoredAnswer(computer_id=c.id, server_key=caller.server_key, stored=True)

    def passwords(self, req: SignedRequest, items: Sequence[Mapping[str, Any]]) -> StoredAnswer:
        """Passwords the agent rotated (encrypted with its key) or revokes: stored encrypted
        at rest for the user names a rotation rule names. Audited (``computer.password_rotated``
        / ``computer.password_revoked``, the user names, never the passwords).
        ValidationFailed when one does not decrypt (nothing is stored then, so the agent keeps
        its old password)."""
        now = self._clock()
        with self._caller(req, Registration(), may_register=False) as (s, caller):
            c = caller.computer
            _seen(c, now, req)
            agent_key = self._box.decrypt(c.agent_key_enc or "")
            stored, rotated, revoked = store_passwords(
                s, self._settings, self._box, c.id, agent_key, items, now
            )
            actor = agent_actor(c.id, c.hostname, req.source)
            if rotated:
                self._audit.add(s, actor, "computer.password_rotated", "computer", c.id, usernames=rotated)
            if revoked:
                self._audit.add(s, actor, "computer.password_revoked", "computer", c.id, usernames=revoked)
            return StoredAnswer(computer_id=c.id, server_key=caller.server_key, stored=stored)

    def seen(self, req: SignedRequest) -> Answer:
        """A request that only proves the agent is there (one whose data fleetdeck does not
        keep): authenticated, its timestamp taken, the computer noted as seen."""
        now = self._clock()
        with self._caller(req, Registration(), may_register=False) as (_s, caller):
            _seen(caller.computer, now, req)
            return Answer(computer_id=caller.computer.id, server_key=caller.server_key)

    def payload(self, req: SignedRequest, package_id: object) -> PayloadAnswer:
        """The payload of a package, only while the computer has an open job for it."""
        with self._caller(req, Registration(), may_register=False) as (_s, caller):
            cid, key = caller.computer.id, caller.server_key
        pid = _number(package_id)
        if pid is None:
            raise NotFound("package", package_id)
        return PayloadAnswer(
            computer_id=cid, server_key=key, payload=self._packages.payload_for_agent(cid, pid)
        )

    def job_state(self, req: SignedRequest, report: JobReport) -> JobStateAnswer:
        """Progress or the end of one of the computer's jobs. A finished package job is judged
        by its success code list; the answer says whether it succeeded (the agent skips the
        rest of a deployment that stops at the first failure)."""
        now = self._clock()
        with self._caller(req, Registration(), may_register=False) as (_s, caller):
            _seen(caller.computer, now, req)
            cid, key = caller.computer.id, caller.server_key
        at = now.timestamp()
        output = report.output  # capped where it is stored
        if report.phase in ("done", "failed"):
            result = msg.JobResult(
                job_id=report.job_id,
                status="succeeded" if report.phase == "done" else "failed",
                exit_code=report.exit_code,
                stdout=output,
                finished_at=at,
                message="" if report.phase == "done" else _first_line(output),
            )
            status = self._jobs.report_polled(cid, report.job_id, result=result)
        else:
            phase = report.phase
            progress = None
            if phase == "download" and report.progress is not None:
                if report.progress > 100:
                    phase = "unpack"
                else:
                    progress = max(0, int(report.progress))
            update_ = msg.JobUpdate(
                job_id=report.job_id, status="running", at=at, phase=phase, progress=progress
            )
            status = self._jobs.report_polled(
                cid, report.job_id, update=update_, output=output if phase == "execute" else None
            )
        return JobStateAnswer(computer_id=cid, server_key=key, status=status)

    def refuse_outdated(self, req: SignedRequest, version: str) -> NoReturn:
        """An OCO agent older than 1.1.7 (it sends its key in the body, unsigned, which OCO
        still takes): refused, recorded as any failed authentication, with the reason."""
        reason = (
            f"Agent version {version or 'unknown'} is older than 1.1.7 and authenticates with a"
            " plain-text key, which this server does not accept; update the agent"
        )
        hostname = req.hostname.strip()[:255]
        with UnitOfWork(self._db, readonly=True) as uow:
            cid = uow.session.scalar(
                select(Computer.id).where(func.lower(Computer.hostname) == hostname.lower()).limit(1)
            )
        self._audit.record(
            agent_actor(cid or 0, hostname, req.source),
            "agent.authenticate",
            "computer",
            cid or "",
            result="denied",
            hostname=hostname,
            reason=reason,
        )
        raise AuthenticationFailed(reason)

    def mark_offline(self) -> int:
        """Periodic (housekeeping): a polling agent's computer is online while it polls; one
        that has not called for ``polling.offline_after_sec`` (OCO's computer-offline-seconds:
        two query intervals and a grace) is offline, in every dialect. Returns how many."""
        cutoff = self._clock() - timedelta(seconds=int(self._settings.value(OFFLINE_AFTER_SETTING)))
        with UnitOfWork(self._db) as uow:
            result = uow.session.execute(
                update(Computer)
                .where(
                    Computer.agent_kind == POLLING_AGENT,
                    Computer.online.is_(True),
                    or_(Computer.last_seen.is_(None), Computer.last_seen < cutoff),
                )
                .values(online=False)
                .execution_options(synchronize_session=False)
            )
            return int(getattr(result, "rowcount", 0) or 0)

    # ------------------------------------------------------------ authentication

    @contextmanager
    def _caller(
        self, req: SignedRequest, registration: Registration, *, may_register: bool
    ) -> Iterator[tuple[Session, _Caller]]:
        """A transaction in which the request's sender is authenticated (and its timestamp
        taken). A refusal rolls it back and is recorded in a transaction of its own, after."""
        try:
            with UnitOfWork(self._db) as uow:
                yield (
                    uow.session,
                    self._authenticate(uow.session, req, registration, may_register=may_register),
                )
        except _Refusal as refusal:
            self._audit.record(
                agent_actor(refusal.computer_id or 0, refusal.hostname, req.source),
                "agent.authenticate",
                "computer",
                refusal.computer_id or "",
                result="denied",
                hostname=refusal.hostname,
                reason=refusal.reason,
            )
            raise AuthenticationFailed(refusal.reason) from None

    def _authenticate(
        self, s: Session, req: SignedRequest, registration: Registration, *, may_register: bool
    ) -> _Caller:
        hostname = req.hostname.strip()[:255]
        if not hostname:
            raise ValidationFailed("hostname missing", field="hostname")
        ts = _timestamp(req.timestamp)
        c = s.scalar(
            select(Computer)
            .where(func.lower(Computer.hostname) == hostname.lower())
            # the polling agent's own computer first, then one waiting for an agent
            .order_by(
                (Computer.agent_kind != POLLING_AGENT), Computer.agent_key_hash.is_not(None), Computer.id
            )
            .limit(1)
        )
        if c is None:
            if not may_register:
                self._deny(hostname, None, req, "Computer not found")
            if not registration.enabled:
                self._deny(hostname, None, req, "Client self-registration is disabled")
            self._check_signature(hostname, None, req, registration.key)
            if ts is None:
                self._deny(hostname, None, req, "Agent timestamp too old")
            return self._register(s, hostname, req, ts)
        pre_registered = c.agent_key_enc is None
        key = registration.key if pre_registered else self._box.decrypt(c.agent_key_enc or "")
        self._check_signature(hostname, c.id, req, key)
        if ts is None or not _advance(s, c.id, ts):
            self._deny(hostname, c.id, req, "Agent timestamp too old")
        caller = _Caller(computer=c, server_key="")
        if pre_registered:
            caller.new_agent_key = self._issue_agent_key(c)
            caller.registered = True
            # commands/actions queued for the agent it was waiting for cannot run now
            caller.failed_jobs = self._jobs.fail_incapable(s, c.id, c.hostname, POLLING_AGENT)
            self._audit.add(
                s,
                agent_actor(c.id, hostname, req.source),
                "agent.register",
                "computer",
                c.id,
                hostname=c.hostname,
                agent_kind=POLLING_AGENT,
                pre_registered=True,
            )
        if c.agent_server_key_enc is None:
            caller.new_server_key = self._issue_server_key(c)
            caller.server_key = caller.new_server_key
        else:
            caller.server_key = self._box.decrypt(c.agent_server_key_enc)
        return caller

    def _register(self, s: Session, hostname: str, req: SignedRequest, ts: float) -> _Caller:
        now = self._clock()
        c = Computer(
            uid=uuid.uuid4().hex,
            hostname=hostname,
            created_at=now,
            created_by="self-registration",
            agent_timestamp=ts,
        )
        s.add(c)
        agent_key = self._issue_agent_key(c)
        server_key = self._issue_server_key(c)
        s.flush()
        self._audit.add(
            s,
            agent_actor(c.id, hostname, req.source),
            "agent.register",
            "computer",
            c.id,
            hostname=hostname,
            agent_kind=POLLING_AGENT,
            pre_registered=False,
        )
        return _Caller(
            computer=c,
            server_key=server_key,
            new_agent_key=agent_key,
            new_server_key=server_key,
            registered=True,
        )

    def _issue_agent_key(self, c: Computer) -> str:
        key = random_hex(16)
        c.agent_key_hash = self._box.keyed_hash(key)
        c.agent_key_enc = self._box.encrypt(key)
        c.agent_kind = POLLING_AGENT
        c.enrolled_at = self._clock()
        return key

    def _issue_server_key(self, c: Computer) -> str:
        key = random_hex(16)
        c.agent_server_key_enc = self._box.encrypt(key)
        return key

    def _check_signature(self, hostname: str, cid: int | None, req: SignedRequest, key: str) -> None:
        if req.signature is None:
            self._deny(hostname, cid, req, "Signature header missing")
        if not _signed_by(req, key):
            self._deny(hostname, cid, req, "Invalid agent signature")

    def _deny(self, hostname: str, cid: int | None, req: SignedRequest, reason: str) -> NoReturn:
        raise _Refusal(hostname, cid, reason)


class _Refusal(Exception):
    def __init__(self, hostname: str, computer_id: int | None, reason: str) -> None:
        super().__init__(reason)
        self.hostname = hostname
        self.computer_id = computer_id
        self.reason = reason


def _advance(s: Session, computer_id: int, ts: float) -> bool:
    """Store ``ts`` as the newest accepted timestamp if it is newer than the stored one; False
    (a replay, or an older request overtaken by a newer one) otherwise. One statement: two
    copies of a request cannot both pass."""
    result = s.execute(
        update(Computer)
        .where(
            Computer.id == computer_id,
            or_(Computer.agent_timestamp.is_(None), Computer.agent_timestamp < ts),
        )
        .values(agent_timestamp=ts)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def _number(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    return value if isinstance(value, int) and 0 < value < 2**63 else None


def _first_line(text: str) -> str:
    return text.strip().splitlines()[-1][:MAX_TEXT] if text.strip() else ""


__all__ = [
    "Answer",
    "HelloAnswer",
    "InventoryAnswer",
    "JobReport",
    "JobStateAnswer",
    "PayloadAnswer",
    "PollFacts",
    "PollingAgentService",
    "Registration",
    "SignedRequest",
    "StoredAnswer",
    "outdated",
    "sign",
]
