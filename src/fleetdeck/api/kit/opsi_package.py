"""Reading opsi package files (``<id>_<version>-<packageversion>.opsi``) into a core
``PackageImport``, for every transport that imports one (the opsi dialect's
``depot_installPackage``, ``POST /api/v1/packages/import-opsi``, ``fleetdeck package import-opsi``).

The format, as opsi-makepackage builds it: an outer archive (tar, or cpio for packages built
before opsi 4.2) holding one inner archive per directory of the package source,
``OPSI.<tar|cpio>[.gz|.bz2|.zstd]`` and ``CLIENT_DATA.<...>`` (``SERVER_DATA`` too). ``OPSI``
holds the control file, ``control.toml`` (opsi 4.3) or the INI-like ``control``, and perhaps
``preinst``/``postinst``; ``CLIENT_DATA`` is what the client gets, here the payload. What opsi
does on the server (copy SERVER_DATA into its file system, run preinst/postinst as root) fleetdeck
does not: running package-supplied code as the server's user would give every package author the
server. Those files are kept beside the package (``server_files``) and named in ``not_run``.

Read once, front to back, as a stream: CLIENT_DATA goes straight into the payload ZIP, a
temporary file, so a package of gigabytes needs no more memory than a small one.

Untrusted input, read within limits: the archive's size, the unpacked bytes (a decompression bomb
stops at the cap, it is never written out in full), the number of files, each OPSI file's size;
names that leave the package directory (``..``, absolute after opsi's leading ``/``, drive
letters), links and device files are refused. Every refusal is an ``OpsiPackageError`` that
names what is wrong; the transports answer it in their own error format.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import os
import re
import shutil
import stat
import tarfile
import tempfile
import tomllib
import zipfile
import zlib
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

from fleetdeck.core.packages.entities import ImportedDependency, PackageFields, PackageImport
from fleetdeck.core.settings.configs import Config

zstandard: Any
try:  # opsi 4.3 compresses with zstd by default
    import zstandard
except ImportError:  # pragma: no cover - a declared dependency; refused clearly without it
    zstandard = None


class OpsiPackageError(ValueError):
    """The archive is not an opsi package fleetdeck can import; the message says why."""


@dataclass(frozen=True)
class ArchiveLimits:
    max_archive_bytes: int = 1024 * 1024 * 1024  # the .opsi file itself
    max_unpacked_bytes: int = 1024 * 1024 * 1024  # all files of all inner archives together
    max_files: int = 20_000
    max_control_bytes: int = 1024 * 1024


PRODUCT_ID_RE = re.compile(r"^[a-z0-9-_\.]{1,128}$")
VERSION_RE = re.compile(r"^[a-zA-Z0-9.]{1,32}$")
INNER_RE = re.compile(
    r"^(OPSI|CLIENT_DATA|SERVER_DATA)(\.[^./]+)?\.(tar|cpio)(?:\.(gz|gzip|bz2|bzip2|zstd|zst))?$"
)
ACTIONS = ("setup", "uninstall", "update", "always", "once", "custom", "none")
STATUSES = ("installed", "not_installed", "unknown")
TAR_MAGIC_OFFSET = 257
CPIO_NEWC = (b"070701", b"070702")
CPIO_ODC = b"070707"
CHUNK = 1024 * 1024


# ---------------------------------------------------------------- archive reading


class _Capped(io.RawIOBase):
    """A reader that fails once more than ``budget.left`` bytes came out of it (shared by
    every stream of one package, so the cap is on the whole package)."""

    def __init__(self, inner: IO[bytes], budget: _Budget) -> None:
        self._inner = inner
        self._budget = budget

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._inner.read(min(len(buffer), CHUNK))
        self._budget.spend(len(data))
        buffer[: len(data)] = data
        return len(data)


class _Budget:
    def __init__(self, limits: ArchiveLimits) -> None:
        self.left = limits.max_unpacked_bytes
        self.files = limits.max_files

    def spend(self, n: int) -> None:
        self.left -= n
        if self.left < 0:
            raise OpsiPackageError(
                "the package unpacks to more than the allowed size (a decompression bomb?)"
            )

    def file(self) -> None:
        self.files -= 1
        if self.files < 0:
            raise OpsiPackageError("the package holds too many files")


def _safe_name(raw: str) -> str | None:
    """The member's path inside its directory; None for the directory itself. opsi writes names
    as ``/control`` (tar) or ``control`` / ``./control`` (cpio)."""
    name = raw.replace("\\", "/")
    while name.startswith("./"):
        name = name[2:]
    name = name.lstrip("/")
    if name in ("", "."):
        return None
    parts = PurePosixPath(name).parts
    if ".." in parts or (parts and ":" in parts[0]) or any(ord(c) < 32 for c in name):
        raise OpsiPackageError(f"the package holds a file outside its directory: {raw!r}")
    return name


Member = tuple[str, IO[bytes], int]  # a plain file of an archive: name, its content, its size


def _members(stream: IO[bytes], head: bytes, budget: _Budget, what: str) -> Iterator[Member]:
    """Each regular file of a tar or cpio stream, directories skipped. The content stream is
    valid until the next member is asked for (the archive is read once, front to back)."""
    if head[:6] in CPIO_NEWC or head[:6] == CPIO_ODC:
        yield from _cpio_members(stream, budget, what)
    elif len(head) > TAR_MAGIC_OFFSET + 5 and head[TAR_MAGIC_OFFSET : TAR_MAGIC_OFFSET + 5] == b"ustar":
        yield from _tar_members(stream, budget, what)
    else:
        raise OpsiPackageError(f"{what} is neither a tar nor a cpio archive")


def _tar_members(stream: IO[bytes], budget: _Budget, what: str) -> Iterator[Member]:
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            for info in tar:
                name = _safe_name(info.name)
                if info.isdir() or name is None:
                    continue
                if not info.isfile():
                    raise OpsiPackageError(
                        f"{what}: {info.name!r} is a link or special file (only plain files are imported)"
                    )
                budget.file()
                fh = tar.extractfile(info)
                yield name, fh if fh is not None else io.BytesIO(), info.size
    except (tarfile.TarError, EOFError, OSError, zipfile.BadZipFile) as exc:
        raise OpsiPackageError(f"{what} is not a readable tar archive: {exc}") from None


def _read_exact(stream: IO[bytes], n: int, what: str) -> bytes:
    data = stream.read(n)
    if len(data) != n:
        raise OpsiPackageError(f"{what} ends in the middle of a cpio entry")
    return data


class _Slice(io.RawIOBase):
    """The next ``size`` bytes of a stream (one cpio entry's content)."""

    def __init__(self, inner: IO[bytes], size: int, what: str) -> None:
        self._inner = inner
        self.left = size
        self._what = what

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        want = min(len(buffer), self.left, CHUNK)
        if want <= 0:
            return 0
        data = self._inner.read(want)
        if not data:
            raise OpsiPackageError(f"{self._what} ends in the middle of a cpio entry")
        buffer[: len(data)] = data
        self.left -= len(data)
        return len(data)

    def skip(self) -> None:
        while self.left > 0 and self.read(min(self.left, CHUNK)):
            pass


def _cpio_members(stream: IO[bytes], budget: _Budget, what: str) -> Iterator[Member]:
    """cpio's "new ASCII" (newc, crc) and "old portable" (odc) formats, as GNU cpio writes them."""
    try:
        while True:
            magic = _read_exact(stream, 6, what)
            if magic in CPIO_NEWC:
                header = _read_exact(stream, 104, what)
                fields = [int(header[i : i + 8], 16) for i in range(0, 104, 8)]
                mode, size, namesize = fields[1], fields[6], fields[11]
                name = _read_exact(stream, namesize, what)
                _read_exact(stream, (-(110 + namesize)) % 4, what)
                pad = (-size) % 4
            elif magic == CPIO_ODC:
                header = _read_exact(stream, 70, what)
                mode = int(header[12:18], 8)
                namesize, size = int(header[53:59], 8), int(header[59:70], 8)
                name = _read_exact(stream, namesize, what)
                pad = 0
            else:
                raise OpsiPackageError(f"{what} is a damaged cpio archive")
            text = name.rstrip(b"\0").decode("utf-8", "replace")
            if text == "TRAILER!!!":
                return
            if size > budget.left:
                raise OpsiPackageError(
                    "the package unpacks to more than the allowed size (a decompression bomb?)"
                )
            content = _Slice(stream, size, what)
            clean = _safe_name(text)
            kind = stat.S_IFMT(mode)
            if kind == stat.S_IFDIR or clean is None:
                content.skip()
            elif kind != stat.S_IFREG:
                raise OpsiPackageError(
                    f"{what}: {text!r} is a link or special file (only plain files are imported)"
                )
            else:
                budget.file()
                yield clean, io.BufferedReader(content, CHUNK), size
                content.skip()  # whatever the consumer left unread
            _read_exact(stream, pad, what)
    except ValueError as exc:
        if isinstance(exc, OpsiPackageError):
            raise
        raise OpsiPackageError(f"{what} is a damaged cpio archive") from None


def _decompressed(
    source: IO[bytes], compression: str | None, budget: _Budget, what: str
) -> io.BufferedReader:
    raw: Any = source
    if compression in ("gz", "gzip"):
        raw = gzip.GzipFile(fileobj=raw)
    elif compression in ("bz2", "bzip2"):
        raw = bz2.BZ2File(raw)
    elif compression in ("zstd", "zst"):
        if zstandard is None:
            raise OpsiPackageError(f"{what} is zstd-compressed and the zstandard module is missing")
        raw = zstandard.ZstdDecompressor().stream_reader(raw)
    return io.BufferedReader(_Capped(raw, budget), CHUNK)


@contextmanager
def _inner(
    source: IO[bytes], compression: str | None, budget: _Budget, what: str
) -> Iterator[Iterator[Member]]:
    """The files of one inner archive (``OPSI.tar.zstd``...), read as the outer archive passes
    by; decompression errors become ``OpsiPackageError``."""
    try:
        stream = _decompressed(source, compression, budget, what)
        head = stream.peek(TAR_MAGIC_OFFSET + 8)[: TAR_MAGIC_OFFSET + 8]
        yield _members(stream, head, budget, what)
    except (OSError, EOFError, zlib.error, zstandard_errors()) as exc:  # zlib: damaged gzip data
        raise OpsiPackageError(f"{what} cannot be decompressed: {exc}") from None
    except tarfile.TarError as exc:  # a member's content read by the caller ends too early
        raise OpsiPackageError(f"{what} is damaged or cut short: {exc}") from None


def zstandard_errors() -> type[Exception]:
    return zstandard.ZstdError if zstandard is not None else OpsiPackageError


def _small_files(members: Iterator[Member], limit: int, what: str) -> dict[str, bytes]:
    """The files of OPSI (the control file and the package's scripts), each at most ``limit``
    bytes: they are read into memory."""
    files: dict[str, bytes] = {}
    for name, content, size in members:
        if size > limit:
            raise OpsiPackageError(f"{what}/{name} is larger than {limit} bytes")
        files[name] = content.read(limit + 1)[:limit]
    return files


# ---------------------------------------------------------------- control files


def _control(opsi_files: dict[str, bytes], limits: ArchiveLimits) -> dict[str, Any]:
    for name, parse in (("control.toml", _parse_toml), ("control", _parse_legacy)):
        if name in opsi_files:
            data = opsi_files[name]
            if len(data) > limits.max_control_bytes:
                raise OpsiPackageError(f"OPSI/{name} is larger than {limits.max_control_bytes} bytes")
            try:
                text = data.decode("utf-8-sig")
            except UnicodeDecodeError:
                text = data.decode("latin-1")
            return parse(text)
    raise OpsiPackageError("the package has no control file (OPSI/control.toml or OPSI/control)")


def _parse_toml(text: str) -> dict[str, Any]:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise OpsiPackageError(f"OPSI/control.toml is not valid TOML: {exc}") from None
    product = doc.get("Product")
    if not isinstance(product, dict):
        raise OpsiPackageError("OPSI/control.toml has no [Product] table")
    package = doc.get("Package") if isinstance(doc.get("Package"), dict) else {}
    props = [p for p in doc.get("ProductProperty", []) if isinstance(p, dict)]
    deps = [d for d in doc.get("ProductDependency", []) if isinstance(d, dict)]
    return {"product": product, "package": package, "properties": props, "dependencies": deps}


SECTION_RE = re.compile(r"^\s*\[([^\]]+)\]\s*$")
OPTION_RE = re.compile(r"^([^:]+?)\s*:\s*(.*)$")


def _parse_legacy(text: str) -> dict[str, Any]:
    """opsi's INI-like control file: ``[Section]`` lines, ``key: value`` options (keys are
    case-insensitive), continuation lines start with white space, ``;``/``#`` comments."""
    sections: list[tuple[str, dict[str, str]]] = []
    last_key: str | None = None
    for num, line in enumerate(text.replace("\r", "").split("\n"), start=1):
        if line.startswith((";", "#")):
            continue
        match = SECTION_RE.match(line)
        if match:
            name = match.group(1).strip().lower()
            if name not in (
                "package",
                "product",
                "windows",
                "productdependency",
                "productproperty",
                "changelog",
            ):
                raise OpsiPackageError(f"OPSI/control line {num}: unknown section [{match.group(1)}]")
            sections.append((name, {}))
            last_key = None
            continue
        if not sections:
            if line.strip():
                raise OpsiPackageError(f"OPSI/control line {num}: text outside a section")
            continue
        kind, options = sections[-1]
        if kind == "changelog" or not line.strip():
            continue
        if line[0].isspace() and last_key is not None:
            options[last_key] += "\n" + line.strip()
            continue
        match = OPTION_RE.match(line)
        if not match:
            raise OpsiPackageError(f"OPSI/control line {num}: expected 'key: value'")
        last_key = match.group(1).strip().lower()
        options[last_key] = match.group(2).strip()
    product = next((o for k, o in sections if k == "product"), None)
    if product is None:
        raise OpsiPackageError("OPSI/control has no [Product] section")
    package = next((o for k, o in sections if k == "package"), {})
    keys = {
        "setupscript": "setupScript",
        "uninstallscript": "uninstallScript",
        "licenserequired": "licenseRequired",
        "packageversion": "packageVersion",
    }
    return {
        "product": {keys.get(k, k): v for k, v in product.items()},
        "package": dict(package),
        "properties": [_legacy_property(o) for k, o in sections if k == "productproperty"],
        "dependencies": [
            {
                {
                    "requiredproduct": "requiredProduct",
                    "requiredstatus": "requiredStatus",
                    "requiredaction": "requiredAction",
                    "requirementtype": "requirementType",
                    "requiredproductversion": "requiredProductVersion",
                    "requiredpackageversion": "requiredPackageVersion",
                }.get(k, k): v
                for k, v in o.items()
            }
            for k, o in sections
            if k == "productdependency"
        ],
    }


def _legacy_list(text: str, split: bool) -> list[Any]:
    text = text.strip()
    if text.startswith("["):
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if isinstance(value, list):
            return value
    if not text:
        return []
    return [v.strip() for v in text.split(",") if v.strip()] if split else [text]


def _legacy_property(o: dict[str, str]) -> dict[str, Any]:
    kind = o.get("type", "unicode").strip().lower()
    out: dict[str, Any] = {
        "type": "BoolProductProperty"
        if kind in ("bool", "boolproductproperty")
        else "UnicodeProductProperty",
        "name": o.get("name", ""),
        "description": o.get("description", ""),
        "multivalue": _bool(o.get("multivalue", "false")),
        "editable": _bool(o.get("editable", "false")),
        "values": _legacy_list(o.get("values", ""), split=True),
        "default": _legacy_list(o.get("default", ""), split=False),
    }
    if out["type"] == "BoolProductProperty":
        out["default"] = [_bool(v) for v in out["default"]] or [False]
        out["values"] = [False, True]
    return out


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on")


# ---------------------------------------------------------------- mapping


def _script_command(script: str, client_files: Collection[str]) -> str:
    """The agent runs a procedure with the platform shell in the unpacked CLIENT_DATA: a script
    file of the package is started by its interpreter (a bare name is not on the PATH there);
    anything else (a command line) is kept as it is."""
    script = script.strip()
    if not script or script not in client_files:
        return script
    suffix = PurePosixPath(script).suffix.lower()
    if suffix == ".sh":
        return f"sh ./{script}"
    if suffix == ".py":
        return f"python3 ./{script}"
    if suffix == ".ps1":
        return f'powershell -NoProfile -ExecutionPolicy Bypass -File ".\\{script}"'
    if suffix in (".cmd", ".bat"):
        return f'cmd /c ".\\{script}"'
    if suffix in (".opsiscript", ".ins", ".opsiinc"):
        return f'opsi-script -batch "{script}"'  # needs opsi-script on the client
    return f"./{script}"


def _text(value: Any, what: str, limit: int = 1024 * 1024) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        raise OpsiPackageError(f"{what} must be text")
    text = str(value)
    if len(text) > limit:
        raise OpsiPackageError(f"{what} is too long")
    return text


def _dependency(d: dict[str, Any], product_id: str) -> ImportedDependency:
    required = _text(d.get("requiredProduct"), "requiredProduct").strip().lower()
    if not PRODUCT_ID_RE.match(required):
        raise OpsiPackageError(f"a dependency of {product_id} has a bad requiredProduct: {required!r}")
    action = _text(d.get("action") or "setup", "action").strip().lower()
    req_action = _text(d.get("requiredAction"), "requiredAction").strip().lower() or None
    req_status = _text(d.get("requiredStatus"), "requiredStatus").strip().lower() or None
    req_type = _text(d.get("requirementType"), "requirementType").strip().lower()
    if action not in ACTIONS or action == "none":
        raise OpsiPackageError(f"dependency on {required}: bad action {action!r}")
    if req_action is not None and req_action not in ACTIONS:
        raise OpsiPackageError(f"dependency on {required}: bad requiredAction {req_action!r}")
    if req_status is not None and req_status not in STATUSES:
        raise OpsiPackageError(f"dependency on {required}: bad requiredStatus {req_status!r}")
    if (req_action is None) == (req_status is None):
        raise OpsiPackageError(f"dependency on {required}: give either requiredAction or requiredStatus")
    if req_type not in ("before", "after", ""):
        raise OpsiPackageError(f"dependency on {required}: bad requirementType {req_type!r}")
    return ImportedDependency(
        requires_key=required,
        action=action,
        required_action=req_action,
        required_status=req_status,
        requirement_type=req_type,
        required_version=_text(d.get("requiredProductVersion"), "requiredProductVersion").strip() or None,
        required_package_version=_text(d.get("requiredPackageVersion"), "requiredPackageVersion").strip()
        or None,
    )


def _property(p: dict[str, Any], defaults: dict[str, Any]) -> Config:
    key = _text(p.get("name"), "property name").strip().lower()
    if not key or len(key) > 128 or any(c.isspace() for c in key):
        raise OpsiPackageError(f"bad property name {p.get('name')!r}")
    is_bool = str(p.get("type", "")).lower() in ("boolproductproperty", "bool")
    values = p.get("values", [])
    default = p.get("default", [])
    values = values if isinstance(values, list) else [values]
    default = default if isinstance(default, list) else [default]
    if key in defaults:  # the caller's default values (opsi's propertyDefaultValues)
        given = defaults[key]
        default = given if isinstance(given, list) else [given]
    if is_bool:
        return Config(
            key=key,
            kind="bool",
            description=_text(p.get("description"), "property description"),
            possible_values=[False, True],
            default_values=[_bool(v) for v in default][:1] or [False],
            editable=False,
            multi_value=False,
        )
    return Config(
        key=key,
        kind="str",
        description=_text(p.get("description"), "property description"),
        possible_values=[str(v) for v in values],
        default_values=[str(v) for v in default],
        editable=_bool(p.get("editable", False)),
        multi_value=_bool(p.get("multivalue", p.get("multiValue", False))),
    )


SAMPLE = 256 * 1024
ZIP64_FROM = 1 << 30  # members this large get ZIP64 headers (a plain ZIP ends at 4 GiB)


def _compressible(sample: bytes) -> bool:
    """Whether deflating pays: installers (.msi, .exe, archives) are compressed already, and
    deflating them costs seconds per 100 MiB for nothing. Judged on a sample."""
    return len(sample) < 512 or len(zlib.compress(sample, 1)) < 0.9 * len(sample)


# Why fleetdeck keeps, but does not run or install, what an opsi package brings for the server.
NOT_RUN_WHY = {
    "preinst": "opsi runs it as root on the server before installing; fleetdeck runs no package code"
    " on the server",
    "postinst": "opsi runs it as root on the server after installing; fleetdeck runs no package code"
    " on the server",
    "SERVER_DATA": "opsi copies these files into the server's file system; fleetdeck writes no package"
    " files outside its payload store",
    "custom": "a custom directory replaces the default one only when asked for; fleetdeck imports the"
    " default",
}


class _Spool:
    """A ZIP written to a temporary file one member at a time, so a package of gigabytes is
    never held in memory: the payload (CLIENT_DATA), or what the package keeps for the server.
    Fixed timestamps, so the same files in the same order give the same ZIP."""

    def __init__(self, directory: Path | None, kind: str) -> None:
        fd, name = tempfile.mkstemp(prefix=f".fleetdeck-{kind}-", suffix=".zip", dir=directory)
        self.path = Path(name)
        self._fh = os.fdopen(fd, "w+b")
        self._zip: zipfile.ZipFile | None = zipfile.ZipFile(self._fh, "w")
        self.names: set[str] = set()
        self._not_run: dict[str, str] = {}

    def add(self, name: str, content: IO[bytes], size: int, what: str) -> None:
        assert self._zip is not None
        if name in self.names:
            raise OpsiPackageError(f"{what} holds {name!r} twice")
        self.names.add(name)
        sample = content.read(SAMPLE)
        info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED if _compressible(sample) else zipfile.ZIP_STORED
        info.external_attr = 0o644 << 16
        with self._zip.open(info, "w", force_zip64=size >= ZIP64_FROM) as out:
            out.write(sample)
            shutil.copyfileobj(content, out, CHUNK)

    def not_run(self, what: str | None = None, why: str | None = None) -> tuple[tuple[str, str], ...]:
        """Note ``what`` as kept but not run (with ``why``); the notes so far."""
        if what is not None and why is not None:
            self._not_run[what] = why
        return tuple(self._not_run.items())

    def finish(self) -> Path | None:
        """The finished ZIP, or None (and no file) when nothing was added."""
        if self._zip is not None:
            self._zip.close()
            self._zip = None
            self._fh.close()
        if not self.names:
            self.discard()
            return None
        return self.path

    def discard(self) -> None:
        with suppress(Exception):
            if self._zip is not None:
                self._zip.close()
        with suppress(Exception):
            self._fh.close()
        self._zip = None
        with suppress(FileNotFoundError):
            self.path.unlink()


def _keep_opsi_files(opsi_files: dict[str, bytes], kept: _Spool) -> None:
    """The OPSI directory goes with what is kept when the package brings server scripts."""
    scripts = [n for n in opsi_files if PurePosixPath(n).name in ("preinst", "postinst")]
    for name in sorted(scripts):
        kept.not_run(f"OPSI/{name}", NOT_RUN_WHY[PurePosixPath(name).name])
    if kept.not_run():
        for name, data in sorted(opsi_files.items()):
            kept.add(f"OPSI/{name}", io.BytesIO(data), len(data), "OPSI")


def read_opsi_package(
    source: Path | bytes,
    *,
    limits: ArchiveLimits | None = None,
    property_defaults: dict[str, Any] | None = None,
    force_product_id: str | None = None,
    name: str = "",
    spool_dir: Path | None = None,
) -> PackageImport:
    """The package in ``source`` (a file or its bytes), or ``OpsiPackageError``. Read once, front
    to back: CLIENT_DATA streams into the payload ZIP, a temporary file in ``spool_dir`` (the
    system's temporary directory by default; best on the payload store's file system, where the
    import renames it into place), so memory stays bounded whatever the package's size. The
    returned import owns that file (``payload_file``, and ``server_files`` for what is kept but
    not run); ``PackageService.import_package`` takes it over, a caller that does not import
    deletes it (``discard``)."""
    limits = limits or ArchiveLimits()
    budget = _Budget(limits)
    outer: IO[bytes]
    if isinstance(source, Path):
        name = name or source.name
        try:
            size = source.stat().st_size
            if size > limits.max_archive_bytes:
                raise OpsiPackageError(f"the package file is larger than {limits.max_archive_bytes} bytes")
            outer = source.open("rb", buffering=CHUNK)
        except OSError as exc:
            raise OpsiPackageError(f"cannot read the package file: {exc.strerror or exc}") from None
    else:
        if len(source) > limits.max_archive_bytes:
            raise OpsiPackageError(f"the package file is larger than {limits.max_archive_bytes} bytes")
        outer = io.BufferedReader(io.BytesIO(source), CHUNK)
    client, kept = _Spool(spool_dir, "payload"), _Spool(spool_dir, "kept")
    try:
        with outer:
            assert isinstance(outer, io.BufferedReader)
            head = outer.peek(TAR_MAGIC_OFFSET + 8)[: TAR_MAGIC_OFFSET + 8]
            opsi_files = _read_outer(outer, head, budget, limits, client, kept)
        control = _control(opsi_files, limits)
        _keep_opsi_files(opsi_files, kept)
        return _to_import(control, client, kept, property_defaults or {}, force_product_id, name)
    except BaseException:
        client.discard()
        kept.discard()
        raise


def _read_outer(
    outer: IO[bytes], head: bytes, budget: _Budget, limits: ArchiveLimits, client: _Spool, kept: _Spool
) -> dict[str, bytes]:
    """The outer archive's inner archives, each unpacked as it passes by: OPSI into memory (the
    control file and scripts), CLIENT_DATA into the payload, SERVER_DATA and custom
    directories into what is kept. Returns OPSI's files."""
    opsi_files: dict[str, bytes] | None = None
    seen: set[str] = set()
    custom_files: dict[str, int] = {}
    for member, content, _ in _members(outer, head, budget, "the package file"):
        match = INNER_RE.match(member)
        if match is None:
            continue  # e.g. a package's .md5 or .zsync beside it
        directory, custom, _, compression = match.groups()
        label = directory + (custom or "")
        if label in seen:
            raise OpsiPackageError(f"the package holds {label} twice")
        seen.add(label)
        with _inner(content, compression, budget, label) as files:
            if directory == "OPSI" and not custom:
                opsi_files = _small_files(files, limits.max_control_bytes, "OPSI")
            elif directory == "CLIENT_DATA" and not custom:
                for path, data, size in files:
                    client.add(path, data, size, label)
            else:
                count = 0
                for path, data, size in files:
                    kept.add(f"{label}/{path}", data, size, label)
                    count += 1
                custom_files[label] = count
    for label, count in sorted(custom_files.items()):
        why = NOT_RUN_WHY["SERVER_DATA" if label == "SERVER_DATA" else "custom"]
        kept.not_run(f"{label} ({count} files)", why)
    if opsi_files is None:
        raise OpsiPackageError("this is not an opsi package: it has no OPSI.tar or OPSI.cpio archive")
    return opsi_files


def _to_import(
    control: dict[str, Any],
    client: _Spool,
    kept: _Spool,
    property_defaults: dict[str, Any],
    force_product_id: str | None,
    source: str,
) -> PackageImport:
    product, package = control["product"], control["package"]
    kind = _text(product.get("type", "localboot"), "product type").strip().lower()
    if kind in ("netboot", "netbootproduct"):
        raise OpsiPackageError(
            "netboot products are not supported: fleetdeck does not install operating systems"
        )
    if kind not in ("localboot", "localbootproduct"):
        raise OpsiPackageError(f"unknown product type {product.get('type')!r}")
    product_id = (force_product_id or _text(product.get("id"), "product id")).strip().lower()
    if not PRODUCT_ID_RE.match(product_id):
        raise OpsiPackageError(f"bad product id {product_id!r}")
    version = _text(product.get("version"), "product version").strip() or "1.0"
    package_version = (
        _text(package.get("version"), "package version").strip()
        or _text(product.get("packageVersion"), "package version").strip()
        or "1"
    )
    for what, value in (("product version", version), ("package version", package_version)):
        if not VERSION_RE.match(value):
            raise OpsiPackageError(f"bad {what} {value!r}")
    try:
        priority = int(product.get("priority") or 0)
    except (TypeError, ValueError):
        raise OpsiPackageError(f"bad priority {product.get('priority')!r}") from None
    if not -100 <= priority <= 100:
        raise OpsiPackageError(f"priority {priority} is outside -100..100")
    setup = _text(product.get("setupScript"), "setupScript")
    uninstall = _text(product.get("uninstallScript"), "uninstallScript")
    fields = PackageFields(
        description=_text(product.get("description"), "description"),
        install_procedure=_script_command(setup, client.names),
        uninstall_procedure=_script_command(uninstall, client.names),
        priority=priority,
    )
    try:
        props = tuple(_property(p, property_defaults) for p in control["properties"])
        deps = tuple(_dependency(d, product_id) for d in control["dependencies"])
    except (TypeError, AttributeError):
        raise OpsiPackageError("the control file's properties or dependencies are malformed") from None
    return PackageImport(
        family_key=product_id,
        name=_text(product.get("name"), "product name", 255).strip() or product_id,
        version=version,
        package_version=package_version,
        fields=fields,
        properties=props,
        dependencies=deps,
        payload_file=client.finish(),
        server_files=kept.finish(),
        not_run=kept.not_run(),
        source=source,
    )


def _dir_files(root: Path, what: str) -> Iterator[Member]:
    """The plain files under ``root`` (version control directories left out); links and special
    files are refused."""
    if not root.is_dir():
        return
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink() or not (path.is_file() or path.is_dir()):
            raise OpsiPackageError(f"{what}/{rel} is a link or special file (only plain files are imported)")
        if path.is_dir() or rel.startswith((".git/", ".svn/")) or "/.git/" in rel:
            continue
        with path.open("rb") as fh:
            yield rel, fh, path.stat().st_size


def _budgeted(members: Iterable[Member], budget: _Budget) -> Iterator[Member]:
    for name, content, size in members:
        budget.file()
        budget.spend(size)
        yield name, content, size


def read_opsi_source_dir(
    directory: Path,
    *,
    limits: ArchiveLimits | None = None,
    property_defaults: dict[str, Any] | None = None,
    spool_dir: Path | None = None,
) -> PackageImport:
    """A package source directory as opsi-makepackage reads it (``OPSI/control[.toml]``,
    ``CLIENT_DATA/``, ``SERVER_DATA/``): opsi's ``workbench_installPackage`` of a directory.
    Spooled like ``read_opsi_package``."""
    limits = limits or ArchiveLimits()
    budget = _Budget(limits)
    if not (directory / "OPSI").is_dir():
        raise OpsiPackageError(
            f"{directory.name!r} is not a package source directory: it has no OPSI directory"
        )
    client, kept = _Spool(spool_dir, "payload"), _Spool(spool_dir, "kept")
    try:
        opsi_files = _small_files(
            _budgeted(_dir_files(directory / "OPSI", "OPSI"), budget), limits.max_control_bytes, "OPSI"
        )
        control = _control(opsi_files, limits)
        for name, content, size in _budgeted(_dir_files(directory / "CLIENT_DATA", "CLIENT_DATA"), budget):
            client.add(name, content, size, "CLIENT_DATA")
        count = 0
        for name, content, size in _budgeted(_dir_files(directory / "SERVER_DATA", "SERVER_DATA"), budget):
            kept.add(f"SERVER_DATA/{name}", content, size, "SERVER_DATA")
            count += 1
        if count:
            kept.not_run(f"SERVER_DATA ({count} files)", NOT_RUN_WHY["SERVER_DATA"])
        _keep_opsi_files(opsi_files, kept)
        return _to_import(control, client, kept, property_defaults or {}, None, directory.name)
    except BaseException:
        client.discard()
        kept.discard()
        raise


def spool_dir(data_dir: Path | str | None) -> Path | None:
    """Where a transport spools packages: ``<data_dir>/tmp``, on the payload store's file
    system, so the import renames the payload into place instead of copying gigabytes."""
    if data_dir is None:
        return None
    path = Path(data_dir) / "tmp"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def discard(imp: PackageImport) -> None:
    """Deletes the spool files of an import that is not handed to ``import_package``."""
    for path in (imp.payload_file, imp.server_files):
        if path is not None:
            with suppress(FileNotFoundError):
                path.unlink()
