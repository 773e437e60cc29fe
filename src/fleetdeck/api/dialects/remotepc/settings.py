"""The runtime settings the RemotePC dialect owns (``fleetdeck settings set remotepc.api_enabled true``)."""

from __future__ import annotations

from fleetdeck.core.settings.registry import Kind, SettingDef

ENABLED_KEY = "remotepc.api_enabled"
API_KEY = "remotepc.api_key"
ALLOWED_IPS_KEY = "remotepc.allowed_ips"

# an IPv4 or IPv6 address, optionally with a prefix length (checked again by ipaddress on use)
_IP = r"[0-9A-Fa-f:.]{2,45}(/[0-9]{1,3})?"

SETTINGS = (
    SettingDef(
        ENABLED_KEY, Kind.BOOL, False, "Answer the RemotePC Enterprise (MSP) API under /rpcnew/api/msp/."
    ),
    SettingDef(
        API_KEY,
        Kind.STR,
        "",
        "The account API key RemotePC MSP clients send as 'Authorization: Bearer <key>'; empty ="
        " every call is refused. Setting a new one is the console's 'Change': the old key stops"
        " working at once.",
        secret=True,
    ),
    SettingDef(
        ALLOWED_IPS_KEY,
        Kind.STR_LIST,
        [],
        "Addresses or networks (CIDR) the RemotePC API accepts calls from (RemotePC's IP"
        " whitelisting); empty = any address.",
        item_pattern=_IP,
        item_format="an IP address or network, e.g. 192.0.2.7 or 198.51.100.0/24",
    ),
)
