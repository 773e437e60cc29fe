"""One module per concept; importing this package registers every route."""

from fleetdeck.api.dialects.rport.methods import auth, clients, commands, info, me, users

__all__ = ["auth", "clients", "commands", "info", "me", "users"]
