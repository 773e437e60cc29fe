"""The database side of a fan-out, in-process: create N command jobs, claim them for delivery,
store N results. No sockets, so the figures isolate what ``core/jobs`` costs per job.

Usage: ``python bench/fanout_db.py [-n 10000] [--rounds 3] [--database-url URL] [--profile tottime]``
(an empty SQLite database in a temp dir by default).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Table, insert

from fleetdeck.app import build_runtime
from fleetdeck.core.authz import Actor, Role, system_actor
from fleetdeck.core.jobs.entities import CommandRequest
from fleetdeck.protocol import messages as m
from fleetdeck.settings import Settings
from fleetdeck.storage.tables import Computer
from fleetdeck.storage.uow import UnitOfWork

RESULT_BATCH = 5000  # the hub's max_batch


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("-n", type=int, default=10_000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--database-url", help="default: SQLite in a temp dir")
    p.add_argument("--profile", metavar="SORT", help="cProfile the last round, sorted by SORT")
    args = p.parse_args()

    data = Path(tempfile.mkdtemp(prefix="fdbench-db-"))
    settings = Settings(data_dir=data / "data", secret_key="b" * 40, database_url=args.database_url)
    rt = build_runtime(settings)
    user = rt.services.users.create(system_actor("bench"), "admin", "admin-password-1", Role.ADMIN)
    admin = Actor(user_id=user.id, username="admin", role=Role.ADMIN, source="127.0.0.1", via="bench")
    now = datetime.now(UTC)
    table: Table = Computer.__table__  # type: ignore[assignment]
    with UnitOfWork(rt.db) as uow:
        uow.session.execute(
            insert(table), [{"uid": f"u{i}", "hostname": f"pc{i}", "created_at": now} for i in range(args.n)]
        )
        ids = sorted(uow.session.scalars(table.select().with_only_columns(table.c.id)))
    remotes = {cid: "127.0.0.1" for cid in ids}
    jobs = rt.services.jobs
    for rnd in range(1, args.rounds + 1):
        prof = cProfile.Profile() if args.profile and rnd == args.rounds else None
        if prof:
            prof.enable()
        t0 = time.perf_counter()
        jobs.create_commands(admin, CommandRequest("true"), computer_ids=ids)
        t1 = time.perf_counter()
        claimed = jobs.claim_for_delivery(ids, remotes)
        t2 = time.perf_counter()
        stamp = time.time()
        results = [
            (
                cid,
                m.JobResult(
                    job_id=spec.id, status="succeeded", exit_code=0, started_at=stamp, finished_at=stamp
                ),
            )
            for cid, spec in claimed
        ]
        t3 = time.perf_counter()
        for i in range(0, len(results), RESULT_BATCH):
            jobs.record_results(results[i : i + RESULT_BATCH])
        t4 = time.perf_counter()
        if prof:
            prof.disable()
            pstats.Stats(prof).sort_stats(args.profile).print_stats(30)
        print(
            f"round {rnd}: {args.n} jobs: create {t1 - t0:.3f} s, claim {t2 - t1:.3f} s "
            f"({len(claimed)} claimed), store results {t4 - t3:.3f} s"
        )
    rt.db.dispose()


if __name__ == "__main__":
    main()
