#!/usr/bin/env python
"""Importing an opsi package file (``.opsi``): time and peak memory.

    .venv/bin/python bench/opsi_import.py [--mib 64 1024] [--files 1000] [--reader PATH] [--json]

Builds a package on disk as opsi-makepackage does (outer tar; ``OPSI.tar.zstd`` with a
control.toml; ``CLIENT_DATA.tar.zstd`` with one incompressible installer of ``--mib`` MiB, as
real installers are already compressed, and ``--files`` small files), written in chunks so the
builder itself stays small. Each size is then imported in a fresh child process on SQLite in a
temporary data directory: reading it (``api/kit/opsi_package.read_opsi_package``: unpacking
within the limits and writing CLIENT_DATA into the payload ZIP) and the core import
(``packages.import_package``: one transaction, the payload moved into the store). The child's
peak RSS (``ru_maxrss``) is the figure: the whole process, Python and libraries included.
``--reader`` loads ``read_opsi_package`` from another file (e.g. an older version, extracted
with ``git show <rev>:src/fleetdeck/api/kit/opsi_package.py``) to compare. Recorded in
docs/performance.md; the package files are temporary, nothing is kept.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

import zstandard

CONTROL = """[Package]
version = "1"
[Product]
type = "LocalbootProduct"
id = "bench"
name = "Bench"
version = "1.0"
setupScript = "setup.sh"
[[ProductProperty]]
type = "UnicodeProductProperty"
name = "p"
values = ["a", "b"]
default = ["a"]
"""
CHUNK = 1024 * 1024


class RandomStream:
    """``size`` random bytes, read in chunks (an installer that does not compress)."""

    def __init__(self, size: int) -> None:
        self.left = size

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        self.left -= n
        return os.urandom(n)


def tar_zstd(path: Path, members: list[tuple[str, int, Any]]) -> None:
    """A zstd-compressed tar at ``path``: (name, size, readable) members, streamed."""
    with (
        path.open("wb") as raw,
        zstandard.ZstdCompressor(level=1).stream_writer(raw) as out,
        tarfile.open(fileobj=out, mode="w|") as tar,
    ):
        for name, size, content in members:
            info = tarfile.TarInfo("/" + name)
            info.size = size
            tar.addfile(info, content)


def build(directory: Path, mib: int, files: int) -> Path:
    import io

    opsi, client = directory / "OPSI.tar.zstd", directory / "CLIENT_DATA.tar.zstd"
    control = CONTROL.encode()
    tar_zstd(opsi, [("control.toml", len(control), io.BytesIO(control))])
    small = [(f"files/f{i:05d}.txt", 200, io.BytesIO(b"x" * 200)) for i in range(files)]
    setup = b"#!/bin/sh\ntrue\n"
    tar_zstd(
        client,
        [
            ("setup.sh", len(setup), io.BytesIO(setup)),
            ("installer.bin", mib * CHUNK, RandomStream(mib * CHUNK)),
            *small,
        ],
    )
    package = directory / f"bench_{mib}.opsi"
    with tarfile.open(package, "w") as tar:
        for part in (opsi, client):
            tar.add(part, arcname="/" + part.name)
            part.unlink()
    return package


def child(package: Path, reader: str | None) -> dict[str, Any]:
    """Runs in the child: read and import one package, report times and peak RSS."""
    from fleetdeck.api.kit import opsi_package
    from fleetdeck.app import build_runtime
    from fleetdeck.core.authz import Actor, Role
    from fleetdeck.settings import Settings

    read = opsi_package.read_opsi_package
    if reader:
        spec = importlib.util.spec_from_file_location("old_opsi_package", reader)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
        read = module.read_opsi_package
    limits = opsi_package.ArchiveLimits(max_archive_bytes=8 << 30, max_unpacked_bytes=8 << 30)
    with tempfile.TemporaryDirectory(dir=package.parent) as tmp:
        settings = Settings(data_dir=Path(tmp) / "data", secret_key="bench-secret-key-0123456789abcdef")
        rt = build_runtime(settings)
        actor = Actor(user_id=None, username="bench", role=Role.ADMIN)
        kwargs: dict[str, Any] = {"limits": limits}
        if not reader:
            kwargs["spool_dir"] = opsi_package.spool_dir(settings.data_dir)
        started = time.perf_counter()
        imp = read(package, **kwargs)
        read_s = time.perf_counter() - started
        started = time.perf_counter()
        result = rt.services.packages.import_package(actor, imp)
        import_s = time.perf_counter() - started
        rt.db.dispose()
    return {
        "read_s": round(read_s, 2),
        "import_s": round(import_s, 2),
        "payload_mib": round((result.package.payload_size or 0) / CHUNK, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mib", type=int, nargs="+", default=[64, 1024])
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--reader", help="a file defining read_opsi_package to measure instead")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(Path(args.child), args.reader)))
        return
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for mib in args.mib:
            package = build(Path(tmp), mib, args.files)
            cmd = [sys.executable, __file__, "--child", str(package)]
            if args.reader:
                cmd += ["--reader", args.reader]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            results.append(
                {
                    "installer_mib": mib,
                    "files": args.files + 2,
                    "archive_mib": round(package.stat().st_size / CHUNK, 1),
                    **json.loads(out),
                }
            )
            package.unlink()
    if args.json:
        print(json.dumps(results))
        return
    for r in results:
        print(
            f"{r['installer_mib']:>5} MiB installer + {r['files']} files ({r['archive_mib']} MiB .opsi):"
            f" read {r['read_s']} s, import {r['import_s']} s, payload {r['payload_mib']} MiB,"
            f" peak RSS {r['peak_rss_mib']} MiB"
        )


if __name__ == "__main__":
    main()
