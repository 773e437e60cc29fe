"""Typed runtime settings (core's own and the ones each dialect declares), and config entries."""

from fleetdeck.core.settings.registry import (
    CORE_SETTINGS,
    MASK,
    Kind,
    Scope,
    SettingDef,
    SettingsRegistry,
    coerce,
)
from fleetdeck.core.settings.service import Setting, SettingsService

__all__ = [
    "CORE_SETTINGS",
    "MASK",
    "Kind",
    "Scope",
    "Setting",
    "SettingDef",
    "SettingsRegistry",
    "SettingsService",
    "coerce",
]
