"""Computers: listing, inventory, pre-registration, notes, deletion and presence."""

from __future__ import annotations

import json
import time
import unicodedata
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Select, Table, bindparam, func, select, update
from sqlalchemy.orm import Session

from fleetdeck.core.audit import AuditLog, Mutation
from fleetdeck.core.authz import Actor, Perm
from fleetdeck.core.computers.entities import (
    RECORD_SECRETS,
    RECORD_TEXT,
    RECORD_TIMES,
    AgentPing,
    ComputerDetail,
    ComputerRow,
    ComputerSummary,
    Filesystem,
    GroupRef,
    HostRecord,
    InstalledSoftware,
    Login,
    NetworkIdentity,
    NetworkInterface,
    Presence,
    SoftwareOnComputer,
    capabilities,
    incapable,
)
from fleetdeck.core.computers.inventory import apply_inventory
from fleetdeck.core.computers.naming import is_qualified, qualified_name
from fleetdeck.core.errors import (
    AgentFailed,
    AgentTimeout,
    AgentUnreachable,
    Conflict,
    NotFound,
    Reason,
    ValidationFailed,
)
from fleetdeck.core.groups.rules import ACCESS, LABEL, TAG, access, reach, reaches
from fleetdeck.core.jobs.entities import PACKAGE_KINDS, PENDING
from fleetdeck.core.people.scope import visible
from fleetdeck.core.ports import AgentAddress, AgentGateway, Clock, JobNotifier, NullGateway, NullNotifier
from fleetdeck.core.query import Fields, Many, Page, Query, apply_query, to_sql
from fleetdeck.core.secrets import SecretBox, random_hex
from fleetdeck.protocol.messages import PING, UPDATES_STATUS, Inventory
from fleetdeck.storage.db import Database
from fleetdeck.storage.locks import Serial, serialize
from fleetdeck.storage.tables import (
    Computer,
    ComputerAssignment,
    ComputerFilesystem,
    ComputerInterface,
    ComputerLogin,
    ComputerSoftware,
    ComputerTag,
    Group,
    GroupMember,
    Job,
    JobBatch,
)
from fleetdeck.storage.uow import UnitOfWork

FIELDS = {
    "id": Computer.id,
    "uid": Computer.uid,
    "hostname": Computer.hostname,
    "fqdn": Computer.fqdn,
    "os": Computer.os,
    "os_version": Computer.os_version,
    "os_family": Computer.os_family,
    "kernel": Computer.kernel,
    "architecture": Computer.architecture,
    "cpu_model": Computer.cpu_model,
    "cpu_cores": Computer.cpu_cores,
    "ram_bytes": Computer.ram_bytes,
    "manufacturer": Computer.manufacturer,
    "model": Computer.model,
    "serial": Computer.serial,
    "agent_version": Computer.agent_version,
    "notes": Computer.notes,
    "created_at": Computer.created_at,
    "last_seen": Computer.last_seen,
    "online": Computer.online,
    "remote_address": Computer.remote_address,
    # list-valued: ``contains`` (and ``is_null`` = the list is empty), answered by a subquery
    "group_ids": Many(Computer.id, GroupMember.computer_id, GroupMember.group_id),
    "macs": Many(Computer.id, ComputerInterface.computer_id, ComputerInterface.mac),
    # the users the computer is assigned to (core.people): ``contains`` a user id
    "user_ids": Many(Computer.id, ComputerAssignment.computer_id, ComputerAssignment.user_id),
    # the tags and labels people gave it, and the user groups allowed to reach it directly
    # (computer_tags rows of one kind); a label reads ``name: value``, as rportd matches it
    "tags": Many(Computer.id, ComputerTag.computer_id, ComputerTag.name, ComputerTag.kind == TAG),
    "labels": Many(
        Computer.id,
        ComputerTag.computer_id,
        ComputerTag.name.concat(": ").concat(ComputerTag.value),
        ComputerTag.kind == LABEL,
    ),
    "access": Many(Computer.id, ComputerTag.computer_id, ComputerTag.name, ComputerTag.kind == ACCESS),
}
SOFTWARE_FIELDS = {
    "computer_id": ComputerSoftware.computer_id,
    "name": ComputerSoftware.name,
    "version": ComputerSoftware.version,
    "description": ComputerSoftware.description,
}
HOSTNAME_MAX = 255
MAX_AGENT_TIMEOUT = 300.0  # seconds a caller may wait for an agent's answer


_PLAIN_MAX = 50_000


def _check_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """``put``'s record fields, checked: known names, text of bounded length without control
    characters (a description may hold line breaks), times as aware datetimes."""
    out: dict[str, Any] = {}
    for name, value in record.items():
        if name in RECORD_TEXT or name in RECORD_SECRETS:
            limit = RECORD_TEXT.get(name) or RECORD_SECRETS[name]
            if value is None and name in RECORD_SECRETS:
                out[name] = None
                continue
            if not isinstance(value, str):
                raise ValidationFailed(f"{name} must be text", field=name)
            if len(value) > limit:
                raise ValidationFailed(f"{name} is longer than {limit} characters", field=name)
            allowed = {"\n", "\r", "\t"} if name == "description" else set()
            if any(unicodedata.category(ch) in CONTROL and ch not in allowed for ch in value):
                raise ValidationFailed(f"{name} must not contain control characters", field=name)
            out[name] = value
        elif name in RECORD_TIMES:
            if value is not None and not (isinstance(value, datetime) and value.tzinfo is not None):
                raise ValidationFailed(f"{name} must be a time with a time zone", field=name)
            out[name] = value
        else:
            raise ValidationFailed(f"unknown host record field {name!r}", field=name)
    return out


