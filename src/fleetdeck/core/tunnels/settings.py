"""The settings tunnels read: the pool of server ports and where listeners bind."""

from __future__ import annotations

from fleetdeck.core.settings.registry import Kind, SettingDef

RANGE_PATTERN = r"\d{1,5}(-\d{1,5})?"

TUNNEL_SETTINGS: tuple[SettingDef, ...] = (
    SettingDef(
        "tunnels.used_ports",
        Kind.STR_LIST,
        ["20000-30000"],
        "Server ports a tunnel without a given local port is given one of (ports or ranges).",
        item_pattern=RANGE_PATTERN,
        item_format="a port or a range like 20000-30000",
    ),
    SettingDef(
        "tunnels.excluded_ports",
        Kind.STR_LIST,
        ["1-1024"],
        "Server ports never given to a tunnel from the pool (ports or ranges).",
        item_pattern=RANGE_PATTERN,
        item_format="a port or a range like 1-1024",
    ),
    SettingDef(
        "tunnels.listen_host",
        Kind.STR,
        "0.0.0.0",
        "The address tunnels listen on when the request names only a port.",
    ),
)
