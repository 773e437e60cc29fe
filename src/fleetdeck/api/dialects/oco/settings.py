"""The runtime settings the OCO dialect owns (``fleetdeck settings set oco.api_enabled true``)."""

from __future__ import annotations

from fleetdeck.core.settings.registry import Kind, SettingDef

ENABLED_KEY = "oco.api_enabled"
API_KEY = "oco.api_key"
VALUE_TYPES_KEY = "oco.value_types"
AGENT_REGISTRATION_ENABLED_KEY = "oco.agent_registration_enabled"
AGENT_REGISTRATION_KEY = "oco.agent_registration_key"

# The two generations of OCO: on PHP < 8.1 PDO hands every column over as a string, so ids,
# flags and numbers are numeric strings ("164", "0"); on PHP >= 8.1 integer columns are native
# JSON integers. Clients written against one may trip over the other, so the operator says
# which OCO fleetdeck answers as (``render.typed``).
STRINGS = "strings"
NATIVE = "native"

SETTINGS = (
    SettingDef(ENABLED_KEY, Kind.BOOL, False, "Answer the OCO client API (api-client.php)."),
    SettingDef(
        API_KEY,
        Kind.STR,
        "",
        "API key OCO clients must send as params.api_key; empty = not checked.",
        secret=True,
    ),
    SettingDef(
        VALUE_TYPES_KEY,
        Kind.STR,
        STRINGS,
        "How the OCO client API types ids, flags and numbers: 'strings' (numeric strings, as OCO on"
        " PHP < 8.1 and OCO's documentation) or 'native' (JSON integers, as OCO on PHP >= 8.1)."
        " The ids computer.create, package.create and job_container.deploy return are strings in"
        " both, as in OCO.",
        choices=(STRINGS, NATIVE),
    ),
    SettingDef(
        AGENT_REGISTRATION_ENABLED_KEY,
        Kind.BOOL,
        False,
        "Let OCO agents with an unknown host name register themselves at /api-agent.php (they sign"
        " with oco.agent_registration_key; OCO's agent-self-registration-enabled).",
    ),
    SettingDef(
        AGENT_REGISTRATION_KEY,
        Kind.STR,
        "",
        "The key OCO agents sign with to register themselves, and computers pre-registered without"
        " an agent key to get their own (OCO's agent-registration-key); empty = none accepted.",
        secret=True,
    ),
)
