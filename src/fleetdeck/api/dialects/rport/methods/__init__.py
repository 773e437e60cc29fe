"""One module per concept; importing this package registers every route."""

from fleetdeck.api.dialects.rport.methods import (
    alerting,
    auth,
    client_groups,
    clients,
    clients_auth,
    commands,
    info,
    library,
    me,
    monitoring,
    oauth,
    schedules,
    tunnels,
    uploads,
    users,
    vault,
)

__all__ = [
    "alerting",
    "auth",
    "client_groups",
    "clients",
    "clients_auth",
    "commands",
    "info",
    "library",
    "me",
    "monitoring",
    "oauth",
    "schedules",
    "tunnels",
    "uploads",
    "users",
    "vault",
]
