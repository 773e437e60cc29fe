"""The names of the web UI's session cookie and CSRF token, and the token comparison.

The sessions themselves are core's (``core/users/sessions.py``, in the database): the cookie
holds only the session's random secret; core keeps its hash and the login's ``Credential`` and
checks it against the user on every request, so a user who was disabled, deleted or changed
their password, or whose login token was revoked, is logged out at their next click, whichever
transport made the change, and in every server process.
"""

from __future__ import annotations

import hmac

COOKIE = "fleetdeck_session"
LOGIN_CSRF_COOKIE = "fleetdeck_login_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"


def same_token(expected: str, given: str | None) -> bool:
    """Constant-time comparison; an empty or absent token never matches."""
    return bool(expected) and bool(given) and hmac.compare_digest(expected.encode(), (given or "").encode())
