"""What polling (OCO) agents hand over besides inventory and job states: entries of the
computer's event logs, and the local account passwords they rotated.

Both are asked for by the server, as OCO asks for them in its hello answer:

* **events**: every poll lists the event queries (``polling.event_queries``, each ``<log>|<query>``
  as OCO's event query rules: a Windows event log and its XPath query, or ``journalctl`` and a
  JSON query on Linux), each with ``since`` = the newest event already stored for the
  computer. The agent sends what it found (``oco.agent.events``). Entries are stored as given
  (duplicates of one already stored are skipped, as OCO does), at most
  ``MAX_EVENTS_PER_COMPUTER`` per computer (the oldest go first) and purged after
  ``polling.event_retention_sec`` (OCO's purge-events-after, 7 days) by housekeeping.
* **passwords**: the user names in ``polling.password_rotation_users`` (OCO's password
  rotation rules: each ``<user name>`` for every computer, or ``<group id>|<user name>`` for
  the computers that are direct members of that computer group, as OCO limits a rule to a
  group; length, alphabet, validity and history are shared settings) are due when the newest
  stored password for that name is older than ``polling.password_rotation_sec``; the poll
  asks the agent for a new password of ``polling.password_length`` characters of
  ``polling.password_alphabet``. The agent sets
  it locally only after the server stored it (``oco.agent.passwords``; it sends it AES-256-CBC
  encrypted with its agent key), and revokes it if setting it failed (allowed within five
  minutes, as in OCO). Passwords are encrypted at rest (``SecretBox``); the newest
  ``polling.password_history`` + 1 per user name are kept (OCO keeps the rule's history besides
  the current one). Reading them needs ``Perm.READ_PASSWORDS`` and every read is audited.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from fleetdeck.core.audit import AuditLog
from fleetdeck.core.authz import Actor, Perm
from fleetdeck.core.errors import NotFound, ValidationFailed
from fleetdeck.core.ports import Clock
from fleetdeck.core.secrets import SecretBox
from fleetdeck.core.settings.service import SettingsService
from fleetdeck.storage.db import Database
from fleetdeck.storage.tables import Computer, ComputerEvent, ComputerPassword, GroupMember
from fleetdeck.storage.uow import UnitOfWork

EVENT_QUERIES = "polling.event_queries"
EVENT_RETENTION = "polling.event_retention_sec"
ROTATION_USERS = "polling.password_rotation_users"
ROTATION_SEC = "polling.password_rotation_sec"
PASSWORD_LENGTH = "polling.password_length"
PASSWORD_ALPHABET = "polling.password_alphabet"
PASSWORD_HISTORY = "polling.password_history"

MAX_EVENTS_PER_COMPUTER = 10_000
MAX_EVENTS_PER_REQUEST = 5_000
MAX_EVENT_DATA = 16_000  # characters of one entry's data, as JSON text
MAX_PASSWORD = 1_000
REVOKE_WINDOW = timedelta(minutes=5)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class EventQuery:
    log: str
    query: str
    since: datetime


@dataclass(frozen=True, slots=True)
class PasswordRequest:
    username: str
    alphabet: str
    length: int
    old_password: str | None = field(default=None, repr=False)  # macOS needs the current one


@dataclass(frozen=True, slots=True)
class EventRecord:
    id: int
    computer_id: int
    log: str
    at: datetime
    provider: str
    level: str
    event_id: str
    data: dict[str, Any]
    received_at: datetime


@dataclass(frozen=True, slots=True)
class PasswordRecord:
    id: int
    computer_id: int
    username: str
    password: str = field(repr=False)
    created_at: datetime


def event_queries(settings: SettingsService) -> list[tuple[str, str]]:
    """``(log, query)`` of each configured query (``<log>|<query>``; the log names no ``|``)."""
    out = []
    for entry in settings.value(EVENT_QUERIES) or []:
        log, sep, query = str(entry).partition("|")
        if sep and log.strip():
            out.append((log.strip(), query.strip()))
    return out


@dataclass(frozen=True, slots=True)
class RotationRule:
    username: str
    group_id: int | None = None  # None: every computer


def rotation_rules(settings: SettingsService) -> list[RotationRule]:
    """The configured rules. An entry that does not parse (the setting refuses those when it
    is set, but a value may predate the format) is left out rather than read as a user name."""
    rules = []
    for entry in settings.value(ROTATION_USERS) or []:
        group, sep, username = str(entry).rpartition("|")
        group, username = group.strip(), username.strip()
        if not username or (sep and not group.isdigit()):
            continue
        rules.append(RotationRule(username, int(group) if sep else None))
    return rules


def rotated_users(s: Session, settings: SettingsService, computer_id: int) -> list[str]:
    """The user names whose passwords rotate on this computer: the rules without a group, and
    those of the groups it is a direct member of (OCO's rule-to-group join does not descend
    into subgroups); each name once, in the order of the rules."""
    rules = rotation_rules(settings)
    group_ids = {r.group_id for r in rules if r.group_id is not None}
    member_of: set[int] = set()
    if group_ids:
        member_of = set(
            s.scalars(
                select(GroupMember.group_id).where(
                    GroupMember.computer_id == computer_id, GroupMember.group_id.in_(group_ids)
                )
            )
        )
    users: list[str] = []
    for r in rules:
        if (r.group_id is None or r.group_id in member_of) and r.username not in users:
            users.append(r.username)
    return users


def wanted(
    s: Session, settings: SettingsService, box: SecretBox, computer: Computer, now: datetime
) -> tuple[list[EventQuery], list[PasswordRequest]]:
    """What the poll asks the agent for: event queries with their ``since``, due passwords."""
    queries = event_queries(settings)
    events: list[EventQuery] = []
    if queries:
        newest = s.scalar(select(func.max(ComputerEvent.at)).where(ComputerEvent.computer_id == computer.id))
        since = _aware(newest) if newest is not None else EPOCH
        events = [EventQuery(log, query, since) for log, query in queries]
    users = rotated_users(s, settings, computer.id)
    passwords: list[PasswordRequest] = []
    if users:
        valid = timedelta(seconds=int(settings.value(ROTATION_SEC)))
        latest: dict[str, tuple[datetime, str]] = {}
        for username, created, enc in s.execute(
            select(ComputerPassword.username, ComputerPassword.created_at, ComputerPassword.password_enc)
            .where(ComputerPassword.computer_id == computer.id, ComputerPassword.username.in_(users))
            .order_by(ComputerPassword.created_at, ComputerPassword.id)
        ):
            latest[username] = (_aware(created), enc)
        for username in users:
            last = latest.get(username)
            if last is not None and now - last[0] <= valid:
                continue
            old = None
            if computer.os == "macOS":  # OCO: macOS changes a password knowing the old one
                old = box.decrypt(last[1]) if last is not None else ""
            passwords.append(
                PasswordRequest(
                    username=username,
                    alphabet=str(settings.value(PASSWORD_ALPHABET)),
                    length=int(settings.value(PASSWORD_LENGTH)),
                    old_password=old,
                )
            )
    return events, passwords


def _text(value: Any, limit: int) -> str:
    if isinstance(value, str):
        return value[:limit]
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return str(value)[:limit]
    return ""


def store_events(s: Session, computer_id: int, events: Sequence[Mapping[str, Any]], now: datetime) -> int:
    """The agent's events (OCO's shape: ``log``, ``timestamp`` UTC ``Y-m-d H:M:S``,
    ``provider``, ``level``, ``event_id``, ``data``); entries without a log or a readable time
    are left out, as OCO leaves them out. Returns how many were stored."""
    rows: list[dict[str, Any]] = []
    for e in list(events)[:MAX_EVENTS_PER_REQUEST]:
        log = _text(e.get("log"), 255)
        try:
            at = datetime.strptime(_text(e.get("timestamp"), 40), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        except ValueError:
            continue
        if not log:
            continue
        data = e.get("data")
        data = data if isinstance(data, dict) else {"value": data}
        if len(json.dumps(data, default=str)) > MAX_EVENT_DATA:
            data = {"truncated": json.dumps(data, default=str)[:MAX_EVENT_DATA]}
        rows.append(
            {
                "computer_id": computer_id,
                "log": log,
                "at": at,
                "provider": _text(e.get("provider"), 255),
                "level": _text(e.get("level"), 32),
                "event_id": _text(e.get("event_id"), 64),
                "data": data,
                "received_at": now,
            }
        )
    if not rows:
        return 0
    oldest = min(r["at"] for r in rows)
    seen = {
        (log, _aware(at), provider, level, event_id, json.dumps(data, sort_keys=True, default=str))
        for log, at, provider, level, event_id, data in s.execute(
            select(
                ComputerEvent.log,
                ComputerEvent.at,
                ComputerEvent.provider,
                ComputerEvent.level,
                ComputerEvent.event_id,
                ComputerEvent.data,
            ).where(ComputerEvent.computer_id == computer_id, ComputerEvent.at >= oldest)
        )
    }
    fresh = []
    for r in rows:
        key = (
            r["log"],
            r["at"],
            r["provider"],
            r["level"],
            r["event_id"],
            json.dumps(r["data"], sort_keys=True),
        )
        if key not in seen:
            seen.add(key)
            fresh.append(r)
    if fresh:
        s.add_all([ComputerEvent(**r) for r in fresh])
        s.flush()
        _cap_events(s, computer_id)
    return len(fresh)


def _cap_events(s: Session, computer_id: int) -> None:
    """At most MAX_EVENTS_PER_COMPUTER per computer: the oldest beyond that go."""
    count = s.scalar(select(func.count()).where(ComputerEvent.computer_id == computer_id)) or 0
    if count <= MAX_EVENTS_PER_COMPUTER:
        return
    keep = (
        select(ComputerEvent.id)
        .where(ComputerEvent.computer_id == computer_id)
        .order_by(ComputerEvent.at.desc(), ComputerEvent.id.desc())
        .limit(MAX_EVENTS_PER_COMPUTER)
        .scalar_subquery()
    )
    s.execute(
        delete(ComputerEvent)
        .where(ComputerEvent.computer_id == computer_id, ComputerEvent.id.not_in(keep))
        .execution_options(synchronize_session=False)
    )


def decrypt_password(item: Any, agent_key: str) -> str:
    """A password as OCO's agent sends it: plain text (older agents), or ``{iv, data}``:
    AES-256-CBC under the agent key (its first 32 bytes, NUL-padded), base64, padded with
    PKCS#7 over the text. ValidationFailed when it does not decrypt."""
    if isinstance(item, str):
        return item
    if (
        not isinstance(item, dict)
        or not isinstance(item.get("iv"), str)
        or not isinstance(item.get("data"), str)
    ):
        raise ValidationFailed("Invalid password data", field="password")
    key = (agent_key[:32] + "\x00" * (32 - len(agent_key[:32]))).encode()[:32]
    try:
        iv = base64.b64decode(item["iv"], validate=True)
        data = base64.b64decode(item["data"], validate=True)
        if len(iv) != 16 or not data or len(data) % 16:
            raise ValueError("bad length")
        plain = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
        raw = plain.update(data) + plain.finalize()
        pad = raw[-1]
        if not 1 <= pad <= 16 or raw[-pad:] != bytes([pad]) * pad:
            raise ValueError("bad padding")
        return raw[:-pad].decode()
    except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors
        raise ValidationFailed("Invalid password data", field="password") from None


