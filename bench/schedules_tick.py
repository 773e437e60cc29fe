"""One round of the ``schedules.run`` duty: S due schedules of C computers each, fired by one
``ScheduleService.run_due`` call (the duty's work), on a fresh SQLite database (or PostgreSQL
with ``--database-url``). Prints the round's wall time and the time per schedule fired.

    .venv/bin/python bench/schedules_tick.py [-s 100] [-c 10] [--database-url URL]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import update

from fleetdeck.app import build_runtime
from fleetdeck.core.authz import Actor, Role, system_actor
from fleetdeck.core.jobs.schedules import ScheduleInput
from fleetdeck.settings import Settings
from fleetdeck.storage.tables import Schedule

SECRET = "bench-secret-key-0123456789-abcdefghijklmnop"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-s", "--schedules", type=int, default=100)
    parser.add_argument("-c", "--computers", type=int, default=10, help="computers per schedule")
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        extra = {"database_url": args.database_url} if args.database_url else {}
        rt = build_runtime(Settings(data_dir=Path(tmp), secret_key=SECRET, **extra))
        user = rt.services.users.create(system_actor("bench"), "admin", "bench-password-1", Role.ADMIN)
        admin = Actor(user_id=user.id, username="admin", role=Role.ADMIN)
        for i in range(args.schedules):
            ids = [rt.services.computers.create(admin, f"pc-{i}-{j}").id for j in range(args.computers)]
            data = ScheduleInput(f"s{i}", "* * * * *", "command", "true", concurrent=True, computer_ids=ids)
            rt.services.schedules.save(admin, data)
        with rt.db.sessions() as s, s.begin():
            s.execute(update(Schedule).values(next_run_at=datetime.now(UTC)))
        start = time.perf_counter()
        result = rt.services.schedules.run_due()
        took = time.perf_counter() - start
        assert len(result.ran) == args.schedules, result
        print(
            f"{rt.db.dialect}: {args.schedules} schedules x {args.computers} computers fired in "
            f"{took * 1000:.0f} ms ({took * 1000 / args.schedules:.1f} ms per schedule); "
            f"load average {os.getloadavg()[0]:.2f}"
        )


if __name__ == "__main__":
    main()
