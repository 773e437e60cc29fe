"""One module per concept; each endpoint makes one core call (a list adds one read of the
comments it shows)."""

from fleetdeck.api.dialects.remotepc.methods import computers, groups, users

__all__ = ["computers", "groups", "users"]
