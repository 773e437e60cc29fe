"""What core's change feed (``core/changes.py``) costs on the write path, in-process: a package
deployed to N computers (N package states requested), delivered, and N results stored (N
states updated), with the feed watching the session factory and without it.

Usage: ``python bench/changes_db.py [-n 2000] [--rounds 3] [--database-url URL]``
(an empty SQLite database in a temp dir by default). Each round alternates off/on on the same
database, so both see the same table sizes.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Table, insert

from fleetdeck.app import build_runtime
from fleetdeck.bus.changes import decode_changes
from fleetdeck.core.authz import Actor, Role, system_actor
from fleetdeck.core.changes import Change
from fleetdeck.core.packages.entities import PackageFields
from fleetdeck.core.services import CoreConfig, Services, build_services
from fleetdeck.protocol import messages as m
from fleetdeck.settings import Settings
from fleetdeck.storage.tables import Computer
from fleetdeck.storage.uow import UnitOfWork

RESULT_BATCH = 5000  # the hub's max_batch


class Counting:
    """The port as the bus implements it (one JSON encoding per transaction), counting."""

    def __init__(self) -> None:
        self.changes = 0

    def changed(self, changes: Sequence[Change]) -> None:
        import msgspec

        self.changes += len(decode_changes(msgspec.json.encode(list(changes))))


def one_round(svc: Services, admin: Actor, ids: list[int], package_id: int) -> float:
    t0 = time.perf_counter()
    svc.deployments.deploy(
        admin, "bench", computer_ids=ids, package_ids=[package_id], force_same_version=True
    )
    claimed = svc.jobs.claim_for_delivery(ids, dict.fromkeys(ids, "127.0.0.1"))
    now = time.time()
    results = [
        (cid, m.JobResult(job_id=spec.id, status="succeeded", exit_code=0, started_at=now, finished_at=now))
        for cid, spec in claimed
    ]
    for i in range(0, len(results), RESULT_BATCH):
        svc.jobs.record_results(results[i : i + RESULT_BATCH])
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("-n", type=int, default=2000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--database-url", help="default: SQLite in a temp dir")
    args = p.parse_args()

    data = Path(tempfile.mkdtemp(prefix="fdbench-changes-"))
    settings = Settings(data_dir=data / "data", secret_key="b" * 40, database_url=args.database_url)
    rt = build_runtime(settings)  # migrates; its own services are not used below
    config = CoreConfig(payload_dir=settings.data_dir / "payloads")
    off = build_services(rt.db, "b" * 40, config)
    rt2 = build_runtime(settings, migrate_db=False)  # a second factory, so "off" stays unwatched
    feed = Counting()
    on = build_services(rt2.db, "b" * 40, config, changes=feed)
    user = off.users.create(system_actor("bench"), "admin", "admin-password-1", Role.ADMIN)
    admin = Actor(user_id=user.id, username="admin", role=Role.ADMIN, source="127.0.0.1", via="bench")
    now = datetime.now(UTC)
    table: Table = Computer.__table__  # type: ignore[assignment]
    with UnitOfWork(rt.db) as uow:
        uow.session.execute(
            insert(table), [{"uid": f"u{i}", "hostname": f"pc{i}", "created_at": now} for i in range(args.n)]
        )
        ids = sorted(uow.session.scalars(table.select().with_only_columns(table.c.id)))
    fields = PackageFields(install_procedure="true", uninstall_procedure="true")
    package_id = off.packages.create(admin, "bench", "1", fields).id
    print(f"{args.n} computers, {rt.db.dialect}; seconds per round (deploy + deliver + results)")
    for rnd in range(1, args.rounds + 1):
        t_off = one_round(off, admin, ids, package_id)
        before = feed.changes
        t_on = one_round(on, admin, ids, package_id)
        print(
            f"round {rnd}: feed off {t_off:.2f} s, feed on {t_on:.2f} s ({t_on / t_off - 1:+.0%}),"
            f" {feed.changes - before} changes announced"
        )


if __name__ == "__main__":
    main()
