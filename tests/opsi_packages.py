"""Building opsi package files (``.opsi``) in tests, as opsi-makepackage lays them out: an outer
tar or cpio archive holding ``OPSI.<tar|cpio>[.gz|.bz2|.zstd]`` (the control file) and
``CLIENT_DATA.<...>`` (the files the client gets). A few lines of archive code, no downloads."""

from __future__ import annotations

import bz2
import gzip
import io
import tarfile

import zstandard

CONTROL_TOML = """\
[Package]
version = "3"
depends = []

[Product]
type = "LocalbootProduct"
id = "hello"
name = "Hello World"
description = "says hello"
advice = ""
version = "1.2"
priority = 5
licenseRequired = false
productClasses = []
setupScript = "setup.sh"
uninstallScript = "uninstall.sh"
updateScript = ""
alwaysScript = ""
onceScript = ""
customScript = ""
userLoginScript = ""
windowsSoftwareIds = []

[[ProductProperty]]
type = "UnicodeProductProperty"
name = "greeting"
multivalue = false
editable = true
description = "what to say"
values = ["hello", "hi"]
default = ["hello"]

[[ProductProperty]]
type = "BoolProductProperty"
name = "loud"
multivalue = false
editable = false
description = "shout it"
values = [false, true]
default = [true]

[[ProductDependency]]
requiredProduct = "base"
action = "setup"
requirementType = "before"
requiredStatus = "installed"
"""

CONTROL_LEGACY = """\
[Package]
version: 7
depends:

[Product]
type: localboot
id: legacy-tool
name: Legacy Tool
description: an old-style package
 spanning two lines
version: 2.0
priority: -10
licenseRequired: False
productClasses:
setupScript: setup.sh
uninstallScript:

[ProductProperty]
type: unicode
name: mode
multivalue: False
editable: False
description: how to run
values: ["fast", "slow"]
default: ["slow"]

[ProductProperty]
type: bool
name: reboot
description: reboot afterwards
default: False

[Changelog]
legacy-tool (2.0-7) stable; urgency=low
  * first
"""

SETUP = b'#!/bin/sh\necho hello from the package > "$FLEETDECK_OUT"\n'


def tar_bytes(files: dict[str, bytes], *, prefix: str = "/", links: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(prefix + name if prefix else name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(prefix + name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return buffer.getvalue()


def cpio_bytes(files: dict[str, bytes]) -> bytes:
    """GNU cpio's "newc" format (what ``cpio -o -H newc`` writes)."""
    out = io.BytesIO()

    def entry(name: str, data: bytes, mode: int) -> None:
        raw = name.encode() + b"\0"
        fields = [0, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(raw), 0]
        out.write(b"070701" + b"".join(b"%08X" % f for f in fields) + raw)
        out.write(b"\0" * ((-(110 + len(raw))) % 4))
        out.write(data + b"\0" * ((-len(data)) % 4))

    for name, data in files.items():
        entry(name, data, 0o100644)
    entry("TRAILER!!!", b"", 0)
    return out.getvalue()


def compress(data: bytes, compression: str | None) -> bytes:
    if compression == "gz":
        return gzip.compress(data)
    if compression == "bz2":
        return bz2.compress(data)
    if compression == "zstd":
        return zstandard.ZstdCompressor().compress(data)
    return data


def build_opsi(
    *,
    control: str = CONTROL_TOML,
    control_name: str = "control.toml",
    client: dict[str, bytes] | None = None,
    archive: str = "tar",
    compression: str | None = "zstd",
    outer: str | None = None,
    opsi: dict[str, bytes] | None = None,
    server: dict[str, bytes] | None = None,
) -> bytes:
    """The bytes of a ``.opsi`` file; ``archive`` is the inner format (tar or cpio), ``outer``
    the outer one (the same by default); ``opsi`` adds files to OPSI (preinst, postinst),
    ``server`` makes a SERVER_DATA archive."""
    pack = tar_bytes if archive == "tar" else cpio_bytes
    suffix = f".{archive}" + (f".{compression}" if compression else "")
    members = {f"OPSI{suffix}": compress(pack({control_name: control.encode()} | (opsi or {})), compression)}
    client = {"setup.sh": SETUP} if client is None else client
    if client:
        members[f"CLIENT_DATA{suffix}"] = compress(pack(client), compression)
    if server:
        members[f"SERVER_DATA{suffix}"] = compress(pack(server), compression)
    return (tar_bytes if (outer or archive) == "tar" else cpio_bytes)(members)