def store_passwords(
    s: Session,
    settings: SettingsService,
    box: SecretBox,
    computer_id: int,
    agent_key: str,
    items: Sequence[Mapping[str, Any]],
    now: datetime,
) -> tuple[bool, list[str], list[str]]:
    """The agent's new passwords (and revocations): ``(stored any, user names stored, user
    names revoked)``. Only user names a rotation rule names for this computer are kept, as in
    OCO."""
    users = set(rotated_users(s, settings, computer_id))
    history = int(settings.value(PASSWORD_HISTORY))
    stored: list[str] = []
    revoked: list[str] = []
    for item in items:
        username = item.get("username")
        if not isinstance(username, str) or not username or not item.get("password"):
            continue
        password = decrypt_password(item["password"], agent_key)
        if len(password) > MAX_PASSWORD:
            raise ValidationFailed("Invalid password data", field="password")
        if item.get("revoke"):
            for pid, created, enc in s.execute(
                select(ComputerPassword.id, ComputerPassword.created_at, ComputerPassword.password_enc).where(
                    ComputerPassword.computer_id == computer_id, ComputerPassword.username == username
                )
            ):
                if now - _aware(created) < REVOKE_WINDOW and box.decrypt(enc) == password:
                    s.execute(delete(ComputerPassword).where(ComputerPassword.id == pid))
                    revoked.append(username)
            continue
        if username not in users:
            continue
        s.add(
            ComputerPassword(
                computer_id=computer_id,
                username=username[:255],
                password_enc=box.encrypt(password),
                created_at=now,
            )
        )
        s.flush()
        keep = (
            select(ComputerPassword.id)
            .where(ComputerPassword.computer_id == computer_id, ComputerPassword.username == username)
            .order_by(ComputerPassword.created_at.desc(), ComputerPassword.id.desc())
            .limit(history + 1)
            .scalar_subquery()
        )
        s.execute(
            delete(ComputerPassword)
            .where(
                ComputerPassword.computer_id == computer_id,
                ComputerPassword.username == username,
                ComputerPassword.id.not_in(keep),
            )
            .execution_options(synchronize_session=False)
        )
        stored.append(username)
    return bool(stored or revoked), stored, revoked


