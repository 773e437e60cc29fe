"""Monitoring in core (``core.monitoring``): intake bounds and refusals, lists with time
conditions, graph downsampling in SQL (bucket math, avg/min/max, the 2..48 h window), the
retention purge under its housekeeping duty, the server-wide switch, and who may read. Real
database (SQLite, or PostgreSQL with FLEETDECK_TEST_DB=postgres), a clock the test moves."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from fleetdeck.core import query as q
from fleetdeck.core.authz import Actor, Role, system_actor
from fleetdeck.core.enrollment.service import agent_actor
from fleetdeck.core.errors import FeatureDisabled, NotFound, PermissionDenied, ValidationFailed
from fleetdeck.core.housekeeping import Housekeeping, standard_duties
from fleetdeck.core.monitoring.service import (
    MAX_PROCESSES,
    MeasurementInfo,
    bucket_seconds,
)
from fleetdeck.core.services import Services
from fleetdeck.protocol import messages as m
from tests import factories
from tests.factories import ManualClock
from tests.unit.core.conftest import T0

HOUR = 3600


@pytest.fixture
def admin(svc: Services) -> Actor:
    return factories.user(svc, Role.ADMIN)


@pytest.fixture
def cid(svc: Services, admin: Actor) -> int:
    return factories.computer(svc, admin, "mon-1")


def sample(cpu: float = 10.0, mem: float = 20.0, **kw: object) -> m.Measurement:
    return m.Measurement(cpu_usage_percent=cpu, memory_usage_percent=mem, **kw)  # type: ignore[arg-type]


def at(svc: Services, rows: list[tuple[int, int, m.Measurement]]) -> None:
    assert svc.monitoring.intake_many(rows) == len(rows)


# ------------------------------------------------------------------ intake


def test_intake_stores_one_row_stamped_by_the_server(svc: Services, admin: Actor, cid: int) -> None:
    agent = agent_actor(cid, "mon-1", "127.0.0.1")
    procs = [m.ProcessSample(pid=n, name="p" * 500, cmdline="c" * 5000) for n in range(100)]
    mounts = [m.Mountpoint(path=f"/m{n}", total_bytes=100, free_bytes=40) for n in range(100)]
    info = svc.monitoring.intake(
        agent, cid, sample(io_usage_percent=3.5, net_lan_in=1000.0, processes=procs, mountpoints=mounts)
    )
    assert info is not None and info.taken_at == int(T0.timestamp())
    page = svc.monitoring.find(admin, cid, q.Query())
    assert page.total == 1
    row = page.items[0]
    assert (row.cpu_usage_percent, row.memory_usage_percent, row.io_usage_percent) == (10.0, 20.0, 3.5)
    assert row.net_lan_in == 1000.0 and row.net_wan_in is None
    assert len(row.processes) == MAX_PROCESSES
    assert len(row.processes[0]["name"]) == 255 and len(row.processes[0]["cmdline"]) == 1024
    assert len(row.mountpoints) == 64
    assert row.mountpoints["/m0"] == {"total_bytes": 100, "free_bytes": 40}


@pytest.mark.parametrize(
    "bad",
    [
        sample(cpu=101.0),
        sample(mem=-1.0),
        sample(cpu=float("nan")),
        sample(io_usage_percent=float("inf")),
        sample(net_lan_in=-5.0),
        sample(net_wan_out=1e18),
    ],
)
def test_intake_refuses_values_out_of_range(
    svc: Services, admin: Actor, cid: int, bad: m.Measurement
) -> None:
    with pytest.raises(ValidationFailed):
        svc.monitoring.intake(agent_actor(cid, "mon-1", "127.0.0.1"), cid, bad)
    assert svc.monitoring.find(admin, cid, q.Query()).total == 0


@pytest.mark.parametrize(
    ("bad", "field", "message"),
    [
        (
            sample(cpu=101.0),
            "cpu_usage_percent",
            "cpu_usage_percent must be a percentage (0..100), not 101.0",
        ),
        (
            sample(mem=-1.0),
            "memory_usage_percent",
            "memory_usage_percent must be a percentage (0..100), not -1.0",
        ),
        (
            sample(io_usage_percent=float("inf")),
            "io_usage_percent",
            "io_usage_percent must be a percentage (0..100), not inf",
        ),
        (sample(net_lan_in=-5.0), "net_lan_in", "net_lan_in must be a rate of 0 or more, not -5.0"),
        (sample(net_wan_out=1e18), "net_wan_out", "net_wan_out must be a rate of 0 or more, not 1e+18"),
        (sample(net_wan_in=float("nan")), "net_wan_in", "net_wan_in must be a rate of 0 or more, not nan"),
    ],
)
def test_a_refused_percentage_or_rate_names_its_field_and_value(
    svc: Services, cid: int, bad: m.Measurement, field: str, message: str
) -> None:
    """The refusal of a percentage or a network rate out of range names the measurement's
    field (as the agent sends it) and the value, word for word, so an agent's author can find
    what was wrong."""
    with pytest.raises(ValidationFailed) as err:
        svc.monitoring.intake(agent_actor(cid, "mon-1", "127.0.0.1"), cid, bad)
    assert (err.value.field, err.value.message) == (field, message)


def test_a_user_needs_manage_computers_to_hand_in_measurements(svc: Services, cid: int) -> None:
    with pytest.raises(PermissionDenied):
        svc.monitoring.intake(factories.user(svc, Role.VIEWER), cid, sample())
    assert svc.monitoring.intake(factories.user(svc, Role.OPERATOR), cid, sample()) is not None


def test_intake_hooks_hear_each_stored_measurement(svc: Services, cid: int) -> None:
    heard: list[tuple[int, MeasurementInfo]] = []
    svc.monitoring.intake_hooks.append(lambda c, info: heard.append((c, info)))
    svc.monitoring.intake(system_actor(), cid, sample(cpu=42.0))
    assert [(c, i.cpu_usage_percent) for c, i in heard] == [(cid, 42.0)]


# ------------------------------------------------------------------ lists


def test_lists_filter_and_sort_by_time(svc: Services, admin: Actor, cid: int) -> None:
    t0 = int(T0.timestamp())
    at(svc, [(cid, t0 + n * 60, sample(cpu=float(n))) for n in range(10)])
    newest = svc.monitoring.find(admin, cid, q.Query(limit=3))
    assert newest.total == 10 and [i.cpu_usage_percent for i in newest.items] == [9.0, 8.0, 7.0]
    window = q.Query(
        where=(q.Cond("taken_at", q.Op.GT, t0 + 120), q.Cond("taken_at", q.Op.LE, t0 + 300)),
        sort=(q.SortKey("taken_at"),),
    )
    page = svc.monitoring.find(admin, cid, window)
    assert page.total == 3 and [i.cpu_usage_percent for i in page.items] == [3.0, 4.0, 5.0]


def test_reads_need_the_monitoring_permission_and_a_reachable_computer(
    svc: Services, admin: Actor, cid: int
) -> None:
    viewer = factories.user(svc, Role.VIEWER)
    with pytest.raises(PermissionDenied):
        svc.monitoring.find(viewer, cid, q.Query())
    with pytest.raises(NotFound):
        svc.monitoring.find(admin, cid + 1000, q.Query())
    with pytest.raises(NotFound):
        svc.monitoring.find(admin, "no-such-uid", q.Query())
    operator = factories.user(svc, Role.OPERATOR)
    assert svc.monitoring.find(operator, cid, q.Query()).total == 0


# ------------------------------------------------------------------ graphs


def test_bucket_is_window_hours_times_29_seconds() -> None:
    assert bucket_seconds(2 * HOUR) == 58
    assert bucket_seconds(24 * HOUR) == 696
    assert bucket_seconds(48 * HOUR) == 1392


def test_graph_downsamples_avg_min_max_per_bucket(svc: Services, admin: Actor, cid: int) -> None:
    size = bucket_seconds(2 * HOUR)  # 58 s
    start = (int(T0.timestamp()) // size) * size  # a bucket boundary
    rows = [
        (cid, start + 1, sample(cpu=10.0, mem=50.0, io_usage_percent=1.0)),
        (cid, start + 20, sample(cpu=20.0, mem=50.0)),
        (cid, start + 57, sample(cpu=33.333, mem=51.0, io_usage_percent=3.0)),
        (cid, start + size, sample(cpu=90.0, mem=10.0, net_lan_in=125_000.0, net_lan_mbit=10.0)),
        (cid, start + 3 * HOUR, sample(cpu=99.0)),  # outside the window
    ]
    at(svc, rows)
    points = svc.monitoring.graph(admin, cid, start, start + 2 * HOUR, descending=False)
    assert [p.timestamp for p in points] == [start, start + size]
    first = points[0].values
    assert (first["cpu_usage_percent"].avg, first["cpu_usage_percent"].min) == (21.11, 10.0)
    assert first["cpu_usage_percent"].max == pytest.approx(33.333)
    assert first["memory_usage_percent"].avg == 50.33
    assert (first["io_usage_percent"].avg, first["io_usage_percent"].max) == (2.0, 3.0)  # nulls skipped
    net = svc.monitoring.graph(
        admin, cid, start, start + 2 * HOUR, ("net_lan_in", "net_lan_in%"), descending=True
    )
    assert net[0].timestamp == start + size
    assert net[0].values["net_lan_in"].avg == 125_000.0
    assert net[0].values["net_lan_in%"].avg == 10.0  # 125,000 B/s of a 10 Mbit/s card
    assert net[1].values["net_lan_in%"].avg is None  # no speed known


@pytest.mark.parametrize("hours", [1.99, 48.01, 0, -3])
def test_graph_window_is_2_to_48_hours(svc: Services, admin: Actor, cid: int, hours: float) -> None:
    t0 = int(T0.timestamp())
    with pytest.raises(ValidationFailed):
        svc.monitoring.graph(admin, cid, t0, t0 + int(hours * HOUR))


@pytest.mark.parametrize("hours", [2, 48])
def test_graph_window_bounds_are_inclusive(svc: Services, admin: Actor, cid: int, hours: int) -> None:
    t0 = int(T0.timestamp())
    at(svc, [(cid, t0, sample())])
    assert len(svc.monitoring.graph(admin, cid, t0, t0 + hours * HOUR)) == 1


# ------------------------------------------------------------------ switch and retention


def test_disabled_monitoring_drops_intake_and_refuses_reads(svc: Services, admin: Actor, cid: int) -> None:
    assert svc.monitoring.agent_interval() == 60.0
    svc.settings.set(admin, "monitoring.enabled", False)
    assert svc.monitoring.agent_interval() == 0.0
    assert svc.monitoring.intake(agent_actor(cid, "mon-1", "127.0.0.1"), cid, sample()) is None
    with pytest.raises(FeatureDisabled):
        svc.monitoring.find(admin, cid, q.Query())
    t0 = int(T0.timestamp())
    with pytest.raises(FeatureDisabled):
        svc.monitoring.graph(admin, cid, t0, t0 + 2 * HOUR)
    svc.settings.set(admin, "monitoring.enabled", True)
    svc.settings.set(admin, "monitoring.interval_sec", 0)
    assert svc.monitoring.agent_interval() == 0.0


def test_retention_duty_purges_old_measurements(
    svc: Services, admin: Actor, cid: int, clock: ManualClock
) -> None:
    t0 = int(T0.timestamp())
    at(svc, [(cid, t0 - 8 * 86_400, sample()), (cid, t0 - 6 * 86_400, sample()), (cid, t0, sample())])
    duty = next(d for d in standard_duties(svc) if d.name == "monitoring.purge")
    keeper = Housekeeping(svc.leases, [duty], "test-holder")
    assert asyncio.run(keeper.run_once(duty))
    assert keeper.runs["monitoring.purge"] == 1
    assert svc.monitoring.find(admin, cid, q.Query()).total == 2
    svc.settings.set(admin, "monitoring.retention_sec", 3600)
    clock.now = T0 + timedelta(hours=1, seconds=1)
    assert svc.monitoring.purge() == 2
    assert svc.monitoring.find(admin, cid, q.Query()).total == 0


def test_intake_batch_stores_many_drops_bad_ones_and_runs_hooks(
    svc: Services, admin: Actor, cid: int
) -> None:
    other = factories.computer(svc, admin, "mon-2")
    heard: list[int] = []
    svc.monitoring.intake_hooks.append(lambda c, info: heard.append(c))
    stored = svc.monitoring.intake_batch([(cid, sample()), (other, sample(cpu=500.0)), (other, sample())])
    assert stored == 2 and heard == [cid, other]
    assert svc.monitoring.find(admin, other, q.Query()).items[0].taken_at == int(T0.timestamp())
    svc.settings.set(admin, "monitoring.enabled", False)
    assert svc.monitoring.intake_batch([(cid, sample())]) == 0
