"""The remote sessions open in this process (terminals, desktop views), capped per user and per
computer: one lock, one table, the same refusals for both kinds."""

from __future__ import annotations

import threading
from typing import Generic, Protocol, TypeVar

from fleetdeck.core.authz import Actor
from fleetdeck.core.errors import Conflict


class Grant(Protocol):
    @property
    def session_id(self) -> str: ...

    @property
    def computer_id(self) -> int: ...

    @property
    def user_key(self) -> str: ...


G = TypeVar("G", bound=Grant)


def user_key(actor: Actor) -> str:
    """Whom the per-user cap counts: the user id, or the name for callers without one."""
    return str(actor.user_id) if actor.user_id is not None else f"name:{actor.username}"


class OpenSessions(Generic[G]):
    def __init__(self, noun: str, max_per_user: int, max_per_computer: int) -> None:
        self.noun = noun  # "terminals", "desktop views"
        self.max_per_user = max_per_user
        self.max_per_computer = max_per_computer
        self._lock = threading.Lock()
        self._open: dict[str, G] = {}

    def admit(self, grant: G, hostname: str) -> G:
        """Count the session in, or Conflict when its user or its computer has the most already."""
        with self._lock:
            mine = sum(1 for g in self._open.values() if g.user_key == grant.user_key)
            there = sum(1 for g in self._open.values() if g.computer_id == grant.computer_id)
            if mine >= self.max_per_user:
                raise Conflict(f"you have {mine} {self.noun} open already (at most {self.max_per_user})")
            if there >= self.max_per_computer:
                most = self.max_per_computer
                raise Conflict(f"computer {hostname} has {there} {self.noun} open already (at most {most})")
            self._open[grant.session_id] = grant
            return grant

    def release(self, session_id: str) -> bool:
        """False when it was released already (the end is recorded once)."""
        with self._lock:
            return self._open.pop(session_id, None) is not None

    def count(self) -> int:
        with self._lock:
            return len(self._open)
