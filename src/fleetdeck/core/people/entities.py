from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class EndUserInfo:
    user_id: int
    email: str  # also the user name
    first_name: str
    last_name: str
    two_factor: bool
    disabled: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class InviteResult:
    """Partial success is normal: unusable or taken addresses are ``invalid``, the rest got
    an invitation (a repeated invitation of a pending address renews it)."""

    invited: list[str]
    invalid: list[str]


@dataclass(frozen=True, slots=True)
class DeleteResult:
    """Per address: True when that active end user / pending invitation was deleted."""

    active: dict[str, bool]
    invited: dict[str, bool]
