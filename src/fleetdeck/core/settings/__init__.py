"""Typed runtime settings (dialect switches, keys, WOL and report limits)."""

from fleetdeck.core.settings.registry import MASK, REGISTRY, SETTINGS, Kind, Scope, SettingDef, coerce
from fleetdeck.core.settings.service import Setting, SettingsService

__all__ = [
    "MASK",
    "REGISTRY",
    "SETTINGS",
    "Kind",
    "Scope",
    "Setting",
    "SettingDef",
    "SettingsService",
    "coerce",
]
