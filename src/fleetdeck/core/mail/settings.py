"""The settings of outgoing mail (``fleetdeck settings set smtp.host mail.example.org``)."""

from __future__ import annotations

from fleetdeck.core.settings.registry import Kind, SettingDef

HOST = "smtp.host"
PORT = "smtp.port"
TLS = "smtp.tls"
SENDER = "smtp.sender"
USERNAME = "smtp.username"
PASSWORD = "smtp.password"

TLS_NONE = "none"
TLS_STARTTLS = "starttls"
TLS_IMPLICIT = "tls"

MAIL_SETTINGS: tuple[SettingDef, ...] = (
    SettingDef(HOST, Kind.STR, "", "SMTP server that fleetdeck sends e-mail through; empty = no e-mail."),
    SettingDef(PORT, Kind.INT, 587, "Port of the SMTP server.", minimum=1, maximum=65535),
    SettingDef(
        TLS,
        Kind.STR,
        TLS_STARTTLS,
        "How the SMTP connection is protected: 'none', 'starttls' (upgrade a plain connection,"
        " usually port 587) or 'tls' (TLS from the start, usually port 465).",
        choices=(TLS_NONE, TLS_STARTTLS, TLS_IMPLICIT),
    ),
    SettingDef(SENDER, Kind.STR, "", "The From address of fleetdeck's e-mail (required to send)."),
    SettingDef(USERNAME, Kind.STR, "", "User name for SMTP authentication; empty = none."),
    SettingDef(PASSWORD, Kind.STR, "", "Password for SMTP authentication.", secret=True),
)
