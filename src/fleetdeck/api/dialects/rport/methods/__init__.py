"""One module per concept; importing this package registers every route."""

from fleetdeck.api.dialects.rport.methods import auth, clients, info, me, users, vault

__all__ = ["auth", "clients", "info", "me", "users", "vault"]
