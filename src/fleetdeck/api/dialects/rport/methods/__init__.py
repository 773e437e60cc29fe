"""One module per concept; importing this package registers every route."""

from fleetdeck.api.dialects.rport.methods import auth, info, me, users

__all__ = ["auth", "info", "me", "users"]
