"""The web UI's computers list and dashboard over real HTTP with N computers: the median time
of several requests per page, and the audit log's pages with 10 audit records per computer
(server-rendered HTML, as the browser receives it; not the browser's render time, which the
later browser bench will add).

    .venv/bin/python bench/web_list.py -n 10000 [--runs 7]

Fills the database as ``bench/oco_list.py`` does (one bulk INSERT), starts a real
``fleetdeck server``, logs in through the form like a browser and times the pages.
"""

from __future__ import annotations

import argparse
import re
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
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
    "audit log, first page": "/audit",
    "audit, user + action filter": "/audit?user=op-8*&action=computer.*",
    "audit, one object": "/audit?object=computer+4240",
    "audit, time range, page 20": "/audit?since=2026-01-01T00:00&until=2026-01-15T00:00&page=20",
    "audit, page 1000": "/audit?page=1000",
    "command history": "/commands",
}
AUDIT_PER_COMPUTER = 10  # audit rows: 100,000 with 10,000 computers


def fill_audit(data_dir: Path, n: int) -> None:
    """``n`` audit rows by one bulk INSERT (SQLite), spread over 2026's first 100 days."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [
        (
            (start + timedelta(seconds=i * 8640_000 // n)).strftime("%Y-%m-%d %H:%M:%S.%f"),
            f"op-{i % 50}",
            "127.0.0.1",
            "api",
            ("computer.update", "command.create", "auth.login", "group.add")[i % 4],
            ("computer", "job_batch", "user", "group")[i % 4],
            str(i % 10_000),
            "ok",
            "{}",
        )
        for i in range(n)
    ]
    with sqlite3.connect(data_dir / "fleetdeck.db") as db:
        db.executemany(
            "INSERT INTO audit_log (at, username, source, via, action, object_type, object_id, result, "
            "detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        fill(data, args.n)
        fill_audit(data, args.n * AUDIT_PER_COMPUTER)
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
            audit = args.n * AUDIT_PER_COMPUTER
            print(f"{args.n} computers, {audit} audit records, median of {args.runs} requests:")
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
