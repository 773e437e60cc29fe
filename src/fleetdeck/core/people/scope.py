"""What part of the fleet an actor may touch: every computer, or only those assigned to them.

An end user's actor carries no fleet-wide permission, only its narrowed form
(``Perm.READ_ASSIGNED``, ``Perm.RUN_ASSIGNED``); core's computer reads and job creation ask
``visible`` for a condition and add it to their own statement, so the scope costs a subquery,
never an extra query, and every transport (own API, every dialect, the web UI) gets it for free.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, select

from fleetdeck.core.authz import Actor, Perm
from fleetdeck.storage.tables import ComputerAssignment


def assigned_to(user_id: int) -> Any:
    """The ids of the computers assigned to ``user_id``, as a subquery."""
    return select(ComputerAssignment.computer_id).where(ComputerAssignment.user_id == user_id)


def visible(actor: Actor, perm: Perm, computer_id: Any) -> ColumnElement[bool] | None:
    """The condition on ``computer_id`` (a column) that keeps what ``actor`` may touch with
    ``perm``, or None for every computer. Raises PermissionDenied when the actor has neither
    ``perm`` nor its narrowed form."""
    scope = actor.computer_scope(perm)
    if scope is None:
        return None
    condition: ColumnElement[bool] = computer_id.in_(assigned_to(scope))
    return condition
