"""The 28 configs a fresh opsiconfd 4.3 config server has, with opsi's defaults.

They exist without being stored: ``config_getObjects`` lists each one that no stored entry of
the same id replaces, and the first write that needs one stored (a client's own value, a
changed default) stores it as it is here, in that write's transaction (core's ``set_value`` /
``merge``). Two are fleetdeck's own facts, computed on every read and never stored stale:
``clientconfig.configserver.url`` is the URL the caller reached this server at, and
``clientconfig.depot.id`` the config server's id (fleetdeck's only depot). Deleting one of these
configs deletes what was stored; the built-in default shows again.
"""

from __future__ import annotations

from collections.abc import Sequence

from fleetdeck.core.settings.configs import Config

CONFIGSERVER_URL = "clientconfig.configserver.url"
DEPOT_ID = "clientconfig.depot.id"

# opsicommon.license: the module ids that are neither free nor obsolete
_LICENSED_MODULES = [
    "directory-connector",
    "license_management",
    "linux_agent",
    "local_imaging",
    "macos_agent",
    "monitoring",
    "scalability1",
    "secureboot",
    "userroles",
    "vpn",
    "wim-capture",
]
_DRIVES = [f"{chr(c)}:" for c in range(ord("a"), ord("z") + 1)] + ["dynamic"]
_BOOT_APPEND = [
    "acpi=off",
    "irqpoll",
    "noapic",
    "pci=nomsi",
    "vga=normal",
    "reboot=b",
    "mem=2G",
    "nomodeset",
    "ramdisk_size=2097152",
    "dhclienttimeout=N",
]
_SLOTS = ["10", "25", "50", "75", "100", "150", "200", "250", "300", "400", "500", "750", "1000"]


def _flag(key: str, description: str, default: bool) -> Config:
    return Config(key, "bool", description, [False, True], [default], editable=False, multi_value=False)


def _text(
    key: str,
    description: str,
    possible: Sequence[str],
    default: Sequence[str],
    *,
    editable: bool = True,
    multi: bool = False,
) -> Config:
    # opsi's Config adds its default values to its possible values
    possible = [*possible, *(d for d in default if d not in possible)]
    return Config(key, "str", description, possible, list(default), editable, multi)


def default_configs(server_id: str, server_url: str) -> dict[str, Config]:
    """Config id -> the config as a fresh opsiconfd has it, for this server."""
    configs = [
        _text(
            CONFIGSERVER_URL,
            "URL(s) of opsi config service(s) to use",
            [server_url],
            [server_url],
            multi=True,
        ),
        _text(DEPOT_ID, "ID of the opsi depot to use", [server_id], [server_id], editable=False),
        _flag("clientconfig.depot.dynamic", "Use dynamic depot selection", False),
        _text(
            "clientconfig.depot.selection_mode",
            "Depot selection mode.",
            ["master_and_latency", "latency", "network_address", "random"],
            ["network_address"],
            editable=False,
        ),
        _text("clientconfig.depot.drive", "Drive letter for depot share", _DRIVES, ["p:"], editable=False),
        _text(
            "clientconfig.depot.protocol",
            "Protocol to use when mounting an depot share on the client",
            ["cifs", "webdav"],
            ["cifs"],
            editable=False,
        ),
        _text(
            "clientconfig.depot.protocol.netboot",
            "Protocol to use when mounting an depot share in netboot environment",
            ["cifs", "webdav"],
            ["cifs"],
            editable=False,
        ),
        _text("clientconfig.depot.user", "User for depot share", [], ["pcpatch"]),
        _text("clientconfig.windows.domain", "Windows domain", [], []),
        _flag("opsiclientd.global.verify_server_cert", "Verify opsi server TLS certificates", True),
        _flag(
            "opsiclientd.global.install_opsi_ca_into_os_store",
            "Automatically install opsi CA into operating systems certificate store",
            True,
        ),
        _flag("opsiclientd.event_timer.active", "Activate opsiclientd timer event", False),
        _flag("opsiclientd.event_gui_startup.active", "Run gui_startup event at system start", True),
        _flag(
            "opsiclientd.event_gui_startup{user_logged_in}.active",
            "Run gui_startup event at opsiclientd start if a user is logged in",
            True,
        ),
        _flag(
            "opsiclientd.config_service.permanent_connection",
            "Client should keep a permanent connection to the opsi messagebus",
            True,
        ),
        _text(
            "opsiclientd.global.max_log_transfer_size",
            "Maximum size of opsiclientd log to transfer to the server in MB",
            ["0.25", "0.5", "1", "2", "3", "4", "5"],
            ["1"],
        ),
        _text(
            "opsi-linux-bootimage.append",
            "Extra options to append to kernel command line",
            _BOOT_APPEND,
            [""],
            multi=True,
        ),
        _flag("license-management.use", "Activate license management", False),
        _flag("software-on-demand.active", "Activate software-on-demand", False),
        _text(
            "software-on-demand.product-group-ids",
            "Product group ids containing products which are allowed to be installed on demand",
            ["software-on-demand"],
            ["software-on-demand"],
            multi=True,
        ),
        _text(
            "licensing.disable_warning_for_modules",
            "Disable licensing warnings for these modules.",
            _LICENSED_MODULES,
            [],
            editable=False,
            multi=True,
        ),
        _text(
            "licensing.client_limit_warning_percent",
            "Warn when this license utilization is reached.",
            ["95"],
            ["95"],
        ),
        _text(
            "licensing.client_limit_warning_absolute",
            "Warn when the number of available licenses reaches this value.",
            ["5"],
            ["5"],
        ),
        _text(
            "licensing.client_limit_warning_days",
            "Number of days from which warning is given before the licensing reaches a problematic state.",
            ["30"],
            ["30"],
        ),
        _text(
            "opsiconfd.transfer.slots_opsiclientd_product_sync",
            "Maximum number of simultaneous product synchronizations",
            _SLOTS,
            ["100"],
        ),
        _flag("opsi.check.enabled", "Enable check", True),
        _text("opsi.check.downtime.start", "Check downtime start", ["2024-01-01 00:00:00"], [""]),
        _text("opsi.check.downtime.end", "Check downtime end", ["2024-01-01 00:00:00"], [""]),
    ]
    return {c.key: c for c in configs}
