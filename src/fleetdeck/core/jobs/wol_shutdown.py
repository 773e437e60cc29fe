"""Shutting down the computers a deployment woke (OCO's ``shutdown_waked_after_completion``).

When a deployment sends its Wake-on-LAN packets nobody knows yet whether they will work. So each
target computer that is offline then gets post action "shut down" on its last job, marked with
``wol_shutdown_set`` (when) and ``wol_shutdown_replaced`` (the post action it replaced). Only
"none" and "restart the agent" are replaced, as in OCO: a restart or shutdown the package itself
asks for stays. Computers that are online at wake time are somebody's running computers and
are not touched. Later one of two things decides the mark:

* the computer connects within ``wol.shutdown_expiry_sec`` of the wake: the packet worked, the
  shutdown is kept for good and the mark is cleared;
* it does not: the packet did not wake it, so whoever switches it on later does so by hand to
  work on it, and the post action goes back to the one it replaced (OCO writes "none" here,
  which would also drop an agent restart that an agent update needs).

Connecting is what tells, so the decision is made when jobs are claimed for a connected
computer (``on_connected``, right after every connect): an agent that connects after the expiry
but before the next tick is never sent the shutdown. The periodic tick (``settle``) decides the
marks of computers that never came, and, from ``last_seen``, any a claim has not decided.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from fleetdeck.core.jobs.entities import PENDING
from fleetdeck.core.settings.service import SettingsService
from fleetdeck.storage.tables import Computer, Job

NONE, SHUTDOWN, AGENT_RESTART = 0, 2, 3
REPLACEABLE = (NONE, AGENT_RESTART)
EXPIRY_SETTING = "wol.shutdown_expiry_sec"
_PENDING = [s.value for s in PENDING]


def expiry(settings: SettingsService) -> timedelta:
    return timedelta(seconds=int(settings.value(EXPIRY_SETTING)))


@dataclass(slots=True)
class Decided:
    """Job ids whose mark was decided: shutdown kept, or post action given back."""

    kept: list[int] = field(default_factory=list)
    reverted: list[int] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.kept or self.reverted)


def mark(s: Session, batch_id: int, computer_ids: Iterable[int], now: datetime) -> list[int]:
    """At wake time: the last pending job of every offline computer among ``computer_ids`` gets
    post action shutdown, if its own is replaceable. Returns the ids of the jobs marked.

    "Last" is the highest sequence among the pending jobs (OCO takes the highest of all the
    container's jobs, but a job skipped as already installed never reaches the agent, so its post
    action would never run)."""
    offline = list(
        s.scalars(select(Computer.id).where(Computer.id.in_(list(computer_ids)), Computer.online.is_(False)))
    )
    marked = []
    for cid in sorted(offline):
        job = s.scalars(
            select(Job)
            .where(Job.batch_id == batch_id, Job.computer_id == cid, Job.status.in_(_PENDING))
            .order_by(Job.sequence.desc(), Job.id.desc())
            .limit(1)
        ).first()
        if job is None or (job.post_action or NONE) not in REPLACEABLE:
            continue
        job.wol_shutdown_replaced = job.post_action or NONE
        job.post_action = SHUTDOWN
        job.wol_shutdown_set = now
        marked.append(job.id)
    return marked


def any_marked(s: Session) -> bool:
    """Whether any mark waits for a decision (cheap, read-only: the tick runs every few seconds
    and should not take SQLite's write lock for nothing)."""
    return s.scalar(select(Job.id).where(Job.wol_shutdown_set.is_not(None)).limit(1)) is not None


def settle(s: Session, now: datetime, expiry: timedelta) -> Decided:
    """The periodic decision, for marks no connection has decided (see ``on_connected``).

    Kept: the computer has been seen since the mark and within the expiry. Reverted: the expiry
    has passed without that."""
    decided = Decided()
    for jid, marked_at, replaced, last_seen in s.execute(
        select(Job.id, Job.wol_shutdown_set, Job.wol_shutdown_replaced, Computer.last_seen)
        .join(Computer, Computer.id == Job.computer_id)
        .where(Job.wol_shutdown_set.is_not(None))
    ).all():
        if marked_at is None:  # never: the query selects marked jobs (this narrows the type)
            continue
        deadline = marked_at + expiry
        if last_seen is not None and marked_at <= last_seen <= deadline:
            _clear(s, jid, None)
            decided.kept.append(jid)
        elif now > deadline:
            _clear(s, jid, _given_back(replaced))
            decided.reverted.append(jid)
    return decided


def on_connected(s: Session, computer_ids: Sequence[int], now: datetime, expiry: timedelta) -> Decided:
    """The decision for the marks of computers connected ``now``, made before their jobs are
    claimed for delivery: within the expiry the shutdown stays, after it the replaced post
    action comes back, and the agent is handed the job with that."""
    decided = Decided()
    for jid, marked_at, replaced in s.execute(
        select(Job.id, Job.wol_shutdown_set, Job.wol_shutdown_replaced).where(
            Job.computer_id.in_(computer_ids), Job.wol_shutdown_set.is_not(None)
        )
    ).all():
        if marked_at is None:  # never: the query selects marked jobs (this narrows the type)
            continue
        if now <= marked_at + expiry:
            _clear(s, jid, None)
            decided.kept.append(jid)
        else:
            _clear(s, jid, _given_back(replaced))
            decided.reverted.append(jid)
    return decided


def _given_back(replaced: int | None) -> int:
    return NONE if replaced is None else replaced


def _clear(s: Session, job_id: int, post_action: int | None) -> None:
    """Remove the mark; set ``post_action`` unless it is None (the shutdown stays)."""
    values: dict[str, object] = {"wol_shutdown_set": None, "wol_shutdown_replaced": None}
    if post_action is not None:
        values["post_action"] = post_action
    s.execute(
        update(Job).where(Job.id == job_id).values(**values).execution_options(synchronize_session=False)
    )
