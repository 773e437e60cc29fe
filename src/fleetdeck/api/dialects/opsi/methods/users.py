"""opsi's ``user_*`` methods over fleetdeck accounts (see ``objects/users.py``).

``user_getCredentials``/``user_setCredentials`` (the depot share user's password) and
``user_updateMultiFactorAuth`` are not answered: fleetdeck has no depot share and no second
factor for user logins yet (docs/compat/opsi.md gives the reason with each).
"""

from __future__ import annotations

from fleetdeck.api.dialects.opsi.objects import crud
from fleetdeck.api.dialects.opsi.objects.users import UserAdapter

USERS = crud.register("user", UserAdapter())
