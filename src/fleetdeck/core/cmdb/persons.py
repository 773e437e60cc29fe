"""Every fleetdeck user is a person object (``C__OBJTYPE__PERSON``, ``core.cmdb.link``): its
title is the user's full name (else the user name), and its person categories are read from
the user's row at the time of the request, read-only here (change the user instead), like a
computer's inventory categories. The login category never shows a password, not even its
hash: ``user_pass`` is always empty."""

from __future__ import annotations

from fleetdeck.core.cmdb.inventory import yes_no
from fleetdeck.core.cmdb.values import Entry
from fleetdeck.storage.tables import User

PERSON = "C__CATS__PERSON"
PERSON_MASTER = "C__CATS__PERSON_MASTER"
PERSON_LOGIN = "C__CATS__PERSON_LOGIN"
PERSON_CATEGORIES = frozenset({PERSON, PERSON_MASTER, PERSON_LOGIN})
NORMAL = 2


def _names(u: User) -> tuple[str | None, str | None]:
    """First and last name from the full name: the last word is the last name."""
    parts = u.full_name.split()
    if not parts:
        return None, None
    if len(parts) == 1:
        return None, parts[0]
    return " ".join(parts[:-1]), parts[-1]


def render(category: str, object_id: int, u: User) -> Entry:
    """The one entry of a person category of user ``u`` (object ``object_id``)."""
    if category == PERSON_LOGIN:
        values = {
            "disabled_login": yes_no(u.disabled),
            "title": u.username,
            "user_pass": None,
            "description": None,
        }
    else:
        first, last = _names(u)
        values = {
            "title": u.full_name or u.username,
            "first_name": first,
            "last_name": last,
            "mail": u.email or None,
        }
    return Entry(object_id, object_id, category, NORMAL, values, inventory=True)
