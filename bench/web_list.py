"""The web UI's computers list and dashboard over real HTTP with N computers: the median time
of several requests per page (server-rendered HTML, as the browser receives it; not the
browser's render time, which the later browser bench will add).

    .venv/bin/python bench/web_list.py -n 10000 [--runs 7]

Fills the database as ``bench/oco_list.py`` does (one bulk INSERT), starts a real
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

PAGES = {
    "dashboard": "/",
    "list, first page (50)": "/computers",
    "list, 200 per page": "/computers?size=200",
    "search '0999'": "/computers?q=0999",
    "offline, by last seen": "/computers?online=no&sort=-last_seen",
    "OS filter, page 40": "/computers?os=Ubuntu*&page=40",
    "table only (htmx poll)": "/computers?page=100",
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        fill(data, args.n)
        with (
            server(data, None) as (url, _proc),
            httpx.Client(base_url=url, timeout=60, follow_redirects=True) as c,
        ):
            token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text)
            assert token
            r = c.post(
                "/login", data={"csrf_token": token.group(1), "username": "admin", "password": PASSWORD}
            )
            assert r.status_code == 200, r.status_code
            print(f"{args.n} computers, median of {args.runs} requests:")
            for name, path in PAGES.items():
                headers = {"hx-request": "true", "hx-target": "rows"} if "htmx" in name else {}
                times = []
                for _ in range(args.runs):
                    t0 = time.perf_counter()
                    page = c.get(path, headers=headers)
                    times.append(time.perf_counter() - t0)
                    assert page.status_code == 200, page.status_code
                ms, kib = statistics.median(times) * 1000, len(page.content) / 1024
                print(f"  {name:28s} {ms:7.1f} ms  {kib:6.1f} KiB")


if __name__ == "__main__":
    main()
