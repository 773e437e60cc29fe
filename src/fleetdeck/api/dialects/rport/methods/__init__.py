"""One module per concept; importing this package registers every route."""

from fleetdeck.api.dialects.rport.methods import (
    auth,
    client_groups,
    clients,
    clients_auth,
    commands,
    info,
    library,
    me,
    tunnels,
    uploads,
    users,
    vault,
)

__all__ = [
    "auth",
    "client_groups",
    "clients",
    "clients_auth",
    "commands",
    "info",
    "library",
    "me",
    "tunnels",
    "uploads",
    "users",
    "vault",
]
