"""The runtime settings the OCO dialect owns (``fleetdeck settings set oco.api_enabled true``)."""

from __future__ import annotations

from fleetdeck.core.settings.registry import Kind, SettingDef

ENABLED_KEY = "oco.api_enabled"
API_KEY = "oco.api_key"

SETTINGS = (
    SettingDef(ENABLED_KEY, Kind.BOOL, False, "Answer the OCO client API (api-client.php)."),
    SettingDef(
        API_KEY,
        Kind.STR,
        "",
        "API key OCO clients must send as params.api_key; empty = not checked.",
        secret=True,
    ),
)
