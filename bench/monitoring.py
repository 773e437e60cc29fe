"""Monitoring: intake rate and a 48 h graph query among 10,000 computers' measurements.

    .venv/bin/python bench/monitoring.py [-n 10000] [--per-computer 48] [--intake 2000] [--runs 9]
        [--database-url postgresql://...] [--json]

In-process, on core's services (what the agent endpoint calls), on a fresh migrated database:

1. intake: ``--intake`` single ``MonitoringService.intake`` calls (one INSERT and commit each)
   spread over the computers -> rows/s; then the same number in
   ``intake_batch`` batches of 1,000 (one executemany; what the agent endpoint does with the
   frames that arrive within its flush interval) -> rows/s.
2. graph: ``-n`` computers with ``--per-computer`` measurements each spread over the last 48 h
   (without processes, to fill faster: the graph reads no JSON column), and one client with a
   measurement every minute for 48 h (2,880); the median time of
   ``--runs`` 48-hour ``graph`` calls for that client (124 buckets of 1,392 s, avg/min/max of
   cpu, memory and io) and of a 120-row ``find`` page.

The intake measurements and the client's carry 1 mountpoint and 30 processes, what a real
agent sends.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from agents import log
from fleetdeck.app import build_runtime
from fleetdeck.core import query as q
from fleetdeck.core.authz import Actor, Role, system_actor
from fleetdeck.core.enrollment.service import agent_actor
from fleetdeck.protocol import messages as m
from fleetdeck.settings import Settings
from fleetdeck.storage.tables.computers import Computer

WINDOW = 48 * 3600


def measurement(n: int, processes: int = 30) -> m.Measurement:
    return m.Measurement(
        cpu_usage_percent=float(n % 100),
        memory_usage_percent=float((n * 7) % 100),
        io_usage_percent=float((n * 3) % 100),
        net_lan_in=1000.0 * (n % 50),
        net_lan_out=500.0,
        net_lan_mbit=1000.0,
        mountpoints=[m.Mountpoint(path="/", total_bytes=500_000_000_000, free_bytes=200_000_000_000)],
        processes=[
            m.ProcessSample(
                pid=1000 + k,
                name=f"proc-{k}",
                user="root",
                cmdline=f"/usr/bin/proc-{k} --flag",
                cpu_percent=0.5,
                memory_percent=0.1,
                rss_bytes=10_000_000,
            )
            for k in range(processes)
        ],
    )


def computers(rt: Any, n: int) -> list[int]:
    now = datetime.now(UTC).replace(microsecond=0)
    rows = [
        {
            "uid": f"{i:032x}",
            "hostname": f"pc-{i:05d}",
            "notes": "",
            "created_at": now - timedelta(days=30),
            "created_by": "bench",
            "online": True,
        }
        for i in range(n)
    ]
    with rt.db.engine.begin() as conn:
        conn.execute(Computer.__table__.insert(), rows)
        return [int(r[0]) for r in conn.execute(Computer.__table__.select().with_only_columns(Computer.id))]


def median_ms(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-n", type=int, default=10_000, help="computers (default 10,000)")
    p.add_argument("--per-computer", type=int, default=48, help="measurements per computer over 48 h")
    p.add_argument("--intake", type=int, default=2000, help="measurements for the intake rates")
    p.add_argument("--runs", type=int, default=9)
    p.add_argument("--database-url", default=None, help="an empty PostgreSQL database; default SQLite")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), secret_key="b" * 40, database_url=args.database_url)
        rt = build_runtime(settings)
        mon = rt.services.monitoring
        user = rt.services.users.create(system_actor("bench"), "admin", "bench-password-1", Role.ADMIN)
        admin = Actor(user_id=user.id, username="admin", role=Role.ADMIN)
        ids = computers(rt, args.n)
        log(f"{len(ids)} computers on {rt.services.database}")

        sample = measurement(1)
        start = time.perf_counter()
        for k in range(args.intake):
            cid = ids[k % len(ids)]
            mon.intake(agent_actor(cid, "pc", "127.0.0.1"), cid, sample)
        single = args.intake / (time.perf_counter() - start)
        log(f"intake, one insert per measurement: {single:,.0f} rows/s")

        now = int(time.time())
        start = time.perf_counter()
        batch = [(ids[k % len(ids)], sample) for k in range(args.intake)]
        for off in range(0, len(batch), 1000):
            mon.intake_batch(batch[off : off + 1000])
        batched = args.intake / (time.perf_counter() - start)
        log(f"intake, batches of 1,000 (the agent endpoint's path): {batched:,.0f} rows/s")

        target = ids[0]
        step = WINDOW // max(args.per_computer, 1)
        fill_start = time.perf_counter()
        rows: list[tuple[int, int, m.Measurement]] = []
        total = 0
        for cid in ids[1:]:
            rows += [(cid, now - j * step, measurement(j, 0)) for j in range(args.per_computer)]
            if len(rows) >= 5000:
                total += mon.intake_many(rows)
                rows = []
        rows += [(target, now - j * 60, measurement(j)) for j in range(WINDOW // 60)]
        total += mon.intake_many(rows)
        log(f"filled {total:,} rows in {time.perf_counter() - fill_start:.0f} s")

        points: list[Any] = []

        def graph() -> None:
            points[:] = mon.graph(admin, target, now - WINDOW, now)

        graph_ms = median_ms(graph, args.runs)
        page_ms = median_ms(lambda: mon.find(admin, target, q.Query(limit=120)), args.runs)
        log(
            f"48 h graph of one client: {graph_ms:.1f} ms ({len(points)} points);"
            f" 120-row page {page_ms:.1f} ms"
        )
        result = {
            "database": rt.services.database,
            "computers": len(ids),
            "rows": total + 2 * args.intake,
            "intake_rows_per_sec": round(single),
            "intake_batched_rows_per_sec": round(batched),
            "graph_48h_ms": round(graph_ms, 1),
            "graph_points": len(points),
            "page_120_ms": round(page_ms, 1),
            "load_average": os.getloadavg()[0],
        }
        rt.db.dispose()
    print(json.dumps(result) if args.json else "\n".join(f"{k}: {v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
