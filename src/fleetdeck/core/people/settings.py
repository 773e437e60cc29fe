"""Core's settings for people: where invitation links point and how long they are valid."""

from __future__ import annotations

from fleetdeck.core.settings.registry import Kind, SettingDef

PUBLIC_URL = "server.public_url"
INVITATION_HOURS = "people.invitation_valid_hours"

PEOPLE_SETTINGS: tuple[SettingDef, ...] = (
    SettingDef(
        PUBLIC_URL,
        Kind.STR,
        "",
        "The address people reach fleetdeck at (https://fleet.example.org), for links in e-mails;"
        " empty = the address the inviting request came to.",
    ),
    SettingDef(
        INVITATION_HOURS,
        Kind.INT,
        168,
        "How long an invitation e-mail's link may be used to set a password, in hours.",
        minimum=1,
        maximum=24 * 90,
    ),
)