def _check_names(hostname: str, fqdn: str) -> tuple[str, str]:
    """A new computer's host name and FQDN, stripped (the FQDN lower case), or ValidationFailed."""
    hostname = hostname.strip()
    fqdn = fqdn.strip().lower()
    if len(fqdn) > 255:
        raise ValidationFailed("fqdn is longer than 255 characters", field="fqdn")
    if not hostname:
        raise ValidationFailed("hostname must not be empty", field="hostname")
    if len(hostname) > HOSTNAME_MAX:
        raise ValidationFailed(f"hostname is longer than {HOSTNAME_MAX} characters", field="hostname")
    for name, value in (("hostname", hostname), ("fqdn", fqdn)):
        if any(unicodedata.category(ch) in CONTROL for ch in value):
            raise ValidationFailed(f"{name} must not contain control characters", field=name)
    return hostname, fqdn


def summary(c: Computer) -> ComputerSummary:
    return ComputerSummary(
        id=c.id,
        uid=c.uid,
        hostname=c.hostname,
        fqdn=c.fqdn,
        os=c.os,
        os_version=c.os_version,
        architecture=c.architecture,
        ram_bytes=c.ram_bytes,
        agent_version=c.agent_version,
        notes=c.notes,
        created_at=c.created_at,
        last_seen=c.last_seen,
        online=c.online,
        enrolled=c.agent_key_hash is not None,
        remote_address=c.remote_address,
        agent_kind=c.agent_kind,
    )


# ComputerSummary's fields in order, as columns (agent_kind last: ComputerRow has it last too)
_BASE_COLUMNS = (
    Computer.id,
    Computer.uid,
    Computer.hostname,
    Computer.fqdn,
    Computer.os,
    Computer.os_version,
    Computer.architecture,
    Computer.ram_bytes,
    Computer.agent_version,
    Computer.notes,
    Computer.created_at,
    Computer.last_seen,
    Computer.online,
    Computer.agent_key_hash.is_not(None),
    Computer.remote_address,
)
_SUMMARY_COLUMNS = (*_BASE_COLUMNS, Computer.agent_kind)


def detail(c: Computer, **sections: Any) -> ComputerDetail:
    """The inventory scalars of ``c``; ``sections`` (filesystems, software, ...) when read."""
    return ComputerDetail(
        summary=summary(c),
        os_family=c.os_family,
        kernel=c.kernel,
        cpu_model=c.cpu_model,
        cpu_cores=c.cpu_cores,
        cpu_threads=c.cpu_threads,
        boot_time=c.boot_time,
        manufacturer=c.manufacturer,
        model=c.model,
        serial=c.serial,
        bios_version=c.bios_version,
        machine_id=c.machine_id,
        domain=c.domain,
        timezone=c.timezone,
        inventory_at=c.inventory_at,
        created_by=c.created_by,
        battery_level=c.battery_level,
        battery_status=c.battery_status,
        force_update=c.force_update,
        agent_timestamp=c.agent_timestamp,
        **sections,
    )


# find_detailed's columns, in ComputerRow's order: the summary's, then the inventory scalars.
_ROW_COLUMNS = (
    *_BASE_COLUMNS,
    Computer.os_family,
    Computer.kernel,
    Computer.cpu_model,
    Computer.cpu_cores,
    Computer.cpu_threads,
    Computer.boot_time,
    Computer.manufacturer,
    Computer.model,
    Computer.serial,
    Computer.bios_version,
    Computer.machine_id,
    Computer.domain,
    Computer.timezone,
    Computer.inventory_at,
    Computer.created_by,
    Computer.agent_kind,
    Computer.battery_level,
    Computer.battery_status,
    Computer.force_update,
    Computer.agent_timestamp,
    Computer.updates_status,
)


_COMPUTERS: Table = Computer.__table__  # type: ignore[assignment]
# One UPDATE by id run as an executemany; SET comes from the keys of the rows. A Core statement,
# not the ORM's bulk UPDATE by primary key: that one counts the rows each UPDATE matched and
# fails the whole batch (StaleDataError) when one computer has been deleted meanwhile; this one
# updates the rows that are there and skips the others.
_BY_ID = update(_COMPUTERS).where(_COMPUTERS.c.id == bindparam("computer_id"))
_CHUNK = 5000  # ids per IN (...) list, well within SQLite's limit on bound parameters


# NUL, line breaks, escapes, invisible format characters: no host name has them, and they break
# logs, terminals and the dialects that print names.
CONTROL = frozenset({"Cc", "Cf", "Zl", "Zp"})


