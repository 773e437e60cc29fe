"""/api/v1 GET /computers/{id}/metrics: the measurements core holds, newest first, with the
list syntax on taken_at (unix seconds); 403 for a viewer (no read_monitoring), 503 while
monitoring is disabled; a constant number of statements whatever the page size."""

from __future__ import annotations

import time

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from fleetdeck.protocol import messages as m
from tests import factories
from tests.integration.api.conftest import Api, assert_error
from tests.integration.queries.test_list_query_counts import counting

NOW = int(time.time())


def _fill(runtime: Runtime, admin: Actor, n: int) -> int:
    cid = factories.computer(runtime.services, admin, "metrics-host")
    sample = m.Measurement(
        cpu_usage_percent=5.0,
        memory_usage_percent=6.0,
        mountpoints=[m.Mountpoint(path="/", total_bytes=10, free_bytes=4)],
    )
    runtime.services.monitoring.intake_many([(cid, NOW - k * 60, sample) for k in range(n)])
    return cid


def test_metrics_list(admin_api: Api, viewer_api: Api, runtime: Runtime, admin: Actor) -> None:
    cid = _fill(runtime, admin, 30)
    r = admin_api.get(f"/computers/{cid}/metrics", params={"page[limit]": 2})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["meta"]["count"] == 30
    first = body["data"][0]
    assert first["taken_at"] == NOW and first["cpu_usage_percent"] == 5.0
    assert first["io_usage_percent"] is None
    assert first["mountpoints"] == {"/": {"total_bytes": 10, "free_bytes": 4}}
    r = admin_api.get(f"/computers/{cid}/metrics", params={"filter[taken_at][gt]": NOW - 150})
    assert r.json()["meta"]["count"] == 3
    assert_error(viewer_api.get(f"/computers/{cid}/metrics"), 403)
    runtime.services.settings.set(admin, "monitoring.enabled", False)
    assert_error(admin_api.get(f"/computers/{cid}/metrics"), 503)


def test_metrics_list_runs_constant_statements(admin_api: Api, runtime: Runtime, admin: Actor) -> None:
    cid = _fill(runtime, admin, 120)

    def statements(limit: int) -> int:
        admin_api.get(f"/computers/{cid}/metrics", params={"page[limit]": limit})  # warm
        with counting(runtime.db) as seen:
            r = admin_api.get(f"/computers/{cid}/metrics", params={"page[limit]": limit})
            assert r.status_code == 200
        return len([s for s in seen if "measurements" in s or "FROM computers" in s])

    assert statements(1) == statements(100) == 3  # the computer, the count, the page
