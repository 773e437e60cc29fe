"""Monitoring's settings (``fleetdeck settings set monitoring.interval_sec 30``)."""

from __future__ import annotations

from fleetdeck.core.settings.registry import Kind, SettingDef

ENABLED = "monitoring.enabled"
INTERVAL = "monitoring.interval_sec"
RETENTION = "monitoring.retention_sec"

MONITORING_SETTINGS: tuple[SettingDef, ...] = (
    SettingDef(
        ENABLED,
        Kind.BOOL,
        True,
        "Monitoring server-wide: off, agents are told to measure nothing, measurements that still"
        " arrive are dropped and the monitoring reads answer that monitoring is disabled.",
    ),
    SettingDef(
        INTERVAL,
        Kind.INT,
        60,
        "Agents send a measurement (CPU, memory, IO, network, mountpoints, top processes) this"
        " often, in seconds; told to each agent when it connects. 0 = agents measure nothing.",
        minimum=0,
        maximum=86_400,
    ),
    SettingDef(
        RETENTION,
        Kind.INT,
        7 * 86_400,
        "Measurements older than this are purged (housekeeping duty monitoring.purge).",
        minimum=3600,
        maximum=3650 * 86_400,
    ),
)
