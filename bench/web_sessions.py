"""What a web UI request pays for its session now that sessions live in the database: the
median time of ``SessionService.resume`` (the session row and the user in one read transaction)
with N sessions stored, against ``UserService.resume`` alone (what every request paid with the
old in-memory store), and the time of the purge duty deleting N ended sessions. In-process, no
sockets, so the figures isolate the session store.

Usage: ``python bench/web_sessions.py [-n 10000] [--calls 2000] [--database-url URL]``
(an empty SQLite database in a temp dir by default).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, update

from fleetdeck.app import build_runtime
from fleetdeck.core.authz import Role, system_actor
from fleetdeck.core.secrets import random_token
from fleetdeck.settings import Settings
from fleetdeck.storage.tables import WebSession
from fleetdeck.storage.uow import UnitOfWork


def median_us(fn: object, calls: int) -> float:
    assert callable(fn)
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e6


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("-n", type=int, default=10_000, help="sessions stored besides the one resumed")
    p.add_argument("--calls", type=int, default=2000)
    p.add_argument("--database-url", help="default: SQLite in a temp dir")
    args = p.parse_args()

    data = Path(tempfile.mkdtemp(prefix="fdbench-sessions-"))
    settings = Settings(data_dir=data / "data", secret_key="b" * 40, database_url=args.database_url)
    rt = build_runtime(settings)
    s = rt.services
    s.users.create(system_actor("bench"), "alice", "alice-password-1", Role.OPERATOR)
    actor, credential = s.users.session_login("alice", "alice-password-1", "127.0.0.1", "web")
    now = datetime.now(UTC)
    rows = [
        {
            "secret_hash": f"{i:064x}",
            "user_id": credential.user_id,
            "credential_version": credential.version,
            "user_born": credential.born,
            "method": "password",
            "via": "web",
            "source": "127.0.0.1",
            "created_at": now,
            "expires_at": now + timedelta(hours=12),
            "last_used_at": now,
        }
        for i in range(args.n)
    ]
    with UnitOfWork(rt.db) as uow:
        uow.session.execute(insert(WebSession), rows)
    started = s.sessions.start(actor, credential, "127.0.0.1")

    user_only = median_us(lambda: s.users.resume(credential, "127.0.0.1", "web"), args.calls)
    with_session = median_us(lambda: s.sessions.resume(started.secret, "127.0.0.1", "web"), args.calls)
    unknown = median_us(lambda: _refused(s.sessions.resume, random_token(32)), args.calls)
    with UnitOfWork(rt.db) as uow:  # every stored session ended an hour ago
        uow.session.execute(update(WebSession).values(expires_at=now - timedelta(hours=1)))
    t0 = time.perf_counter()
    purged = s.sessions.purge()
    purge_ms = (time.perf_counter() - t0) * 1000

    print(f"database: {rt.db.dialect}, {args.n} sessions stored, median of {args.calls} calls")
    print(f"  UserService.resume alone (the old in-memory store's cost): {user_only:8.0f} us")
    print(f"  SessionService.resume (session row + user, one read):      {with_session:8.0f} us")
    print(f"  an unknown cookie refused:                                 {unknown:8.0f} us")
    print(f"  purge of {purged} ended sessions:                          {purge_ms:8.0f} ms")
    rt.db.dispose()


def _refused(resume: object, secret: str) -> None:
    assert callable(resume)
    try:
        resume(secret, "127.0.0.1", "web")
    except Exception:  # AuthenticationFailed: what is measured
        return
    raise AssertionError("an unknown session was accepted")


if __name__ == "__main__":
    main()
