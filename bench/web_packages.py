"""The web UI's package and deployment pages over real HTTP: P packages (made through
``/api/v1``) and one deployment of one package to N computers (N jobs), the median time of
several requests per page (server-rendered HTML, as the browser receives it), and the first
``state`` event of the deployment's live stream (for the 50 jobs its first page shows).

    .venv/bin/python bench/web_packages.py -n 10000 -p 500 [--runs 7]

Fills the computers as ``bench/oco_list.py`` does (one bulk INSERT), starts a real
``fleetdeck server``, logs in through the form like a browser and times the pages.
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from oco_list import PASSWORD, fill, server


def pages(package: int, container: int) -> dict[str, str]:
    return {
        "packages, first page (50)": "/packages",
        "packages, search 'pkg-04*'": "/packages?q=pkg-04*",
        "packages, last page": "/packages?page=10000",
        "package page": f"/packages/{package}",
        "new deployment form": f"/deployments/new?package={package}",
        "deployments list": "/deployments",
        "deployment page (first 50 jobs)": f"/deployments/{container}",
        "deployment page, last page": f"/deployments/{container}?page=10000",
        "deployment, state 'queued', p.100": f"/deployments/{container}?status=queued&page=100",
        "deployment, state 'failed' (none)": f"/deployments/{container}?status=failed",
        "deployment rules": "/deployment-rules",
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=10000, help="computers (jobs of the deployment)")
    ap.add_argument("-p", type=int, default=500, help="packages")
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        fill(data, args.n)
        with (
            server(data, None) as (url, _proc),
            httpx.Client(base_url=url, timeout=120, follow_redirects=True) as c,
            httpx.Client(base_url=f"{url}/api/v1", auth=("admin", PASSWORD), timeout=120) as api,
        ):
            t0 = time.perf_counter()
            ids = []
            for i in range(args.p):
                body = {"family_name": f"pkg-{i:04d}", "version": "1.0", "install_procedure": "true"}
                r = api.post("/packages", json=body)
                assert r.status_code == 201, r.text
                ids.append(r.json()["data"]["id"])
            made = time.perf_counter() - t0
            computers: list[int] = []
            while len(computers) < args.n:
                params = {"page[limit]": 1000, "page[offset]": len(computers)}
                rows = api.get("/computers", params=params).json()["data"]
                if not rows:
                    break
                computers += [row["id"] for row in rows]
            r = api.post(
                "/deployments", json={"name": "bench", "computer_ids": computers, "package_ids": ids[:1]}
            )
            assert r.status_code == 201, r.text
            container = r.json()["data"]["id"]
            token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text)
            assert token
            r = c.post(
                "/login", data={"csrf_token": token.group(1), "username": "admin", "password": PASSWORD}
            )
            assert r.status_code == 200, r.status_code
            print(
                f"{args.p} packages (made through /api/v1 in {made:.1f} s), a deployment to "
                f"{len(computers)} computers; median of {args.runs} requests:"
            )
            for name, path in pages(ids[0], container).items():
                times = []
                for _ in range(args.runs):
                    t0 = time.perf_counter()
                    page = c.get(path)
                    times.append(time.perf_counter() - t0)
                    assert page.status_code == 200, (path, page.status_code)
                ms, kib = statistics.median(times) * 1000, len(page.content) / 1024
                print(f"  {name:30s} {ms:7.1f} ms  {kib:7.1f} KiB")
            followed = re.search(r'data-events="([^"]+)"', c.get(f"/deployments/{container}").text)
            assert followed, "the page follows its jobs"
            events = followed.group(1).replace("&amp;", "&")
            times = []
            for _ in range(args.runs):
                t0 = time.perf_counter()
                with c.stream("GET", events) as s:
                    first = next(s.iter_lines())
                    times.append(time.perf_counter() - t0)
                    assert first == "event: state", first
            print(f"  {'live stream, first state event':30s} {statistics.median(times) * 1000:7.1f} ms")


if __name__ == "__main__":
    main()
