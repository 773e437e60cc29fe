"""Every RemotePC list call runs the same number of SQL statements with 1 and with 20 rows of
everything (users, devices with comments, a user's devices)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from tests import factories
from tests.dialects.remotepc import world
from tests.dialects.remotepc.conftest import RemotePc
from tests.integration.queries.test_list_query_counts import counting

CALLS: dict[str, Callable[[RemotePc], object]] = {
    "user/list": lambda rpc: rpc.ok(rpc.get("user/list")),
    "computer/list": lambda rpc: rpc.ok(rpc.get("computer/list")),
    "user/devices": lambda rpc: rpc.ok(rpc.get("user/devices", {"username": "u0@example.org"})),
}
# the statements of the call itself: settings are cached (read again every 2 s) and a transaction
# may start with BEGIN
PINNED = {"user/list": 2, "computer/list": 3, "user/devices": 4}


def grow(rpc: RemotePc, runtime: Runtime, admin: Actor, start: int, stop: int) -> None:
    for k in range(start, stop):
        world.end_user(runtime, admin, f"u{k}@example.org")
        factories.computer(runtime.services, admin, f"pc-{k}")
        runtime.services.by_name.comment(admin, f"pc-{k}", f"comment {k}")
        runtime.services.people.assign(admin, "u0@example.org", [f"pc-{k}"])


@pytest.mark.parametrize("call", sorted(CALLS))
def test_list_calls_run_constant_queries(rpc: RemotePc, runtime: Runtime, admin: Actor, call: str) -> None:
    def statements() -> int:
        CALLS[call](rpc)  # warm: settings read
        with counting(runtime.db) as seen:
            CALLS[call](rpc)
        return len([s for s in seen if "FROM settings" not in s and s != "BEGIN" and "BEGIN" not in s])

    grow(rpc, runtime, admin, 0, 1)
    one = statements()
    grow(rpc, runtime, admin, 1, 20)
    twenty = statements()
    assert one == twenty == PINNED[call]
