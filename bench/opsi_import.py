#!/usr/bin/env python
"""Importing an opsi package file (``.opsi``): time and memory.

    .venv/bin/python bench/opsi_import.py [--mib 16 64] [--files 1000] [--json]

Builds a package as opsi-makepackage does (outer tar; ``OPSI.tar.zstd`` with a control.toml;
``CLIENT_DATA.tar.zstd`` with one incompressible installer of ``--mib`` MiB, as real installers
are already compressed, and ``--files`` small files), then, in this process on SQLite in a
temporary data directory, times reading it (``api/kit/opsi_package.read_opsi_package``:
unpacking within the limits and zipping CLIENT_DATA into the payload) and the core import
(``packages.import_package``: one transaction, the payload written to the store), and the growth of
the process's peak RSS. Recorded in docs/performance.md.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import tarfile
import tempfile
import time
from pathlib import Path

import zstandard

from fleetdeck.api.kit.opsi_package import read_opsi_package
from fleetdeck.app import build_runtime
from fleetdeck.core.authz import Actor, Role
from fleetdeck.settings import Settings

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


def tar_zstd(files: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo("/" + name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return zstandard.ZstdCompressor().compress(raw.getvalue())


def package(mib: int, files: int, n: int) -> bytes:
    client = {"setup.sh": b"#!/bin/sh\ntrue\n", "installer.bin": os.urandom(mib * 1024 * 1024)}
    client |= {f"files/f{i:05d}.txt": b"x" * 200 for i in range(files)}
    outer = io.BytesIO()
    with tarfile.open(fileobj=outer, mode="w") as tar:
        for name, data in (
            ("OPSI.tar.zstd", tar_zstd({"control.toml": CONTROL.replace("Bench", f"Bench {n}").encode()})),
            ("CLIENT_DATA.tar.zstd", tar_zstd(client)),
        ):
            info = tarfile.TarInfo("/" + name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return outer.getvalue()


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mib", type=int, nargs="+", default=[16, 64])
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp) / "data", secret_key="bench-secret-key-0123456789abcdef")
        rt = build_runtime(settings)
        actor = Actor(user_id=None, username="bench", role=Role.ADMIN)
        for n, mib in enumerate(args.mib):
            data = package(mib, args.files, n)
            before = peak_mib()
            started = time.perf_counter()
            imp = read_opsi_package(data, force_product_id=f"bench-{n}")
            read_s = time.perf_counter() - started
            started = time.perf_counter()
            result = rt.services.packages.import_package(actor, imp)
            import_s = time.perf_counter() - started
            results.append(
                {
                    "installer_mib": mib,
                    "files": args.files + 2,
                    "archive_mib": round(len(data) / 1024 / 1024, 1),
                    "read_s": round(read_s, 2),
                    "import_s": round(import_s, 2),
                    "payload_mib": round((result.package.payload_size or 0) / 1024 / 1024, 1),
                    "peak_rss_growth_mib": round(peak_mib() - before, 1),
                }
            )
        rt.db.dispose()
    if args.json:
        print(json.dumps(results))
        return
    for r in results:
        print(
            f"{r['installer_mib']:>4} MiB installer + {r['files']} files ({r['archive_mib']} MiB .opsi):"
            f" read {r['read_s']} s, import {r['import_s']} s, payload {r['payload_mib']} MiB,"
            f" peak RSS +{r['peak_rss_growth_mib']} MiB"
        )


if __name__ == "__main__":
    main()