class ComputerService:
    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        clock: Clock,
        gateway: AgentGateway | None = None,
        notifier: JobNotifier | None = None,
        box: SecretBox | None = None,
    ) -> None:
        self._box = box
        self._plain: dict[str, str] = {}  # ciphertext -> plaintext, bounded (see _decrypt)
        self._notifier = notifier or NullNotifier()
        self._db = db
        self._audit = audit
        self._clock = clock
        self._gateway = gateway or NullGateway()

    def find(self, actor: Actor, query: Query, *, group_id: int | None = None) -> Page[ComputerSummary]:
        """Summaries read as columns, not ORM entities: building 10,000 entities cost more than
        the query itself (opsi's host_getObjects lists every computer)."""
        scope = visible(actor, Perm.READ, Computer.id)
        with UnitOfWork(self._db, readonly=True) as uow:
            stmt: Select[Any] = select(*_SUMMARY_COLUMNS)  # type: ignore[assignment]
            count = select(func.count()).select_from(Computer)
            if scope is not None:  # an end user: only the computers assigned to them
                stmt, count = stmt.where(scope), count.where(scope)
            reach = access(uow.session, actor)  # a user in user groups: their rule groups' computers
            if reach is not None:
                stmt, count = stmt.where(reach), count.where(reach)
            if group_id is not None:
                members = select(GroupMember.computer_id).where(GroupMember.group_id == group_id)
                stmt = stmt.where(Computer.id.in_(members))
                count = count.where(Computer.id.in_(members))
            stmt, count_stmt = apply_query(stmt, count, query, FIELDS)
            assert count_stmt is not None
            total = uow.session.scalar(count_stmt) or 0
            rows = uow.session.connection().execute(stmt)  # Core: no ORM row processing
            return Page(items=[ComputerSummary(*row) for row in rows], total=total)

    def get(self, actor: Actor, computer_id: int) -> ComputerDetail:
        found = self.get_many(actor, [computer_id])
        if computer_id not in found:
            raise NotFound("computer", computer_id)
        return found[computer_id]

    def get_many(self, actor: Actor, computer_ids: Iterable[int]) -> dict[int, ComputerDetail]:
        """Full details (inventory sections, groups) of many computers in six queries, however
        many computers: for transports that list inventory rows of every host (opsi's audit
        objects). Unknown ids are left out."""
        scope = visible(actor, Perm.READ, Computer.id)
        ids = sorted(set(computer_ids))
        if not ids:
            return {}
        with UnitOfWork(self._db, readonly=True) as uow:
            s = uow.session
            stmt = select(Computer).where(Computer.id.in_(ids))
            if scope is not None:  # an end user: others' computers are "not found"
                stmt = stmt.where(scope)
            reach = access(s, actor)  # a user in user groups: what their groups may reach
            if reach is not None:
                stmt = stmt.where(reach)
            computers = list(s.scalars(stmt.order_by(Computer.id)))
            ids = [c.id for c in computers]
            fs: dict[int, list[Filesystem]] = {c.id: [] for c in computers}
            nics: dict[int, list[NetworkInterface]] = {c.id: [] for c in computers}
            sw: dict[int, list[InstalledSoftware]] = {c.id: [] for c in computers}
            logins: dict[int, list[Login]] = {c.id: [] for c in computers}
            groups: dict[int, list[GroupRef]] = {c.id: [] for c in computers}
            for f in s.scalars(
                select(ComputerFilesystem)
                .where(ComputerFilesystem.computer_id.in_(ids))
                .order_by(ComputerFilesystem.computer_id, ComputerFilesystem.mountpoint)
            ):
                fs[f.computer_id].append(
                    Filesystem(f.mountpoint, f.fstype, f.size_bytes, f.free_bytes, f.device)
                )
            for n in s.scalars(
                select(ComputerInterface)
                .where(ComputerInterface.computer_id.in_(ids))
                .order_by(ComputerInterface.computer_id, ComputerInterface.name)
            ):
                nics[n.computer_id].append(NetworkInterface(n.name, n.mac, list(n.addresses)))
            for p in s.scalars(
                select(ComputerSoftware)
                .where(ComputerSoftware.computer_id.in_(ids))
                .order_by(ComputerSoftware.computer_id, ComputerSoftware.name, ComputerSoftware.version)
            ):
                sw[p.computer_id].append(InstalledSoftware(p.name, p.version, p.description))
            for u in s.scalars(
                select(ComputerLogin)
                .where(ComputerLogin.computer_id.in_(ids))
                .order_by(ComputerLogin.computer_id, ComputerLogin.username)
            ):
                logins[u.computer_id].append(Login(u.username, u.terminal, u.host, u.started_at))
            for cid, gid, key, name in s.execute(
                select(GroupMember.computer_id, Group.id, Group.key, Group.name)
                .join(GroupMember, GroupMember.group_id == Group.id)
                .where(GroupMember.computer_id.in_(ids))
                .order_by(GroupMember.computer_id, Group.name)
            ):
                groups[cid].append(GroupRef(id=gid, key=key, name=name))
            return {
                c.id: detail(
                    c,
                    filesystems=fs[c.id],
                    network_interfaces=nics[c.id],
                    software=sw[c.id],
                    logged_in_users=logins[c.id],
                    groups=groups[c.id],
                )
                for c in computers
            }

    def software(
        self, actor: Actor, query: Query, computer_ids: Iterable[int] | None = None
    ) -> list[SoftwareOnComputer]:
        """Installed software of every computer (or of ``computer_ids``) that ``query`` keeps
        (``SOFTWARE_FIELDS``: name, version, description, computer_id; its sort and limit are
        not used), filtered in SQL, by computer, name and version: one query, however many
        computers, and no other inventory section is read. Only the computers the actor
        reaches (``core.groups.rules.reach``)."""
        actor.require(Perm.READ)
        stmt = (
            select(ComputerSoftware, Computer.inventory_at)
            .join(Computer, Computer.id == ComputerSoftware.computer_id)
            .order_by(ComputerSoftware.computer_id, ComputerSoftware.name, ComputerSoftware.version)
        )
        if computer_ids is not None:
            stmt = stmt.where(ComputerSoftware.computer_id.in_(sorted(set(computer_ids))))
        for expr in query.where:
            stmt = stmt.where(to_sql(expr, SOFTWARE_FIELDS))
        with UnitOfWork(self._db, readonly=True) as uow:
            scope = reach(uow.session, actor, Perm.READ, Computer.id)
            if scope is not None:  # an end user, a user in user groups: the computers they reach
                stmt = stmt.where(scope)
            return [
                SoftwareOnComputer(p.computer_id, p.name, p.version, p.description, seen)
                for p, seen in uow.session.execute(stmt)
            ]

    def find_detailed(
        self, actor: Actor, query: Query, *, group_id: int | None = None, extra: Fields | None = None
    ) -> Page[ComputerRow]:
        """Like ``find``, but every row carries all inventory scalars (not the list sections):
        for transports whose list rows are full hardware records (OCO's ``computer.list``).

        Plain column tuples, not ORM objects or dataclasses: a list of every computer is one
        query, and building objects per row was most of what 10,000 rows cost
        (bench/oco_list.py). ``extra`` adds fields only the caller can build (``Derived``)."""
        scope = visible(actor, Perm.READ, Computer.id)
        with UnitOfWork(self._db, readonly=True) as uow:
            stmt = cast("Select[Any]", select(*_ROW_COLUMNS))
            count = select(func.count()).select_from(Computer)
            if scope is not None:  # an end user: only the computers assigned to them
                stmt, count = stmt.where(scope), count.where(scope)
            reach = access(uow.session, actor)  # a user in user groups: their rule groups' computers
            if reach is not None:
                stmt, count = stmt.where(reach), count.where(reach)
            if group_id is not None:
                members = select(GroupMember.computer_id).where(GroupMember.group_id == group_id)
                stmt = stmt.where(Computer.id.in_(members))
                count = count.where(Computer.id.in_(members))
            stmt, count_stmt = apply_query(stmt, count, query, {**FIELDS, **(extra or {})})
            assert count_stmt is not None
            total = uow.session.scalar(count_stmt) or 0
            make = ComputerRow._make
            items = [make(row) for row in uow.session.connection().execute(stmt)]
            return Page(items=items, total=total)

    def exists(self, computer_ids: Iterable[int]) -> set[int]:
        ids = list(computer_ids)
        with UnitOfWork(self._db, readonly=True) as uow:
            return set(uow.session.scalars(select(Computer.id).where(Computer.id.in_(ids))))

    def create(self, actor: Actor, hostname: str, notes: str = "", fqdn: str = "") -> ComputerSummary:
        """Pre-register a computer; an agent enrolling with this host name takes it over."""
        hostname, fqdn = _check_names(hostname, fqdn)
        with self._audit.mutation(actor, "computer.create", "computer", perm=Perm.MANAGE_COMPUTERS) as m:
            serialize(m.session, Serial.COMPUTER_NAMES)  # the name check below decides
            return self._insert(m, actor, hostname, fqdn, notes)

    def put(
        self,
        actor: Actor,
        name: str,
        *,
        default_domain: str,
        notes: str | None = None,
        create: bool = True,
        record: Mapping[str, Any] | None = None,
    ) -> ComputerSummary | None:
        """Create-or-update of the computer whose qualified name (``naming.qualified_name``
        with ``default_domain``) is ``name``, decided in one transaction serialised with other
        puts and creates, so two concurrent puts of one new name create it once and the other
        updates it (a transport that looked first and then created could create it twice).

        An existing computer gets ``notes`` unless it is None (audited ``computer.update``;
        when several computers have that qualified name, the newest). A missing one is created
        (audited ``computer.create``) with host name = the first label of ``name``, FQDN =
        ``name`` and ``notes`` (None: empty), under ``create``'s checks (names, a host name
        already taken: Conflict); with ``create`` False it stays missing (returns None, audited
        ``computer.update`` with ``missing``). Permission first, then the arguments: a caller
        who may not manage computers learns nothing of the rules.

        ``record``: host record fields to set (``entities.RECORD_TEXT``, ``RECORD_SECRETS``,
        ``RECORD_TIMES``; absent: kept). A computer created without an agent and without a
        ``host_key`` gets a random 32-hex one. The audit names the fields changed, never a
        secret's value."""
        with self._audit.mutation(actor, "computer.update", "computer", perm=Perm.MANAGE_COMPUTERS) as m:
            s = m.session
            fields = _check_record(record or {})
            serialize(s, Serial.COMPUTER_NAMES)
            wanted = name.strip().lower().rstrip(".")
            first = wanted.split(".")[0]
            like = first.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + ".%"
            candidates = s.scalars(
                select(Computer)
                .where(
                    func.lower(Computer.fqdn).in_((wanted, wanted + "."))
                    | (func.lower(Computer.hostname) == first)
                    | func.lower(Computer.hostname).like(like, escape="\\")
                )
                .order_by(Computer.id)
            )
            found = [c for c in candidates if qualified_name(c.hostname, c.fqdn, default_domain) == wanted]
            if found:
                c = found[-1]
                m.object_id = str(c.id)
                if notes is not None and notes != c.notes:
                    m.detail["notes"] = [c.notes, notes]
                    c.notes = notes
                self._apply_record(m, c, fields)
                return summary(c)
            if not create:
                m.detail = {"name": wanted, "missing": True}
                return None
            m.action = "computer.create"
            hostname, fqdn = _check_names(first, wanted)
            created = self._insert(m, actor, hostname, fqdn, notes or "")
            new = s.get(Computer, created.id)
            assert new is not None
            if not fields.get("host_key"):
                fields["host_key"] = random_hex(16)  # 32 hex characters, like an agent key
            self._apply_record(m, new, fields)
            return summary(new)

    def _apply_record(self, m: Mutation, c: Computer, fields: Mapping[str, Any]) -> None:
        changed: list[str] = []
        for name in RECORD_TEXT:
            if name in fields:
                column = {"mac": "given_mac", "ip": "given_ip"}.get(name, name)
                if getattr(c, column) != fields[name]:
                    setattr(c, column, fields[name])
                    changed.append(name)
        for name in RECORD_SECRETS:
            if name in fields:
                column = f"{name}_enc"
                value = fields[name]
                current = self._decrypt(getattr(c, column)) if getattr(c, column) else None
                if value != current:
                    setattr(c, column, self._encrypt(value) if value else None)
                    changed.append(name)
        for name in RECORD_TIMES:
            if fields.get(name) is not None and getattr(c, name) != fields[name]:
                setattr(c, name, fields[name])
                changed.append(name)
        if changed:
            m.detail["record"] = changed  # names only: never a secret's value

    def _encrypt(self, plain: str) -> str:
        if self._box is None:
            raise ValidationFailed("this server cannot store secrets (no secret key)")
        return self._box.encrypt(plain)

    def _decrypt(self, enc: str) -> str:
        """Decrypting costs ~30 us (Fernet); a host list shows many secrets, so a ciphertext's
        plaintext is remembered (a new secret is a new ciphertext), up to a bound."""
        plain = self._plain.get(enc)
        if plain is None:
            if self._box is None:
                raise ValidationFailed("this server cannot read secrets (no secret key)")
            plain = self._box.decrypt(enc)
            if len(self._plain) >= _PLAIN_MAX:
                self._plain.clear()
            self._plain[enc] = plain
        return plain

    def host_records(self, actor: Actor, computer_ids: Iterable[int] | None = None) -> dict[int, HostRecord]:
        """Host records of many computers (None: every computer) in one query; the secrets
        only for callers who may manage computers."""
        visible(actor, Perm.READ, Computer.id)  # PermissionDenied before any read
        secrets = actor.can(Perm.MANAGE_COMPUTERS)
        stmt = select(
            Computer.id,
            Computer.agent_key_hash.is_not(None),
            Computer.description,
            Computer.inventory_number,
            Computer.given_mac,
            Computer.given_ip,
            Computer.one_time_password_enc,
            Computer.host_key_enc,
        )
        if computer_ids is not None:
            stmt = stmt.where(Computer.id.in_(list(computer_ids)))
        with UnitOfWork(self._db, readonly=True) as uow:
            # an end user: the computers assigned to them; a user in user groups: what they reach
            scope = reach(uow.session, actor, Perm.READ, Computer.id)
            if scope is not None:
                stmt = stmt.where(scope)
            rows = uow.session.connection().execute(stmt).all()
        return {
            cid: HostRecord(
                computer_id=cid,
                enrolled=bool(enrolled),
                description=description,
                inventory_number=number,
                mac=mac,
                ip=ip,
                one_time_password=self._decrypt(otp) if secrets and otp else None,
                host_key=self._decrypt(key) if secrets and key else None,
            )
            for cid, enrolled, description, number, mac, ip, otp, key in rows
        }

    def _insert(self, m: Mutation, actor: Actor, hostname: str, fqdn: str, notes: str) -> ComputerSummary:
        """The new computer, inside a serialised (``Serial.COMPUTER_NAMES``) mutation; a host
        name taken (regardless of case) is a Conflict."""
        s = m.session
        if s.scalar(select(Computer.id).where(func.lower(Computer.hostname) == hostname.lower())):
            raise Conflict(f"a computer named {hostname!r} already exists", field="hostname")
        c = Computer(
            uid=uuid.uuid4().hex,
            hostname=hostname,
            fqdn=fqdn,
            notes=notes,
            created_at=self._clock(),
            created_by=actor.username,
        )
        s.add(c)
        s.flush()
        m.object_id = str(c.id)
        m.detail = {"hostname": hostname}
        return summary(c)

    def network_identities(
        self, actor: Actor, computer_ids: Iterable[int] | None = None
    ) -> dict[int, NetworkIdentity]:
        """MAC and IPv4 addresses per computer from the inventory, in interface-name order, in one
        query: for transports that show a host's addresses in list rows (opsi hosts)."""
        visible(actor, Perm.READ, ComputerInterface.computer_id)  # PermissionDenied before any read
        stmt = select(ComputerInterface.computer_id, ComputerInterface.mac, ComputerInterface.addresses)
        if computer_ids is not None:
            stmt = stmt.where(ComputerInterface.computer_id.in_(list(computer_ids)))
        found: dict[int, NetworkIdentity] = {}
        with UnitOfWork(self._db, readonly=True) as uow:
            # an end user: the computers assigned to them; a user in user groups: what they reach
            scope = reach(uow.session, actor, Perm.READ, ComputerInterface.computer_id)
            if scope is not None:
                stmt = stmt.where(scope)
            rows = uow.session.connection().execute(  # Core: no ORM row processing
                stmt.order_by(ComputerInterface.computer_id, ComputerInterface.name)
            )
            for cid, mac, addresses in rows:
                ident = found.setdefault(cid, NetworkIdentity(macs=[], ipv4=[]))
                if mac and mac != "00:00:00:00:00:00":
                    ident.macs.append(mac.lower())
                for a in addresses or []:
                    if isinstance(a, dict) and a.get("family") == "ipv4" and a.get("address"):
                        addr = str(a["address"])
                        if not addr.startswith("127."):
                            ident.ipv4.append(addr)
        return found

    def update(
        self, actor: Actor, computer_id: int, *, notes: str | None = None, fqdn: str | None = None
    ) -> ComputerSummary:
        """``fqdn``: a qualified name given by an admin (a rename); it stays until the machine
        itself reports a qualified one (see inventory.apply_inventory)."""
        with self._audit.mutation(
            actor, "computer.update", "computer", computer_id, perm=Perm.MANAGE_COMPUTERS
        ) as m:
            c = m.session.get(Computer, computer_id)
            if c is None:
                raise NotFound("computer", computer_id)
            if notes is not None and notes != c.notes:
                m.detail["notes"] = [c.notes, notes]
                c.notes = notes
            if fqdn is not None:
                fqdn = fqdn.strip().lower().rstrip(".")
                if not is_qualified(fqdn) or len(fqdn) > 255:
                    raise ValidationFailed("fqdn must be a qualified name (host.domain.tld)", field="fqdn")
                taken = m.session.scalar(
                    select(Computer.id).where(func.lower(Computer.fqdn) == fqdn, Computer.id != computer_id)
                )
                if taken is not None:
                    raise Conflict(f"another computer is named {fqdn!r}", field="fqdn")
                if fqdn != c.fqdn:
                    m.detail["fqdn"] = [c.fqdn, fqdn]
                    c.fqdn = fqdn
            return summary(c)

    def delete(
        self,
        actor: Actor,
        computer: int | str,
        *,
        unless_pending: bool = False,
        unless_online: bool = False,
    ) -> None:
        """Delete the computer (by id, or by uid when a text; its jobs, installations and
        memberships go with it). ``unless_pending``: refuse (Conflict, reason ``pending_jobs``)
        while a deployment's package job for it is pending; checked in the deleting transaction,
        serialised with whatever creates package jobs, so no job can appear between the check
        and the delete. ``unless_online``: refuse (Conflict, reason ``online``) while its agent
        is connected."""
        with self._audit.mutation(
            actor, "computer.delete", "computer", computer, perm=Perm.MANAGE_COMPUTERS
        ) as m:
            if unless_pending:
                serialize(m.session, Serial.PACKAGE_JOBS)
            if isinstance(computer, str):
                c = m.session.scalar(select(Computer).where(Computer.uid == computer))
            else:
                c = m.session.get(Computer, computer)
            if c is None or not reaches(m.session, actor, Perm.MANAGE_COMPUTERS, c.id):
                raise NotFound("computer", computer)
            computer_id = c.id
            m.object_id = str(computer_id)
            if unless_pending and _has_pending_package_jobs(m.session, computer_id):
                raise Conflict("the computer has pending package jobs", reason=Reason.PENDING_JOBS)
            if unless_online and c.online:
                raise Conflict("the computer is online", reason=Reason.ONLINE)
            m.detail = {"hostname": c.hostname, "uid": c.uid}
            m.session.delete(c)
        # After the commit: whichever server process holds its agent closes the connection.
        self._notifier.computers_deleted([computer_id])

    # ------------------------------------------------------------ agent side

    def record_inventory(self, actor: Actor, computer_id: int, inv: Inventory, digest: str) -> list[str]:
        with self._audit.mutation(actor, "computer.inventory", "computer", computer_id) as m:
            c = m.session.get(Computer, computer_id)
            if c is None:
                raise NotFound("computer", computer_id)
            changed = apply_inventory(m.session, c, inv, digest, self._clock())
            m.detail = {"changed": changed}
            return changed

    def inventory_digest(self, computer_id: int) -> str:
        """The digest of the stored inventory (a hello gets it with the key check instead)."""
        with UnitOfWork(self._db, readonly=True) as uow:
            return (
                uow.session.scalar(select(Computer.inventory_digest).where(Computer.id == computer_id)) or ""
            )

    def set_online(self, computer_id: int, *, node_id: str, remote_address: str, agent_version: str) -> None:
        self.set_presence([Presence(computer_id, remote_address, agent_version)], [], node_id=node_id)

    def set_offline(self, computer_ids: Iterable[int], *, node_id: str) -> None:
        self.set_presence([], computer_ids, node_id=node_id)

    def set_presence(self, online: Sequence[Presence], offline: Iterable[int], *, node_id: str) -> None:
        """Connects and disconnects in one transaction (the hub batches them, so that thousands
        of agents coming back after a restart do not each queue for the write lock). A
        disconnect only counts on the node that holds the computer: it may have reconnected
        to another one already."""
        gone = list(offline)
        if not online and not gone:
            return
        now = self._clock()
        with UnitOfWork(self._db) as uow:
            if online:
                uow.session.execute(
                    _BY_ID,
                    [
                        {
                            "computer_id": p.computer_id,
                            "online": True,
                            "node_id": node_id,
                            "remote_address": p.remote_address[:64],
                            "agent_version": p.agent_version[:50],
                            "last_seen": now,
                        }
                        for p in online
                    ],
                )
            if gone:
                uow.session.execute(
                    update(Computer)
                    .where(Computer.id.in_(gone), Computer.node_id == node_id)
                    .values(online=False, node_id=None)
                )

    def touch(self, last_seen: Mapping[int, datetime]) -> set[int]:
        """Batch update of last_seen from heartbeats (flushed every few seconds, not per beat).
        Returns the computers that no longer exist: deleted, perhaps through another server
        process, while their agents are still connected here."""
        if not last_seen:
            return set()
        ids = list(last_seen)
        with UnitOfWork(self._db) as uow:
            present: set[int] = set()
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                present.update(uow.session.scalars(select(Computer.id).where(Computer.id.in_(chunk))))
            if present:
                uow.session.execute(
                    _BY_ID, [{"computer_id": cid, "last_seen": last_seen[cid]} for cid in present]
                )
        return set(ids) - present

    def reset_presence(self, node_id: str) -> int:
        """At start: nothing is connected to this node yet, whatever the database says."""
        with UnitOfWork(self._db) as uow:
            result = uow.session.execute(
                update(Computer).where(Computer.node_id == node_id).values(online=False, node_id=None)
            )
            return int(getattr(result, "rowcount", 0) or 0)

    # ------------------------------------------------------------ asking agents

    def agent_addresses(self, computer_ids: Iterable[int]) -> dict[int, AgentAddress]:
        """The connected ones among these computers, each with the server process holding it."""
        ids = set(computer_ids)
        if not ids:
            return {}
        with UnitOfWork(self._db, readonly=True) as uow:
            rows = uow.session.execute(
                select(Computer.id, Computer.node_id).where(
                    Computer.id.in_(ids), Computer.online.is_(True), Computer.node_id.is_not(None)
                )
            )
            return {cid: AgentAddress(cid, node) for cid, node in rows if node}

    def ping(self, actor: Actor, computer_id: int, timeout: float) -> AgentPing:
        """Ask the computer's agent for proof of life. A computer that is not connected is
        AgentUnreachable at once; one that does not answer in ``timeout`` s is AgentTimeout."""
        actor.require(Perm.READ)
        _check_timeout(timeout)
        with UnitOfWork(self._db, readonly=True) as uow:
            row = uow.session.execute(
                select(Computer.hostname, Computer.agent_kind).where(Computer.id == computer_id)
            ).first()
            if not reaches(uow.session, actor, Perm.READ, computer_id):
                row = None  # a computer the user's groups do not reach: "not found"
        if row is None:
            raise NotFound("computer", computer_id)
        if "ping" not in capabilities(row[1]):
            raise incapable(computer_id, row[0], row[1], "answer pings")
        address = self.agent_addresses([computer_id]).get(computer_id)
        if address is None:
            raise AgentUnreachable(f"computer {computer_id} is not connected", computer_id=computer_id)
        started = time.monotonic()
        body = self._gateway.request(address, PING, {}, timeout)
        elapsed = (time.monotonic() - started) * 1000
        try:
            agent_time, uptime = float(body["time"]), float(body["uptime"])
        except (KeyError, TypeError, ValueError):
            raise AgentFailed(f"computer {computer_id} answered the ping with {body!r}") from None
        return AgentPing(computer_id, datetime.fromtimestamp(agent_time, UTC), uptime, round(elapsed, 1))

    def refresh_updates_status(self, actor: Actor, uid: str) -> dict[str, Any]:
        """Ask the computer's agent (by uid) for its pending-updates summary and keep it
        (``updates_status``, audited). Unknown or out of reach: NotFound; not connected:
        AgentUnreachable; no answer within ``UPDATES_TIMEOUT``: AgentTimeout. The agent bounds
        its package manager to 60 s; no transaction is open while it works."""
        actor.require(Perm.READ)
        with UnitOfWork(self._db, readonly=True) as uow:
            computer_id = uow.session.scalar(select(Computer.id).where(Computer.uid == uid))
            if computer_id is None or not reaches(uow.session, actor, Perm.READ, computer_id):
                raise NotFound("computer", uid)
        address = self.agent_addresses([computer_id]).get(computer_id)
        if address is None:
            raise AgentUnreachable(f"computer {uid} is not connected", computer_id=computer_id)
        status = _updates_status(self._gateway.request(address, UPDATES_STATUS, {}, UPDATES_TIMEOUT))
        # when the server heard it (the agent's clock may be off, its text anything)
        status["refreshed"] = self._clock().astimezone(UTC).isoformat().replace("+00:00", "Z")
        with self._audit.mutation(actor, "computer.updates_status", "computer", computer_id) as m:
            c = m.session.get(Computer, computer_id)
            if c is None:
                raise NotFound("computer", uid)
            c.updates_status = json.dumps(status)
            m.detail = {
                "uid": uid,
                "updates_available": status["updates_available"],
                "security_updates_available": status["security_updates_available"],
            }
        return status

    def probe(self, actor: Actor, computer_ids: Sequence[int], timeout: float) -> dict[int, bool]:
        """Which of these computers' agents answer now, all asked at once (opsi's
        ``hostControl_reachable``). Not connected: False at once; no answer within ``timeout``
        s: False. An agent that answers with an error (one too old to know pings) is alive."""
        actor.require(Perm.READ)
        _check_timeout(timeout)
        ids = sorted(set(computer_ids))
        with UnitOfWork(self._db, readonly=True) as uow:  # unknown or out of reach: "not found"
            given = select(Computer.id).where(Computer.id.in_(ids))
            scope = reach(uow.session, actor, Perm.READ, Computer.id)
            known = set(uow.session.scalars(given if scope is None else given.where(scope)))
        missing = sorted(set(ids) - known)
        if missing:
            raise NotFound("computer", missing[0])
        addresses = self.agent_addresses(ids)
        answers = self._gateway.request_many(list(addresses.values()), PING, {}, timeout) if addresses else {}
        return {
            cid: cid in answers and not isinstance(answers[cid], AgentUnreachable | AgentTimeout)
            for cid in ids
        }


