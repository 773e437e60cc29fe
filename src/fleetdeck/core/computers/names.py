"""Computers named by their display name (the host name), for transports whose clients do not
know ids. Names need not be unique, so a name that names several computers is refused
(``Reason.AMBIGUOUS_NAME``), never resolved by a silent pick; an unknown name is NotFound."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from fleetdeck.core.errors import NotFound, Reason, ValidationFailed
from fleetdeck.storage.tables import Computer


def resolve(s: Session, names: Sequence[str], scope: ColumnElement[bool] | None = None) -> dict[str, int]:
    """Exact (case-sensitive) host name -> computer id, in one query, inside the caller's
    transaction; ``scope`` limits the computers that count (an end user's)."""
    wanted = list(dict.fromkeys(names))
    if any(not n.strip() for n in wanted):
        raise ValidationFailed(
            "computer names must not be empty", field="computer_names", reason=Reason.NAME_EMPTY
        )
    stmt = select(Computer.hostname, Computer.id).where(Computer.hostname.in_(wanted))
    if scope is not None:
        stmt = stmt.where(scope)
    found: dict[str, list[int]] = {}
    for hostname, cid in s.execute(stmt):
        found.setdefault(hostname, []).append(cid)
    missing = [n for n in wanted if n not in found]
    if missing:
        raise NotFound("computer", missing[0])
    ambiguous = sorted(n for n, ids in found.items() if len(ids) > 1)
    if ambiguous:
        raise ValidationFailed(
            f"several computers are named {ambiguous[0]!r}",
            field="computer_names",
            reason=Reason.AMBIGUOUS_NAME,
            names=ambiguous,
        )
    return {n: found[n][0] for n in wanted}
