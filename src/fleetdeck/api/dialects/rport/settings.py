"""The runtime settings the rportd dialect owns (``fleetdeck settings set rport.totp_enabled true``)."""

from __future__ import annotations

from fleetdeck.core.settings.registry import Kind, SettingDef

LISTEN_KEY = "rport.listen"
TOTP_KEY = "rport.totp_enabled"
TOTP_ACCOUNT_KEY = "rport.totp_account_name"
TWO_FA_DELIVERY_KEY = "rport.two_fa_token_delivery"
TWO_FA_TTL_KEY = "rport.two_fa_token_ttl_seconds"
DELIVERY_SMTP = "smtp"
PASSWORD_MIN_KEY = "rport.password_min_length"

SETTINGS = (
    SettingDef(
        LISTEN_KEY,
        Kind.STR,
        "",
        "Also answer rportd's API at its native paths (/api/v1/...) on this address, e.g."
        " 127.0.0.1:3000, for clients that hard-code them; read at server start. Empty = only"
        " /rport/api/v1/... on the main port.",
    ),
    SettingDef(
        TOTP_KEY,
        Kind.BOOL,
        False,
        "rportd's api.totp_enabled: logins through the rport API need a code from an"
        " authenticator app (set up at /me/totp-secret, entered at /verify-2fa).",
    ),
    SettingDef(
        TOTP_ACCOUNT_KEY,
        Kind.STR,
        "RPort",
        "rportd's api.totp_account_name: the account name in the QR code.",
    ),
    SettingDef(
        TWO_FA_DELIVERY_KEY,
        Kind.STR,
        "",
        "rportd's api.two_fa_token_delivery: how 2FA codes are sent. Empty = off; 'smtp' ="
        " by e-mail (through the smtp.* settings) to the user's two_fa_send_to address. Other"
        " rportd methods (pushover, a script, a URL) answer logins with a not-implemented error.",
    ),
    SettingDef(
        TWO_FA_TTL_KEY,
        Kind.INT,
        600,
        "rportd's api.two_fa_token_ttl_seconds: how long a code sent by e-mail is valid.",
        minimum=30,
        maximum=86400,
    ),
    SettingDef(
        PASSWORD_MIN_KEY,
        Kind.INT,
        14,
        "rportd's api.password_min_length: the shortest password the rport API accepts.",
    ),
)