UPDATES_TIMEOUT = 75.0  # the agent's 60 s for its package manager, and the way there and back
_MAX_SUMMARIES = 1000


def _text(value: Any, limit: int) -> str:
    return str(value)[:limit] if isinstance(value, str) else ""


def _updates_status(body: Mapping[str, Any]) -> dict[str, Any]:
    """An agent's pending-updates summary, checked and bounded (what is kept and shown)."""

    def count(key: str) -> int:
        value = body.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0

    items = body.get("update_summaries")
    summaries = [
        {
            "title": _text(item.get("title"), 255),
            "description": _text(item.get("description"), 1000),
            "reboot_required": item.get("reboot_required") is True,
            "is_security_update": item.get("is_security_update") is True,
        }
        for item in (items if isinstance(items, list) else [])[:_MAX_SUMMARIES]
        if isinstance(item, dict)
    ]
    return {
        "refreshed": "",
        "updates_available": count("updates_available"),
        "security_updates_available": count("security_updates_available"),
        "update_summaries": summaries,
        "reboot_pending": body.get("reboot_pending") is True,
        "error": _text(body.get("error"), 1000),
        "hint": _text(body.get("hint"), 1000),
    }


def _check_timeout(timeout: float) -> None:
    if not 0 < timeout <= MAX_AGENT_TIMEOUT:
        raise ValidationFailed(
            f"timeout must be more than 0 and at most {MAX_AGENT_TIMEOUT:g} s", field="timeout"
        )


def _has_pending_package_jobs(s: Session, computer_id: int) -> bool:
    """A deployment's (not a rule's) install or uninstall job for the computer is pending."""
    found = s.scalar(
        select(Job.id)
        .join(JobBatch, JobBatch.id == Job.batch_id)
        .where(
            Job.computer_id == computer_id,
            Job.kind.in_(PACKAGE_KINDS),
            Job.status.in_([st.value for st in PENDING]),
            JobBatch.kind == "deployment",
        )
        .limit(1)
    )
    return found is not None
