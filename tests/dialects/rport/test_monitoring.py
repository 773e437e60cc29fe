"""rportd's monitoring routes: metrics, mountpoints and processes lists with rportd's sort,
filter and page rules, graph-metrics with exactly two filters over 2..48 h, the disabled and
permission answers, and a constant number of statements per list. Measurements are stored
through core's batched intake at chosen times; the real agent's path is in
test_monitoring_e2e.py."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from fleetdeck.core.monitoring.service import bucket_seconds
from fleetdeck.protocol import messages as m
from tests import factories
from tests.dialects.rport.conftest import ADMIN_PASSWORD, API, basic, user
from tests.integration.queries.test_list_query_counts import counting

ADMIN = basic("admin", ADMIN_PASSWORD)
HOUR = 3600
NOW = int(time.time()) // 3600 * 3600  # an hour boundary, so buckets are predictable


def get(client: Any, path: str, headers: dict[str, str] | None = None, **params: Any) -> Any:
    return client.get(API + path, headers=headers or ADMIN, params=params)


def rfc(at: int) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat()


@pytest.fixture
def uid(runtime: Runtime, admin: Actor) -> str:
    services = runtime.services
    cid = factories.computer(services, admin, "mon-host")
    rows = [
        (
            cid,
            NOW - n * 60,
            m.Measurement(
                cpu_usage_percent=float(n % 100),
                memory_usage_percent=50.0,
                io_usage_percent=1.0,
                net_lan_in=1000.0,
                net_lan_out=500.0,
                net_lan_mbit=1.0,
                mountpoints=[m.Mountpoint(path="/", total_bytes=1000, free_bytes=400)],
                processes=[m.ProcessSample(pid=1, name="init", cpu_percent=0.5)],
            ),
        )
        for n in range(180)  # three hours, one a minute, newest at NOW
    ]
    services.monitoring.intake_many(rows)
    return services.computers.get(admin, cid).summary.uid


def test_metrics_default_is_the_newest_one(client: Any, uid: str) -> None:
    r = get(client, f"/clients/{uid}/metrics")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["meta"] == {"count": 180}
    assert body["data"] == [
        {
            "timestamp": rfc(NOW).replace("+00:00", "Z"),
            "cpu_usage_percent": 0.0,
            "memory_usage_percent": 50.0,
            "io_usage_percent": 1.0,
        }
    ]


def test_metrics_filters_sort_fields_and_pages(client: Any, uid: str) -> None:
    r = get(
        client,
        f"/clients/{uid}/metrics",
        **{
            "filter[timestamp][gt]": NOW - 300,
            "filter[timestamp][lt]": NOW,
            "sort": "timestamp",
            "page[limit]": 120,
            "fields[metrics]": "cpu_usage_percent,net_lan",
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["meta"]["count"] == 4
    assert r.json()["data"] == [
        {"cpu_usage_percent": float(n), "net_lan": {"in": 1000.0, "out": 500.0}} for n in (4, 3, 2, 1)
    ]
    since = get(
        client,
        f"/clients/{uid}/metrics",
        **{
            "filter[timestamp][since]": rfc(NOW - 120),
            "filter[timestamp][until]": rfc(NOW),
            "page[limit]": 10,
        },
    )
    assert [d["cpu_usage_percent"] for d in since.json()["data"]] == [0.0, 1.0, 2.0]


def test_mountpoints_and_processes(client: Any, uid: str) -> None:
    mounts = get(client, f"/clients/{uid}/mountpoints").json()
    assert mounts["data"][0]["mountpoints"] == {"free_b_/": 400, "total_b_/": 1000}
    procs = get(client, f"/clients/{uid}/processes", **{"page[limit]": 10}).json()
    assert len(procs["data"]) == 10 and procs["meta"]["count"] == 180
    assert procs["data"][0]["processes"][0]["name"] == "init"


@pytest.mark.parametrize(
    ("path", "params", "message"),
    [
        ("metrics", {"sort": "cpu_usage_percent"}, "unsupported sort field"),
        ("metrics", {"filter[cpu_usage_percent]": "1"}, "unsupported filter field"),
        ("metrics", {"filter[timestamp][gt]": "yesterday"}, "unix seconds"),
        ("metrics", {"filter[timestamp][since]": "1636009200"}, "RFC3339"),
        ("metrics", {"filter[timestamp]": "1636009200"}, "needs an operator"),
        ("metrics", {"page[limit]": "121"}, "pagination limit too big"),
        ("mountpoints", {"page[limit]": "101"}, "pagination limit too big"),
        ("processes", {"page[limit]": "11"}, "pagination limit too big"),
        ("graph-metrics", {}, "exactly two timestamp filters"),
        (
            "graph-metrics",
            {"filter[timestamp][gt]": "1", "filter[timestamp][until]": rfc(NOW)},
            "exactly two",
        ),
        ("graph-metrics", {"filter[timestamp][gt]": NOW - HOUR, "filter[timestamp][lt]": NOW}, "2 and 48"),
        (
            "graph-metrics",
            {"filter[timestamp][gt]": NOW - 49 * HOUR, "filter[timestamp][lt]": NOW},
            "2 and 48",
        ),
        ("graph-metrics/nope", {}, "unsupported graph name"),
    ],
)
def test_bad_input_is_400(client: Any, uid: str, path: str, params: dict[str, Any], message: str) -> None:
    r = get(client, f"/clients/{uid}/{path}", **params)
    assert r.status_code == 400, r.text
    error = r.json()["errors"][0]
    assert message in error["title"] + error["detail"], error


def test_graph_metrics_downsample(client: Any, uid: str) -> None:
    window = {"filter[timestamp][gt]": NOW - 2 * HOUR, "filter[timestamp][lt]": NOW}
    r = get(client, f"/clients/{uid}/graph-metrics", **window)
    assert r.status_code == 200, r.text
    body = r.json()
    size = bucket_seconds(2 * HOUR)
    assert len(body["data"]) == len({at // size for at in range(NOW - 2 * HOUR, NOW + 1, 60)})
    newest = body["data"][0]
    assert set(newest) == {"timestamp", "cpu_usage_percent", "memory_usage_percent", "io_usage_percent"}
    assert newest["memory_usage_percent"] == {"avg": 50.0, "min": 50.0, "max": 50.0}
    assert body["links"]["net_usage_bps_lan"].startswith(
        f"{API}/clients/{uid}/graph-metrics/net_usage_bps_lan?"
    )
    assert len(body["links"]) == 7
    ascending = get(client, f"/clients/{uid}/graph-metrics", sort="timestamp", **window).json()["data"]
    assert ascending == list(reversed(body["data"]))
    net = get(client, f"/clients/{uid}/graph-metrics/net_usage_percent_lan", **window).json()["data"]
    assert net[0]["net_usage_percent_lan"]["in_avg"] == 0.8  # 1000 B/s of a 1 Mbit/s card
    mem = get(client, f"/clients/{uid}/graph-metrics/mem_usage_percent", **window).json()["data"]
    assert mem[0]["memory_usage_percent"]["avg"] == 50.0
    since = {"filter[timestamp][since]": rfc(NOW - 48 * HOUR), "filter[timestamp][until]": rfc(NOW)}
    assert get(client, f"/clients/{uid}/graph-metrics", **since).status_code == 200


def test_unknown_client_disabled_monitoring_and_no_permission(
    client: Any, uid: str, runtime: Runtime, admin: Actor, as_admin: dict[str, str]
) -> None:
    assert get(client, "/clients/nope/metrics").status_code == 404
    viewer = user(client, as_admin, "viewer1", [])
    r = get(client, f"/clients/{uid}/metrics", headers=viewer)
    assert r.status_code in (403, 404), r.text  # rportd: a client the user may not reach is 404
    runtime.services.settings.set(admin, "monitoring.enabled", False)
    r = get(client, f"/clients/{uid}/metrics")
    assert r.status_code == 404 and r.json()["errors"][0]["title"] == "monitoring disabled"


def test_lists_run_constant_statements(client: Any, uid: str, runtime: Runtime) -> None:
    def statements(path: str, limit: int) -> int:
        get(client, path, **{"page[limit]": limit})  # warm: settings read
        with counting(runtime.db) as seen:
            assert get(client, path, **{"page[limit]": limit}).status_code == 200
        return len([s for s in seen if "measurements" in s or "FROM computers" in s])

    for path, big in (("metrics", 120), ("mountpoints", 100), ("processes", 10)):
        one = statements(f"/clients/{uid}/{path}", 1)
        assert one == statements(f"/clients/{uid}/{path}", big) == 3  # the client, the count, the page