def _aware(at: datetime) -> datetime:
    """SQLite hands back naive datetimes (stored as UTC)."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


class AgentRecordsService:
    """Reading what agents handed over, and housekeeping's purge of old events."""

    def __init__(
        self, db: Database, audit: AuditLog, box: SecretBox, clock: Clock, settings: SettingsService
    ) -> None:
        self._db = db
        self._audit = audit
        self._box = box
        self._clock = clock
        self._settings = settings

    def events(self, actor: Actor, computer_id: int, limit: int = 1000) -> list[EventRecord]:
        """The computer's stored events, newest first (at most ``limit``)."""
        actor.require(Perm.READ)
        with UnitOfWork(self._db, readonly=True) as uow:
            s = uow.session
            if s.get(Computer, computer_id) is None:
                raise NotFound("computer", computer_id)
            rows = s.scalars(
                select(ComputerEvent)
                .where(ComputerEvent.computer_id == computer_id)
                .order_by(ComputerEvent.at.desc(), ComputerEvent.id.desc())
                .limit(max(1, min(limit, MAX_EVENTS_PER_COMPUTER)))
            )
            return [
                EventRecord(
                    e.id,
                    e.computer_id,
                    e.log,
                    _aware(e.at),
                    e.provider,
                    e.level,
                    e.event_id,
                    e.data,
                    _aware(e.received_at),
                )
                for e in rows
            ]

    def passwords(self, actor: Actor, computer_id: int) -> list[PasswordRecord]:
        """The computer's rotated passwords in clear text, newest first per user name (the
        history after the current one). Needs ``read_passwords``; every read is audited
        (``computer.passwords_read``, which user names), a refused one too."""
        with self._audit.mutation(
            actor, "computer.passwords_read", "computer", computer_id, perm=Perm.READ_PASSWORDS
        ) as m:
            s = m.session
            if s.get(Computer, computer_id) is None:
                raise NotFound("computer", computer_id)
            rows = list(
                s.scalars(
                    select(ComputerPassword)
                    .where(ComputerPassword.computer_id == computer_id)
                    .order_by(
                        ComputerPassword.username,
                        ComputerPassword.created_at.desc(),
                        ComputerPassword.id.desc(),
                    )
                )
            )
            m.detail = {"usernames": sorted({p.username for p in rows}), "count": len(rows)}
            return [
                PasswordRecord(
                    p.id, p.computer_id, p.username, self._box.decrypt(p.password_enc), _aware(p.created_at)
                )
                for p in rows
            ]

    def force_inventory(self, actor: Actor, computer_id: int) -> None:
        """The computer's polling agent is told to send its inventory at its next poll
        (OCO's force_update; cleared when the inventory arrives). Audited."""
        with self._audit.mutation(
            actor, "computer.force_update", "computer", computer_id, perm=Perm.MANAGE_COMPUTERS
        ) as m:
            c = m.session.get(Computer, computer_id)
            if c is None:
                raise NotFound("computer", computer_id)
            c.force_update = True

    def purge_events(self) -> int:
        """Periodic (housekeeping): events older than ``polling.event_retention_sec`` go."""
        cutoff = self._clock() - timedelta(seconds=int(self._settings.value(EVENT_RETENTION)))
        with UnitOfWork(self._db) as uow:
            result = uow.session.execute(
                delete(ComputerEvent)
                .where(ComputerEvent.at < cutoff)
                .execution_options(synchronize_session=False)
            )
            return int(getattr(result, "rowcount", 0) or 0)
