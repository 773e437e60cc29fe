"""The OCO method registry and the context every method receives."""

from __future__ import annotations

from dataclasses import dataclass, field

from fleetdeck.api.kit.registry import Registry
from fleetdeck.core.authz import Actor
from fleetdeck.core.services import Services

METHODS = Registry("oco")


@dataclass
class Context:
    """One request element: who calls, in which language, which generation of OCO's value
    types it gets (``native``: JSON integers, else numeric strings), and the services to call."""

    services: Services
    actor: Actor
    lang: str = "en"
    native: bool = False
    _user_ids: dict[str, int | None] = field(default_factory=dict)

    def user_id(self, username: str) -> int | None:
        """OCO's ``created_by_system_user_id``: the id of the user of that name, if any."""
        if username not in self._user_ids:
            user = self.services.users.get_by_name(username) if username else None
            self._user_ids[username] = user.id if user else None
        return self._user_ids[username]
