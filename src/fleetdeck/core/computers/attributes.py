"""What people say about a computer, beside what its inventory says: tags (words) and labels
(key/value), kept in ``computer_tags``. Every transport reads and writes the same rows, and
rule groups match the tags (``core.groups.rules``).

``find_described`` is the list transports render clients from: the page of computers
(``ComputerService.find_detailed``), their tags and labels, and the rule groups each is in, in a
constant number of statements.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from sqlalchemy import ColumnElement, delete, false, func, or_, select
from sqlalchemy.orm import Session

from fleetdeck.core.audit import AuditLog
from fleetdeck.core.authz import Actor, Perm
from fleetdeck.core.computers.entities import ComputerRow
from fleetdeck.core.computers.service import ComputerService
from fleetdeck.core.errors import NotFound, ValidationFailed
from fleetdeck.core.groups.rules import ACCESS, LABEL, TAG, access, keys_of
from fleetdeck.core.groups.rules import condition as members_of
from fleetdeck.core.people.scope import visible
from fleetdeck.core.query import Cond, Derived, Expr, Op, Page, Query, to_sql
from fleetdeck.storage.db import Database
from fleetdeck.storage.tables import Computer, ComputerTag, RuleGroup, UserGroup, UserGroupMember
from fleetdeck.storage.uow import UnitOfWork

MAX_TAGS = 100  # tags, and labels, per computer
MAX_NAME = 255
MAX_VALUE = 1024


@dataclass(frozen=True, slots=True)
class Attributes:
    tags: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    # user groups allowed to reach this computer, besides rule groups' (core.groups.rules.access)
    access: tuple[str, ...] = ()


class Described(NamedTuple):
    row: ComputerRow
    attributes: Attributes
    groups: tuple[str, ...]  # keys of the rule groups the computer is in


def load(s: Session, computer_ids: Sequence[int]) -> dict[int, Attributes]:
    """The attributes of ``computer_ids`` (one statement; computers without any are left out)."""
    if not computer_ids:
        return {}
    tags: dict[int, list[str]] = {}
    labels: dict[int, dict[str, str]] = {}
    allowed: dict[int, list[str]] = {}
    stmt = (
        select(ComputerTag.computer_id, ComputerTag.kind, ComputerTag.name, ComputerTag.value)
        .where(ComputerTag.computer_id.in_(list(computer_ids)))
        .order_by(ComputerTag.computer_id, ComputerTag.name)
    )
    for cid, kind, name, value in s.execute(stmt):
        if kind == TAG:
            tags.setdefault(cid, []).append(name)
        elif kind == ACCESS:
            allowed.setdefault(cid, []).append(name)
        else:
            labels.setdefault(cid, {})[name] = value
    return {
        cid: Attributes(tuple(tags.get(cid, ())), labels.get(cid, {}), tuple(allowed.get(cid, ())))
        for cid in set(tags) | set(labels) | set(allowed)
    }


def _check(tags: Sequence[str], labels: Mapping[str, str]) -> tuple[list[str], dict[str, str]]:
    clean_tags = list(dict.fromkeys(t.strip() for t in tags if t.strip()))
    if len(clean_tags) > MAX_TAGS or len(labels) > MAX_TAGS:
        raise ValidationFailed(f"at most {MAX_TAGS} tags and {MAX_TAGS} labels", field="tags")
    for text in (*clean_tags, *labels):
        if len(text) > MAX_NAME or "\x00" in text:
            raise ValidationFailed(f"a tag or label name is at most {MAX_NAME} characters", field="tags")
    clean_labels = {k.strip(): v for k, v in labels.items() if k.strip()}
    if any(len(v) > MAX_VALUE or "\x00" in v for v in clean_labels.values()):
        raise ValidationFailed(f"a label value is at most {MAX_VALUE} characters", field="labels")
    return clean_tags, clean_labels


def _conditions(exprs: Sequence[Expr]) -> list[Cond]:
    found: list[Cond] = []
    for expr in exprs:
        if isinstance(expr, Cond):
            found.append(expr)
        else:
            found += _conditions(expr.conds)
    return found


class ComputerAttributeService:
    def __init__(self, db: Database, audit: AuditLog, computers: ComputerService) -> None:
        self._db = db
        self._audit = audit
        self._computers = computers

    @staticmethod
    def _reachable(s: Session, actor: Actor, perm: Perm, uid: str) -> int:
        """The id of computer ``uid`` if ``actor`` may reach it with ``perm``; NotFound if not
        (a computer the actor may not reach is not said to exist)."""
        stmt = select(Computer.id).where(Computer.uid == uid)
        for condition in (visible(actor, perm, Computer.id), access(s, actor)):
            if condition is not None:
                stmt = stmt.where(condition)
        found = s.scalar(stmt)
        if found is None:
            raise NotFound("computer", uid)
        return found

    def find_described(self, actor: Actor, query: Query) -> Page[Described]:
        """A page of computers with their attributes and rule groups: the page's statements
        plus at most three, whatever its size, and one per condition on ``rule_groups``.

        ``rule_groups`` (the keys of the rule groups a computer is in) is a field only this
        service can answer: membership is each group's stored rules, so the groups whose key
        matches are read first and their rules become one SQL condition on the computers."""
        page = self._computers.find_detailed(
            actor, query, extra={"rule_groups": self._rule_groups_field(query)}
        )
        ids = [row.id for row in page.items]
        with UnitOfWork(self._db, readonly=True) as uow:
            attrs = load(uow.session, ids)
            groups = keys_of(uow.session, ids)
        empty = Attributes()
        items = [Described(r, attrs.get(r.id, empty), tuple(groups.get(r.id, ()))) for r in page.items]
        return Page(items=items, total=page.total)

    def _rule_groups_field(self, query: Query) -> Derived:
        wanted = [c for c in _conditions(query.where) if c.field == "rule_groups"]
        clauses: dict[int, ColumnElement[bool]] = {}
        if wanted:
            with UnitOfWork(self._db, readonly=True) as uow:
                for cond in wanted:
                    if cond.op is Op.IS_NULL:  # true: in no group at all
                        rules = uow.session.scalars(select(RuleGroup.rules))
                        some = or_(false(), *(members_of(r) for r in rules))
                        clauses[id(cond)] = ~some if cond.value in (True, None, "true", "1") else some
                        continue
                    keys = to_sql(cond, {cond.field: RuleGroup.key})
                    rules = uow.session.scalars(select(RuleGroup.rules).where(keys))
                    clauses[id(cond)] = or_(false(), *(members_of(r) for r in rules))
        return Derived(lambda cond: clauses[id(cond)])

    def get(self, actor: Actor, uid: str) -> Attributes:
        with UnitOfWork(self._db, readonly=True) as uow:
            cid = self._reachable(uow.session, actor, Perm.READ, uid)
            return load(uow.session, [cid]).get(cid, Attributes())

    def put(self, actor: Actor, uid: str, tags: Sequence[str], labels: Mapping[str, str]) -> Attributes:
        """Replace the computer's tags and labels (audited)."""
        with self._audit.mutation(
            actor, "computer.attributes", "computer", uid, perm=Perm.MANAGE_COMPUTERS
        ) as m:
            cid = self._reachable(m.session, actor, Perm.MANAGE_COMPUTERS, uid)
            clean_tags, clean_labels = _check(tags, labels)
            m.session.execute(
                delete(ComputerTag).where(ComputerTag.computer_id == cid, ComputerTag.kind.in_((TAG, LABEL)))
            )
            m.session.add_all(ComputerTag(computer_id=cid, kind=TAG, name=t, value="") for t in clean_tags)
            m.session.add_all(
                ComputerTag(computer_id=cid, kind=LABEL, name=k, value=v) for k, v in clean_labels.items()
            )
            m.detail = {"tags": clean_tags, "labels": clean_labels}
            return Attributes(tuple(sorted(clean_tags)), dict(sorted(clean_labels.items())))

    def allow(self, actor: Actor, uid: str, user_groups: Sequence[str]) -> None:
        """Make ``user_groups`` (every one must exist) the user groups allowed to reach the
        computer directly, replacing the previous list; empty: only rule groups (and admins)."""
        with self._audit.mutation(actor, "computer.access", "computer", uid, perm=Perm.MANAGE_USERS) as m:
            cid = self._reachable(m.session, actor, Perm.MANAGE_COMPUTERS, uid)
            names = list(dict.fromkeys(g.strip() for g in user_groups if g.strip()))
            if names:
                known = set(m.session.scalars(select(UserGroup.name).where(UserGroup.name.in_(names))))
                known |= set(
                    m.session.scalars(
                        select(UserGroupMember.group_name).where(UserGroupMember.group_name.in_(names))
                    )
                )
                missing = [n for n in names if n not in known]
                if missing:
                    raise NotFound("user group", ", ".join(missing))
            m.session.execute(
                delete(ComputerTag).where(ComputerTag.computer_id == cid, ComputerTag.kind == ACCESS)
            )
            m.session.add_all(ComputerTag(computer_id=cid, kind=ACCESS, name=n, value="") for n in names)
            m.detail = {"allowed_user_groups": names}

    def tags(self, actor: Actor, limit: int, offset: int = 0) -> Page[tuple[str, tuple[str, ...]]]:
        """A page of the tags in use on the computers ``actor`` may reach, in tag order, each with
        those computers' uids: three statements whatever the number of tags or computers."""
        with UnitOfWork(self._db, readonly=True) as uow:
            s = uow.session
            conditions = [ComputerTag.kind == TAG]
            for condition in (visible(actor, Perm.READ, Computer.id), access(s, actor)):
                if condition is not None:
                    conditions.append(condition)
            joined = Computer.id == ComputerTag.computer_id
            base = select(ComputerTag.name).join(Computer, joined).where(*conditions)
            total = s.scalar(select(func.count()).select_from(base.distinct().subquery())) or 0
            names = list(s.scalars(base.distinct().order_by(ComputerTag.name).limit(limit).offset(offset)))
            members: dict[str, list[str]] = {n: [] for n in names}
            if names:
                stmt = (
                    select(ComputerTag.name, Computer.uid)
                    .join(Computer, Computer.id == ComputerTag.computer_id)
                    .where(*conditions, ComputerTag.name.in_(names))
                    .order_by(ComputerTag.name, Computer.uid)
                )
                for name, uid in s.execute(stmt):
                    members[name].append(uid)
            return Page(items=[(n, tuple(members[n])) for n in names], total=total)
