"""Upload one large payload to a real server and print the server's peak RSS while it streams.

    .venv/bin/python bench/upload.py [--gib 2] [--modes put,multipart,resumable] [--json-mib 60]

A ZIP of ``--gib`` GiB (random, stored, so nothing compresses) is written to a temporary
directory once, then sent to ``fleetdeck server`` in each mode: ``put`` (PUT
/api/v1/packages/{id}/payload, the raw body), ``multipart`` (POST of the same path, form part
``file``), ``resumable`` (POST /api/v1/uploads, then PATCH pieces of ``--piece-mib``). The
server's RSS is sampled every 20 ms from before the request until the answer; the figure is its
peak and the growth over the idle server. ``--json-mib`` also sends a payload of that size the
old way (base64 inside JSON, POST /api/v1/packages, with max_body_bytes raised for it) for
comparison. The stored payload's SHA-256 is checked against the file's in every mode.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil

from agents import ADMIN, log, start_server

MIB = 1024 * 1024


def make_zip(path: Path, size: int) -> str:
    """A stored ZIP of about ``size`` bytes, written in 1 MiB blocks; returns its SHA-256."""
    block = os.urandom(MIB)
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf,
        zf.open("data.bin", "w", force_zip64=True) as out,
    ):
        for i in range(size // MIB):
            out.write(i.to_bytes(8, "little") + block[8:])  # every block differs
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(8 * MIB):
            digest.update(chunk)
    return digest.hexdigest()


def read_chunks(path: Path, start: int = 0, end: int | None = None, size: int = MIB) -> Iterator[bytes]:
    with path.open("rb") as fh:
        fh.seek(start)
        left = (end if end is not None else path.stat().st_size) - start
        while left > 0 and (chunk := fh.read(min(size, left))):
            left -= len(chunk)
            yield chunk


class Peak:
    """The server's RSS, sampled in a thread while a block runs."""

    def __init__(self, proc: psutil.Process) -> None:
        self.proc = proc
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            self._stop.wait(0.02)

    def __enter__(self) -> Peak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def new_package(api: httpx.Client, name: str) -> int:
    r = api.post("/api/v1/packages", json={"family_name": name, "version": "1", "install_procedure": "true"})
    r.raise_for_status()
    return int(r.json()["data"]["id"])


def send(api: httpx.Client, mode: str, path: Path, sha: str, piece: int) -> dict[str, Any]:
    pid = new_package(api, f"bench-{mode}")
    size = path.stat().st_size
    if mode == "put":
        r = api.put(
            f"/api/v1/packages/{pid}/payload",
            content=read_chunks(path),
            headers={
                "content-type": "application/octet-stream",
                "content-length": str(size),
                "X-Payload-SHA256": sha,
            },
        )
    elif mode == "multipart":
        with path.open("rb") as fh:
            r = api.post(
                f"/api/v1/packages/{pid}/payload", files={"file": ("big.zip", fh, "application/zip")}
            )
    else:
        r = api.post("/api/v1/uploads", json={"package_id": pid, "length": size, "sha256": sha})
        r.raise_for_status()
        url = f"/api/v1/uploads/{r.json()['data']['id']}"
        for start in range(0, size, piece):
            end = min(size, start + piece)
            r = api.patch(
                url,
                content=read_chunks(path, start, end),
                headers={
                    "content-type": "application/offset+octet-stream",
                    "content-length": str(end - start),
                    "Upload-Offset": str(start),
                },
            )
            if r.status_code not in (200, 204):
                break
    r.raise_for_status()
    data: dict[str, Any] = r.json()["data"]
    return data


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gib", type=float, default=2.0)
    ap.add_argument("--modes", default="put,multipart,resumable")
    ap.add_argument("--piece-mib", type=int, default=256, help="piece size of the resumable mode")
    ap.add_argument("--json-mib", type=int, default=60, help="0: skip the base64-in-JSON comparison")
    ap.add_argument("--database-url", default="")
    opts = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fdbench-upload-"))
    password = "bench-" + base64.b32encode(os.urandom(10)).decode().lower()
    env = dict(os.environ)
    env["FLEETDECK_MAX_BODY_BYTES"] = str(max(1, opts.json_mib * 2) * MIB)  # room for base64 JSON
    if opts.database_url:
        env["FLEETDECK_DATABASE_URL"] = opts.database_url
    server, _ = start_server(
        argparse.Namespace(agents=1, port=0, ws_impl=None, server_deflate=None, server_cpus=None),
        password,
        env,
    )
    results: dict[str, Any] = {"gib": opts.gib, "cpus": os.cpu_count()}
    try:
        t0 = time.perf_counter()
        source = work / "big.zip"
        sha = make_zip(source, int(opts.gib * 1024**3))
        size = source.stat().st_size
        log(f"wrote {size} bytes in {time.perf_counter() - t0:.1f} s")
        proc = psutil.Process(server.popen.pid)
        with httpx.Client(base_url=server.base_url, auth=(ADMIN, password), timeout=600) as api:
            api.get("/api/v1/packages").raise_for_status()
            time.sleep(1)
            idle = proc.memory_info().rss
            results["idle_rss_mib"] = round(idle / MIB, 1)
            for mode in opts.modes.split(","):
                with Peak(proc) as peak:
                    t0 = time.perf_counter()
                    out = send(api, mode, source, sha, opts.piece_mib * MIB)
                    took = time.perf_counter() - t0
                assert out["sha256"] == sha, (mode, out)
                results[mode] = {
                    "bytes": size,
                    "sec": round(took, 1),
                    "mib_per_sec": round(size / MIB / took, 1),
                    "peak_rss_mib": round(peak.peak / MIB, 1),
                    "growth_mib": round((peak.peak - idle) / MIB, 1),
                }
                log(f"{mode}: {results[mode]}")
            if opts.json_mib:
                small = work / "small.zip"
                make_zip(small, opts.json_mib * MIB)
                body = {
                    "family_name": "bench-json",
                    "version": "1",
                    "install_procedure": "true",
                    "files": [{"name": "p.zip", "content": base64.b64encode(small.read_bytes()).decode()}],
                }
                encoded = json.dumps(body).encode()
                del body
                before = proc.memory_info().rss
                with Peak(proc) as peak:
                    t0 = time.perf_counter()
                    api.post(
                        "/api/v1/packages", content=encoded, headers={"content-type": "application/json"}
                    ).raise_for_status()
                    took = time.perf_counter() - t0
                results[f"json_base64_{opts.json_mib}mib"] = {
                    "sec": round(took, 1),
                    "peak_rss_mib": round(peak.peak / MIB, 1),
                    "growth_mib": round((peak.peak - before) / MIB, 1),
                }
    finally:
        server.popen.terminate()
        server.popen.wait(30)
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(server.data_dir, ignore_errors=True)
    print(json.dumps(results, indent=2))
    sys.exit(0)


if __name__ == "__main__":
    main()
