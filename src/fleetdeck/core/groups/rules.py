"""Rule groups: groups of computers defined by patterns on their inventory, not by a member list,
and the access they give user groups to their computers.

A group's ``rules`` map a field (``RULE_FIELDS``) to a list of patterns. A computer is a member
when every field given matches (AND across fields) and, within a field, any pattern matches any
of the computer's values for it (OR); matching ignores case and ``*`` stands for any text. A
group with no rules has no members; a field given an empty list matches only a computer with no
value for it. ``tags`` (people's tags, ``core.computers.attributes``) may instead be ``{"and": [...]}`` or
``{"or": [...]}``. Fields core keeps no data for yet (ip addresses, credential ids) have no
values.

Rules become SQL conditions on ``computers``, so membership is decided by the database when
read and follows every inventory change with nothing to keep up to date, and a list of groups
with their members is one statement whatever the number of groups or computers.

Access: a user who is in at least one user group and is not an admin reaches exactly the
computers of the rule groups that allow one of their user groups, and the computers that allow
one of them directly (``computer_tags`` rows of kind ``access``, ``core.computers.attributes``);
users in no user group keep what their role gives (``access``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, false, func, literal, or_, select, true
from sqlalchemy.orm import Session, aliased

from fleetdeck.core.audit import AuditLog
from fleetdeck.core.authz import Actor, Perm, Role
from fleetdeck.core.errors import Conflict, NotFound, ValidationFailed
from fleetdeck.core.people.scope import visible
from fleetdeck.core.ports import Clock
from fleetdeck.core.query import Page, Query, apply_query
from fleetdeck.storage.db import Database
from fleetdeck.storage.tables import Computer, ComputerTag, RuleGroup, UserGroupMember
from fleetdeck.storage.uow import UnitOfWork

KEY_RE = re.compile(r"^[A-Za-z0-9_*-]{1,30}$")
CONNECTED = "connected"
DISCONNECTED = "disconnected"
MAX_PATTERNS = 1000
MAX_PATTERN = 255


def _state() -> ColumnElement[str]:
    return case((Computer.online.is_(True), literal(CONNECTED)), else_=literal(DISCONNECTED))


# field -> the computer's values for it (columns; several = any of them); () = no data yet
RULE_FIELDS: dict[str, tuple[Any, ...]] = {
    "uid": (Computer.uid,),
    "name": (Computer.hostname,),
    "hostname": (Computer.hostname, Computer.fqdn),
    "os": (Computer.os,),
    "architecture": (Computer.architecture,),
    "os_family": (Computer.os_family,),
    "kernel": (Computer.kernel,),
    "agent_version": (Computer.agent_version,),
    "address": (Computer.remote_address,),
    "state": (_state(),),
    "ipv4": (),
    "ipv6": (),
    "tags": (),  # computer_tags rows (``_tagged``)
    "credential": (),
}
LIST_FIELDS = frozenset({"ipv4", "ipv6", "tags"})  # many values per computer
TAG = "tag"  # computer_tags.kind of a tag (others: LABEL and ACCESS)
LABEL = "label"  # computer_tags.kind of a label (name: value)
ACCESS = "access"  # computer_tags.kind of a user group allowed to reach that one computer

FIELDS = {"id": RuleGroup.key, "description": RuleGroup.description}


@dataclass(frozen=True, slots=True)
class RuleGroupInfo:
    key: str
    description: str
    rules: Mapping[str, Any]
    allowed_user_groups: tuple[str, ...]
    created_at: datetime
    # the members the caller may see: (uid, online) in uid order
    members: tuple[tuple[str, bool], ...]


def _like(pattern: str) -> str:
    escaped = pattern.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%")


def _tagged(pattern: str) -> ColumnElement[bool]:
    """The computer has a tag matching ``pattern``. An alias of ``computer_tags``, so the
    condition also works in statements that read ``computer_tags`` themselves."""
    tag = aliased(ComputerTag)
    return (
        select(tag.id)
        .where(
            tag.computer_id == Computer.id,
            tag.kind == TAG,
            func.lower(tag.name).like(_like(pattern.strip()), escape="\\"),
        )
        .exists()
    )


def has_tags(tags: Sequence[str], match_all: bool) -> ColumnElement[bool]:
    """The computer has every one of ``tags`` (``match_all``) or any of them, each matched
    exactly (case counts, no wildcards): one EXISTS per tag, or one for them all."""
    wanted = list(dict.fromkeys(tags))
    if not wanted:
        return false()

    def exists(names: list[str]) -> ColumnElement[bool]:
        tag = aliased(ComputerTag)
        return (
            select(tag.id)
            .where(tag.computer_id == Computer.id, tag.kind == TAG, tag.name.in_(names))
            .exists()
        )

    return and_(*(exists([t]) for t in wanted)) if match_all else exists(wanted)


def _matches(field: str, columns: tuple[Any, ...], pattern: str) -> ColumnElement[bool]:
    if field == "tags":
        return _tagged(pattern)
    if not columns:
        return false()  # no values: no pattern matches
    text = _like(pattern.strip())
    return or_(*(func.lower(c).like(text, escape="\\") for c in columns))


def _field_condition(field: str, patterns: Sequence[str]) -> ColumnElement[bool]:
    columns = RULE_FIELDS[field]
    if not patterns:  # only "no value" matches an empty list
        if field == "tags":
            return ~_tagged("*")
        if field in LIST_FIELDS or not columns:
            return true()
        return and_(*(func.coalesce(c, "") == "" for c in columns))
    return or_(*(_matches(field, columns, p) for p in patterns))


def condition(rules: Mapping[str, Any]) -> ColumnElement[bool]:
    """The SQL condition on ``computers`` that keeps the members of a group with ``rules``."""
    if not rules:
        return false()
    parts: list[ColumnElement[bool]] = []
    for field, value in rules.items():
        if isinstance(value, Mapping):  # tags: {"and": [...]} or {"or": [...]}
            (op, patterns), *_ = value.items()
            conds = [_field_condition(field, [p]) for p in patterns]
            if not conds:
                parts.append(true())
            else:
                parts.append(and_(*conds) if op == "and" else or_(*conds))
        else:
            parts.append(_field_condition(field, value))
    return and_(*parts)


def check_rules(rules: Mapping[str, Any]) -> dict[str, Any]:
    """Rules as stored, or ValidationFailed naming what is wrong."""
    clean: dict[str, Any] = {}
    for field, value in rules.items():
        if field not in RULE_FIELDS:
            raise ValidationFailed(f"unsupported group parameter: {field}", field=field)
        if isinstance(value, Mapping):
            if field != "tags" or len(value) != 1 or next(iter(value)) not in ("and", "or"):
                raise ValidationFailed(
                    f"{field}: only a list of patterns, or for tags one of 'and' / 'or'", field=field
                )
            op, patterns = next(iter(value.items()))
            clean[field] = {op: _patterns(field, patterns)}
        else:
            clean[field] = _patterns(field, value)
    return clean


def _patterns(field: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise ValidationFailed(f"{field}: a list of text patterns is expected", field=field)
    if len(value) > MAX_PATTERNS or any(len(p) > MAX_PATTERN or "\x00" in p for p in value):
        raise ValidationFailed(f"{field}: too many or too long patterns", field=field)
    return [p.strip() for p in value]


def access(s: Session, actor: Actor) -> ColumnElement[bool] | None:
    """The condition on ``computers`` keeping what ``actor`` may reach through rule groups, or
    None when rule groups do not restrict the actor (admins, agents, the system, users in no
    user group). Two small reads, whatever the number of computers."""
    if actor.role is Role.ADMIN or actor.user_id is None or actor.role is Role.END_USER:
        return None
    mine = set(s.scalars(select(UserGroupMember.group_name).where(UserGroupMember.user_id == actor.user_id)))
    if not mine:
        return None
    rows = s.execute(select(RuleGroup.rules, RuleGroup.allowed_user_groups)).all()
    allowed = [condition(rules) for rules, groups in rows if mine & set(groups or ())]
    row = aliased(ComputerTag)
    granted = (
        select(row.id)
        .where(row.computer_id == Computer.id, row.kind == ACCESS, row.name.in_(sorted(mine)))
        .exists()
    )
    return or_(granted, *allowed)


def reach(s: Session, actor: Actor, perm: Perm, computer_id: Any) -> ColumnElement[bool] | None:
    """The condition on ``computer_id`` (any column holding a computer id) keeping what
    ``actor`` may touch with ``perm``: what their role assigns them (``visible``) and what their
    user groups reach (``access``), or None for every computer. Services that narrow a read by
    computer ask this one function, so no read can forget one of the two restrictions. Costs
    at most the two small reads of ``access`` per call, never one per row."""
    parts = [
        c for c in (visible(actor, perm, computer_id), _reachable(s, actor, computer_id)) if c is not None
    ]
    return and_(*parts) if parts else None


def reaches(s: Session, actor: Actor, perm: Perm, computer_id: int | None) -> bool:
    """Whether ``actor`` may touch the computer ``computer_id`` with ``perm`` (``reach``): no
    read when nothing narrows them, else one indexed read (plus ``access``'s two). For a
    service that loaded a row naming a computer (a job, an installation) and must answer "not
    found" when the caller may not see that computer. No computer (None) is reached."""
    scope = reach(s, actor, perm, Computer.id)
    if scope is None or computer_id is None:
        return True
    return s.scalar(select(Computer.id).where(Computer.id == computer_id, scope)) is not None


def _reachable(s: Session, actor: Actor, computer_id: Any) -> ColumnElement[bool] | None:
    reach_ = access(s, actor)
    if reach_ is None:
        return None
    if computer_id is Computer.id:  # the statement reads computers itself: correlate
        return reach_
    inside: ColumnElement[bool] = computer_id.in_(select(Computer.id).where(reach_))
    return inside


def keys_of(s: Session, computer_ids: Sequence[int]) -> dict[int, list[str]]:
    """For each of ``computer_ids``: the keys of the rule groups it is in, in key order (one
    statement for the groups and, if there are any, one for the computers)."""
    if not computer_ids:
        return {}
    rows = list(s.scalars(select(RuleGroup).order_by(RuleGroup.key)))
    if not rows:
        return {}
    columns = [case((condition(r.rules), 1), else_=0).label(f"g{i}") for i, r in enumerate(rows)]
    found: dict[int, list[str]] = {}
    for cid, *flags in s.execute(select(Computer.id, *columns).where(Computer.id.in_(list(computer_ids)))):
        found[cid] = [r.key for r, flag in zip(rows, flags, strict=True) if flag]
    return found


class RuleGroupService:
    def __init__(self, db: Database, audit: AuditLog, clock: Clock) -> None:
        self._db = db
        self._audit = audit
        self._clock = clock

    def find(self, actor: Actor, query: Query, *, members: bool = False) -> Page[RuleGroupInfo]:
        """A page of groups; with ``members``, each with the computers the caller may see in it
        (one more statement for the whole page)."""
        actor.require(Perm.READ)
        with UnitOfWork(self._db, readonly=True) as uow:
            s = uow.session
            stmt, count = apply_query(
                select(RuleGroup), select(func.count()).select_from(RuleGroup), query, FIELDS
            )
            assert count is not None
            rows = list(s.scalars(stmt))
            total = s.scalar(count) or 0
            found = self._members(s, actor, rows) if members else {}
            return Page(items=[self._info(r, found.get(r.key, ())) for r in rows], total=total)

    def get(self, actor: Actor, key: str) -> RuleGroupInfo:
        actor.require(Perm.READ)
        with UnitOfWork(self._db, readonly=True) as uow:
            row = uow.session.scalar(select(RuleGroup).where(RuleGroup.key == key))
            if row is None:
                raise NotFound("rule group", key)
            return self._info(row, self._members(uow.session, actor, [row]).get(key, ()))

    def create(
        self, actor: Actor, key: str, description: str, rules: Mapping[str, Any], allowed: Sequence[str]
    ) -> None:
        self._save(actor, key, description, rules, allowed, replace=False)

    def put(
        self, actor: Actor, key: str, description: str, rules: Mapping[str, Any], allowed: Sequence[str]
    ) -> None:
        """Create or replace group ``key``."""
        self._save(actor, key, description, rules, allowed, replace=True)

    def _save(
        self,
        actor: Actor,
        key: str,
        description: str,
        rules: Mapping[str, Any],
        allowed: Sequence[str],
        *,
        replace: bool,
    ) -> None:
        with self._audit.mutation(
            actor, "rule_group.create", "rule_group", key, perm=Perm.MANAGE_COMPUTERS
        ) as m:
            if not KEY_RE.match(key):
                raise ValidationFailed(
                    "invalid group id: 1 to 30 characters of A-Z, a-z, 0-9, '_', '*' and '-'", field="id"
                )
            clean = check_rules(rules)
            groups = list(dict.fromkeys(g.strip() for g in allowed if g.strip()))
            now = self._clock()
            row = m.session.scalar(select(RuleGroup).where(RuleGroup.key == key))
            if row is not None and not replace:
                raise Conflict(f"rule group {key!r} already exists", reason="exists")
            if row is None:
                row = RuleGroup(key=key, created_at=now)
                m.session.add(row)
            else:
                m.action = "rule_group.update"
            row.description = description
            row.rules = clean
            row.allowed_user_groups = groups
            row.updated_at = now
            m.detail = {"rules": clean, "allowed_user_groups": groups}

    def delete(self, actor: Actor, key: str) -> None:
        with self._audit.mutation(
            actor, "rule_group.delete", "rule_group", key, perm=Perm.MANAGE_COMPUTERS
        ) as m:
            row = m.session.scalar(select(RuleGroup).where(RuleGroup.key == key))
            if row is None:
                raise NotFound("rule group", key)
            m.session.delete(row)

    def _members(
        self, s: Session, actor: Actor, rows: Sequence[RuleGroup]
    ) -> dict[str, tuple[tuple[str, bool], ...]]:
        """Every group's members the actor may see, in one statement: one 0/1 column per group."""
        if not rows:
            return {}
        conds = [condition(r.rules) for r in rows]
        columns = [case((c, 1), else_=0).label(f"g{i}") for i, c in enumerate(conds)]
        stmt = select(Computer.uid, Computer.online, *columns).where(or_(*conds)).order_by(Computer.uid)
        scope = access(s, actor)
        if scope is not None:
            stmt = stmt.where(scope)
        found: dict[str, list[tuple[str, bool]]] = {r.key: [] for r in rows}
        for uid, online, *flags in s.execute(stmt):
            for r, flag in zip(rows, flags, strict=True):
                if flag:
                    found[r.key].append((uid, bool(online)))
        return {k: tuple(v) for k, v in found.items()}

    @staticmethod
    def _info(row: RuleGroup, members: tuple[tuple[str, bool], ...]) -> RuleGroupInfo:
        return RuleGroupInfo(
            key=row.key,
            description=row.description,
            rules=dict(row.rules or {}),
            allowed_user_groups=tuple(row.allowed_user_groups or ()),
            created_at=row.created_at,
            members=members,
        )
