"""The runtime settings the i-doit dialect owns (``fleetdeck settings set idoit.api_enabled true``)."""

from __future__ import annotations

from fleetdeck.core.settings.registry import Kind, SettingDef

ENABLED_KEY = "idoit.api_enabled"
API_KEY = "idoit.api_key"
ENFORCE_AUTH_KEY = "idoit.enforce_auth"
TENANT_KEY = "idoit.tenant"

SETTINGS = (
    SettingDef(ENABLED_KEY, Kind.BOOL, False, "Answer i-doit's JSON-RPC API (/src/jsonrpc.php)."),
    SettingDef(
        API_KEY,
        Kind.STR,
        "",
        "The API key i-doit clients send as params.apikey; while empty, every call is refused.",
        secret=True,
    ),
    SettingDef(
        ENFORCE_AUTH_KEY,
        Kind.BOOL,
        False,
        "Require a fleetdeck user (X-RPC-Auth-Username/-Password or an idoit.login session) on every"
        " i-doit call; off: calls with only the API key run as the built-in user 'Api System' (admin).",
    ),
    SettingDef(
        TENANT_KEY,
        Kind.STR,
        "fleetdeck",
        "The tenant name i-doit clients are shown (idoit.login, idoit.version).",
    ),
)
