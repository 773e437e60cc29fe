"""The runtime settings the opsi dialect owns."""

from __future__ import annotations

from fleetdeck.core.settings.registry import Kind, SettingDef
from fleetdeck.core.settings.service import SettingsService

DOMAIN_KEY = "opsi.default_domain"
SERVER_KEY = "opsi.server_host_key"

SETTINGS = (
    SettingDef(DOMAIN_KEY, Kind.STR, "", "DNS domain appended to opsi client ids without one."),
    SettingDef(
        SERVER_KEY,
        Kind.STR,
        "",
        "The config server's opsi host key (32 hex characters); made on an admin's first read.",
        secret=True,
    ),
)


def configured_domain(settings: SettingsService) -> str:
    """The configured domain, normalised (lower case, no dots around); "" when not set."""
    return str(settings.value(DOMAIN_KEY) or "").strip().lower().strip(".")
