"""Deployments: target resolution, per-computer planning, delivery conditions, results,
sequence-mode abort, container status, and deployment rule re-evaluation."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.deployments.entities import ContainerStatus, PackageAction
from fleetdeck.core.errors import FleetdeckError, Reason, ValidationFailed
from fleetdeck.core.jobs.entities import CommandRequest, JobStatus
from fleetdeck.core.packages.entities import DependencyRule, PackageFields, PayloadFile
from fleetdeck.core.query import Cond, Op, Query
from fleetdeck.core.services import CoreConfig, Services, build_services
from fleetdeck.core.settings.configs import Config
from fleetdeck.protocol import messages as m
from fleetdeck.settings import Settings
from tests import factories
from tests.conftest import SECRET
from tests.factories import ManualClock as Clock

ADMIN = Actor(user_id=None, username="alice", role=Role.ADMIN, via="test")
T0 = datetime(2025, 1, 6, 10, 30, tzinfo=UTC)  # a Monday


Notifier = factories.RecordingNotifier


class Waker:
    def __init__(self) -> None:
        self.woken: list[list[int]] = []

    def wake(self, computer_ids: Sequence[int]) -> int:
        self.woken.append(list(computer_ids))
        return len(computer_ids)


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def notifier() -> Notifier:
    return Notifier()


@pytest.fixture
def waker() -> Waker:
    return Waker()


@pytest.fixture
def svc(runtime: Runtime, settings: Settings, clock: Clock, notifier: Notifier, waker: Waker) -> Services:
    return build_services(
        runtime.db,
        SECRET,
        CoreConfig(payload_dir=settings.data_dir / "payloads"),
        clock=clock,
        notifier=notifier,
        waker=waker,
    )


def computer(svc: Services, name: str, os: str = "Debian", version: str = "12", arch: str = "x86_64") -> int:
    return factories.computer(svc, ADMIN, name, os=os, os_version=version, architecture=arch)


def package(svc: Services, family: str, version: str = "1", **kw: object) -> int:
    return factories.package(svc, ADMIN, family, version, **kw).id


def jobs_of(svc: Services, container_id: int) -> list[tuple[int, str, int, str, str]]:
    """(computer, kind, package, status, skip_reason) ordered by computer, sequence."""
    return [
        (j.computer_id, j.kind.removeprefix("package_"), j.package_id or 0, j.status.value, j.skip_reason)
        for j in svc.deployments.container_jobs(ADMIN, container_id)
    ]


def finish(svc: Services, cid: int, job_id: int, code: int = 0, status: str = "succeeded") -> None:
    factories.finish(svc, cid, job_id, status, code)


def claim(svc: Services, *cids: int, remote: str = "10.0.0.5") -> list[m.JobSpec]:
    return [spec for _, spec in svc.jobs.claim_for_delivery(list(cids), dict.fromkeys(cids, remote))]


# ------------------------------------------------------------------ targets and planning


def test_targets_unknown_ids_skipped_direct_members_dependencies_first(svc: Services) -> None:
    a, b, c = computer(svc, "a"), computer(svc, "b"), computer(svc, "c")
    group = svc.groups.create(ADMIN, "office")
    sub = svc.groups.create(ADMIN, "sub", parent_id=group.id)
    svc.groups.add_members(ADMIN, group.id, [b])
    svc.groups.add_members(ADMIN, sub.id, [c])  # subgroup members are not targets
    lib = package(svc, "lib")
    runtime = package(svc, "runtime")
    app = svc.packages.create(
        ADMIN, "app", "1", PackageFields(install_procedure="x"), depends_on=[runtime]
    ).id
    svc.packages.set_dependencies(ADMIN, runtime, [lib])
    svc.packages.set_dependencies(ADMIN, lib, [app])  # a cycle: cut, never endless
    created = svc.deployments.deploy(
        ADMIN, "roll out", computer_ids=[a, 999], computer_group_ids=[group.id, 998], package_ids=[app, 997]
    )
    jobs = svc.deployments.container_jobs(ADMIN, created.id)
    assert [(j.computer_id, j.package_id, j.sequence) for j in jobs] == [
        (a, lib, 1),
        (a, runtime, 2),
        (a, app, 3),
        (b, lib, 1),
        (b, runtime, 2),
        (b, app, 3),
    ]
    assert all(j.status is JobStatus.QUEUED for j in jobs)
    assert jobs[0].hostname == "a" and jobs[0].family_name == "lib" and jobs[0].version == "1"


def test_a_deployment_without_a_description_has_an_empty_one(svc: Services) -> None:
    """``deploy``'s description defaults to empty: the container is read back with ``""``,
    not some placeholder text, beside one deployed with a description."""
    pc, pkg = computer(svc, "pc"), package(svc, "tool")
    plain = svc.deployments.deploy(ADMIN, "plain", computer_ids=[pc], package_ids=[pkg])
    described = svc.deployments.deploy(
        ADMIN,
        "described",
        description="for the audit",
        computer_ids=[pc],
        package_ids=[pkg],
        force_same_version=True,
    )
    got = {c.id: (c.name, c.description) for c in svc.deployments.list_containers(ADMIN)}
    assert got == {plain.id: ("plain", ""), described.id: ("described", "for the audit")}


def test_incompatible_installed_forced_and_installed_dependencies(svc: Services) -> None:
    deb, win = computer(svc, "deb"), computer(svc, "win", os="Windows", version="11")
    only_deb = package(svc, "tool", compatible_os="Debian\nUbuntu", compatible_architecture="x86_64")
    dep = package(svc, "dep")
    app = svc.packages.create(ADMIN, "app", "1", PackageFields(install_procedure="x"), depends_on=[dep]).id
    svc.packages.assign_installation(ADMIN, deb, only_deb)
    svc.packages.assign_installation(ADMIN, deb, dep)
    created = svc.deployments.deploy(ADMIN, "d", computer_ids=[deb, win], package_ids=[only_deb, app])
    assert jobs_of(svc, created.id) == [
        (deb, "install", only_deb, "skipped", "already_installed"),
        (deb, "install", app, "queued", ""),  # dep: installed, added automatically -> no job
        (win, "install", only_deb, "skipped", "os_incompatible"),
        (win, "install", dep, "queued", ""),
        (win, "install", app, "queued", ""),
    ]
    states = [(j.status, j.skip_reason) for j in svc.deployments.container_jobs(ADMIN, created.id)]
    assert states == [
        (JobStatus.SKIPPED, "already_installed"),
        (JobStatus.QUEUED, ""),
        (JobStatus.SKIPPED, "os_incompatible"),
        (JobStatus.QUEUED, ""),
        (JobStatus.QUEUED, ""),
    ]
    forced = svc.deployments.deploy(
        ADMIN, "again", computer_ids=[deb], package_ids=[only_deb], force_same_version=True
    )
    assert jobs_of(svc, forced.id) == [(deb, "install", only_deb, "queued", "")]


def test_upgrade_behavior_2_uninstalls_other_versions_first(svc: Services) -> None:
    pc = computer(svc, "pc")
    old1, old2 = package(svc, "fam", "1"), package(svc, "fam", "2")
    new = package(svc, "fam", "3", upgrade_behavior=2)
    svc.packages.assign_installation(ADMIN, pc, old1)
    svc.packages.assign_installation(ADMIN, pc, old2)
    created = svc.deployments.deploy(ADMIN, "up", computer_ids=[pc], package_ids=[new])
    jobs = svc.deployments.container_jobs(ADMIN, created.id)
    assert [(j.kind, j.package_id, j.sequence) for j in jobs] == [
        ("package_uninstall", old1, 1),
        ("package_uninstall", old2, 2),
        ("package_install", new, 3),
    ]
    assert jobs[0].procedure == "remove fam 1" and jobs[2].procedure == "install fam 3"
    for j in jobs:
        finish(svc, pc, j.id)
    assert [i.package_id for i in svc.packages.list_installations(ADMIN, computer_id=pc)] == [new]


def test_upgrade_behavior_1_replaces_family_records_on_success(svc: Services) -> None:
    pc = computer(svc, "pc")
    old, other = package(svc, "fam", "1"), package(svc, "other")
    new = package(svc, "fam", "2", upgrade_behavior=1)
    svc.packages.assign_installation(ADMIN, pc, old)
    svc.packages.assign_installation(ADMIN, pc, other)
    created = svc.deployments.deploy(ADMIN, "up", computer_ids=[pc], package_ids=[new])
    assert [k for _, k, *_ in jobs_of(svc, created.id)] == ["install"]  # no uninstall jobs
    finish(svc, pc, created.job_ids[0])
    assert sorted(i.package_id for i in svc.packages.list_installations(ADMIN, computer_id=pc)) == sorted(
        [other, new]
    )


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"name": "  "}, Reason.NAME_EMPTY),
        ({"restart_timeout_min": 0}, Reason.REQUIRED_MISSING),
        ({"end": T0 - timedelta(minutes=1)}, Reason.END_BEFORE_START),
        ({"end": T0}, Reason.END_BEFORE_START),
        ({"sequence_mode": 2}, Reason.INVALID),
        ({"priority": 101}, Reason.INVALID),
        ({"agent_ip_ranges": ["10.0.0.0/33"]}, Reason.INVALID_IP_RANGE),
        ({"time_frames": ["MON 8:00"]}, Reason.INVALID_TIME_FRAME),
        ({"computer_ids": [999]}, Reason.NO_JOBS),
        ({"package_ids": []}, Reason.NO_JOBS),
    ],
)
def test_deploy_validation_reasons(svc: Services, kwargs: dict[str, object], reason: str) -> None:
    pc, pkg = computer(svc, "pc"), package(svc, "p")
    args: dict[str, object] = {"name": "d", "computer_ids": [pc], "package_ids": [pkg], **kwargs}
    with pytest.raises(FleetdeckError) as err:
        svc.deployments.deploy(ADMIN, **args)  # type: ignore[arg-type]
    assert err.value.detail["reason"] == reason
    if reason in (Reason.INVALID_IP_RANGE, Reason.INVALID_TIME_FRAME):
        assert not isinstance(err.value, ValidationFailed)  # OCO answers these with -32000


# ------------------------------------------------------------------ delivery


def test_start_end_expiry_and_priority_order(svc: Services, clock: Clock) -> None:
    pc = computer(svc, "pc")
    p1, p2, p3 = package(svc, "a"), package(svc, "b"), package(svc, "c")
    later = svc.deployments.deploy(
        ADMIN, "later", computer_ids=[pc], package_ids=[p1], start=T0 + timedelta(hours=1)
    )
    low = svc.deployments.deploy(ADMIN, "low", computer_ids=[pc], package_ids=[p2], priority=-5)
    high = svc.deployments.deploy(
        ADMIN, "high", computer_ids=[pc], package_ids=[p3], priority=50, end=T0 + timedelta(minutes=30)
    )
    assert svc.deployments.get_container(ADMIN, later.id).status is ContainerStatus.WAITING_FOR_START
    specs = claim(svc, pc)
    assert [s.params["package_id"] for s in specs] == [p3, p2]  # 'later' is held back
    assert specs[0].kind == "package_install" and specs[0].params["procedure"] == "install c 1"
    assert specs[0].params["download"] is False and specs[0].params["container_id"] == high.id
    assert low.id != high.id
    clock.now = T0 + timedelta(hours=1, seconds=1)
    assert [s.params["package_id"] for s in claim(svc, pc)] == [p1]
    expiring = svc.deployments.deploy(
        ADMIN,
        "exp",
        computer_ids=[pc],
        package_ids=[p1],
        force_same_version=True,
        end=clock.now + timedelta(minutes=5),
    )
    clock.now += timedelta(minutes=6)
    assert claim(svc, pc) == []
    info = svc.deployments.get_container(ADMIN, expiring.id)
    assert info.status is ContainerStatus.FAILED and info.counts == {"expired": 1}
    assert svc.deployments.container_jobs(ADMIN, expiring.id)[0].status is JobStatus.EXPIRED


def test_ip_ranges_and_time_frames_hold_jobs_back(svc: Services, clock: Clock) -> None:
    pc = computer(svc, "pc")
    pkg = package(svc, "p")
    svc.deployments.deploy(
        ADMIN, "net", computer_ids=[pc], package_ids=[pkg], agent_ip_ranges=["10.0.0.0/8", "!10.9.0.0/16"]
    )
    assert claim(svc, pc, remote="192.168.1.5") == []
    assert claim(svc, pc, remote="10.9.1.1") == []
    assert len(claim(svc, pc, remote="10.1.2.3")) == 1
    local = clock.now.astimezone()
    outside = f"{(local + timedelta(hours=1)):%H:%M}-{(local + timedelta(hours=2)):%H:%M}"
    inside = f"{(local - timedelta(minutes=5)):%H:%M}-{(local + timedelta(minutes=5)):%H:%M}"
    svc.deployments.deploy(
        ADMIN, "tf", computer_ids=[pc], package_ids=[pkg], force_same_version=True, time_frames=[outside]
    )
    assert claim(svc, pc) == []
    svc.deployments.deploy(
        ADMIN,
        "tf2",
        computer_ids=[pc],
        package_ids=[pkg],
        force_same_version=True,
        time_frames=[inside, f"!{local:%a} {outside}".upper()],
    )
    assert len(claim(svc, pc)) == 1


def test_wake_on_lan_now_and_at_start(svc: Services, clock: Clock, waker: Waker) -> None:
    pc = computer(svc, "pc")
    pkg = package(svc, "p")
    now = svc.deployments.deploy(
        ADMIN, "now", computer_ids=[pc], package_ids=[pkg], use_wol=True, shutdown_waked_after_completion=True
    )
    assert waker.woken == [[pc]]
    assert svc.deployments.get_container(ADMIN, now.id).wol_sent == 1
    assert svc.deployments.container_jobs(ADMIN, now.id)[0].post_action == 2  # pc is offline
    later = svc.deployments.deploy(
        ADMIN,
        "later",
        computer_ids=[pc],
        package_ids=[pkg],
        use_wol=True,
        force_same_version=True,
        start=T0 + timedelta(hours=1),
    )
    assert svc.deployments.get_container(ADMIN, later.id).wol_sent == 0
    assert svc.deployments.tick() == 0
    clock.now = T0 + timedelta(hours=1)
    assert svc.deployments.tick() == 1 and waker.woken[-1] == [pc]
    assert svc.deployments.get_container(ADMIN, later.id).wol_sent == 1
    plain = svc.deployments.deploy(
        ADMIN, "plain", computer_ids=[pc], package_ids=[pkg], force_same_version=True
    )
    assert svc.deployments.get_container(ADMIN, plain.id).wol_sent == -1


# ------------------------------------------------------------------ shutting down what a wake woke

EXPIRY = timedelta(seconds=300)  # setting wol.shutdown_expiry_sec, default


def online(svc: Services, *cids: int) -> None:
    """The agents of these computers connect now (the hub then claims their jobs at once)."""
    for cid in cids:
        svc.computers.set_online(cid, node_id="n1", remote_address="10.0.0.5", agent_version="1")


def woken(svc: Services, cids: list[int], pkgs: list[int], **kw: object) -> int:
    """A deployment that wakes ``cids`` now and shuts them down after completion."""
    return svc.deployments.deploy(
        ADMIN,
        "wake",
        computer_ids=cids,
        package_ids=pkgs,
        use_wol=True,
        shutdown_waked_after_completion=True,
        **kw,  # type: ignore[arg-type]
    ).id


def marks(svc: Services, container_id: int) -> list[tuple[int, int, int, datetime | None]]:
    """(computer, package, post action, wol_shutdown_set) in container order."""
    return [
        (j.computer_id, j.package_id or 0, j.post_action, j.wol_shutdown_set)
        for j in svc.deployments.container_jobs(ADMIN, container_id)
    ]


def job_ids(svc: Services, container_id: int) -> list[int]:
    return [j.id for j in svc.deployments.container_jobs(ADMIN, container_id)]


def test_wake_marks_the_last_job_of_offline_targets_only(svc: Services, waker: Waker) -> None:
    off, on = computer(svc, "off"), computer(svc, "on")
    online(svc, on)
    first, last = package(svc, "first"), package(svc, "last")
    cid = woken(svc, [off, on], [first, last])
    assert waker.woken == [[off, on]]
    assert marks(svc, cid) == [
        (off, first, 0, None),
        (off, last, 2, T0),  # offline at wake time: shut down after the last job
        (on, first, 0, None),
        (on, last, 0, None),  # online: somebody's running computer, untouched
    ]
    audit = svc.audit.find(ADMIN, Query(where=(Cond("action", Op.EQ, "deployment.wol_shutdown_set"),)))
    assert [(e.object_id, e.detail) for e in audit.items] == [(str(cid), {"jobs": [job_ids(svc, cid)[1]]})]


def test_wake_marks_the_last_of_jobs_with_the_same_sequence(svc: Services, waker: Waker) -> None:
    """An uninstall container's jobs all have sequence 0 and go out by id: the shutdown belongs
    on the highest id, or the computer would go down before the other uninstall ran."""
    off = computer(svc, "off")
    one, two = package(svc, "one"), package(svc, "two")
    first, second = (factories.installed(svc, ADMIN, off, p).id for p in (one, two))
    cid = svc.deployments.uninstall(
        ADMIN, "rm", installation_ids=[first, second], use_wol=True, shutdown_waked_after_completion=True
    ).id
    assert waker.woken == [[off]]
    assert marks(svc, cid) == [(off, one, 0, None), (off, two, 2, T0)]


def test_only_none_and_agent_restart_become_shutdown(svc: Services, clock: Clock) -> None:
    """OCO replaces post actions 0 (none) and 3 (restart the agent); a restart (1) or shutdown
    (2) the package asks for stays. A revert gives the replaced action back."""
    pcs = [computer(svc, f"pc{n}") for n in range(4)]
    by_action = [package(svc, f"p{n}", install_post_action=n) for n in range(4)]
    ids = [woken(svc, [pc], [pkg]) for pc, pkg in zip(pcs, by_action, strict=True)]
    assert [marks(svc, c)[0][2:] for c in ids] == [(2, T0), (1, None), (2, None), (2, T0)]
    clock.now = T0 + EXPIRY + timedelta(seconds=1)
    svc.deployments.tick()
    assert [marks(svc, c)[0][2:] for c in ids] == [(0, None), (1, None), (2, None), (3, None)]


def test_a_shutdown_the_tick_reverts_is_audited_as_decided(svc: Services, clock: Clock) -> None:
    """``_settle_wol_shutdowns`` (the tick's decision for computers that never came up) is
    audited as ``job.wol_shutdown_decided`` with what it reverted (mutant 31 garbled the
    action, so the decision could not be found by it)."""
    pc = computer(svc, "pc")
    cid = woken(svc, [pc], [package(svc, "p")])
    [job] = job_ids(svc, cid)
    clock.now = T0 + EXPIRY + timedelta(seconds=1)
    svc.deployments.tick()
    audit = svc.audit.find(ADMIN, Query(where=(Cond("action", Op.EQ, "job.wol_shutdown_decided"),)))
    assert [(e.object_type, e.detail) for e in audit.items] == [("job", {"kept": [], "reverted": [job]})]


def test_connecting_within_the_expiry_keeps_the_shutdown(svc: Services, clock: Clock) -> None:
    pc = computer(svc, "pc")
    cid = woken(svc, [pc], [package(svc, "p")])
    clock.now = T0 + timedelta(minutes=2)  # the packet worked: the agent connects
    online(svc, pc)
    [spec] = claim(svc, pc)
    assert spec.params["post_action"] == 2
    assert marks(svc, cid)[0][2:] == (2, None)  # decided for good
    clock.now = T0 + timedelta(hours=1)
    svc.deployments.tick()
    assert marks(svc, cid)[0][2:] == (2, None)
    audit = svc.audit.find(ADMIN, Query(where=(Cond("action", Op.EQ, "job.wol_shutdown_decided"),)))
    assert [e.detail for e in audit.items] == [{"kept": [spec.id], "reverted": []}]


def test_seen_within_the_expiry_keeps_the_shutdown_of_held_back_jobs(svc: Services, clock: Clock) -> None:
    """A job the agent does not get yet (time frames) is decided by the tick, from last_seen."""
    pc = computer(svc, "pc")
    local = T0.astimezone()
    later = f"{(local + timedelta(hours=2)):%H:%M}-{(local + timedelta(hours=3)):%H:%M}"
    cid = woken(svc, [pc], [package(svc, "p")], time_frames=[later])
    clock.now = T0 + timedelta(minutes=3)
    online(svc, pc)
    svc.computers.set_offline([pc], node_id="n1")  # and gone again before the tick
    clock.now = T0 + EXPIRY + timedelta(minutes=1)
    svc.deployments.tick()
    assert marks(svc, cid)[0][2:] == (2, None)


def test_not_online_by_the_expiry_reverts_the_shutdown(svc: Services, clock: Clock) -> None:
    pc = computer(svc, "pc")
    cid = woken(svc, [pc], [package(svc, "p")])
    clock.now = T0 + EXPIRY  # not yet: the expiry itself still counts as in time
    svc.deployments.tick()
    assert marks(svc, cid)[0][2:] == (2, T0)
    clock.now = T0 + EXPIRY + timedelta(seconds=1)
    svc.deployments.tick()
    assert marks(svc, cid)[0][2:] == (0, None)
    clock.now = T0 + timedelta(hours=2)  # switched on by hand in the morning
    online(svc, pc)
    assert claim(svc, pc)[0].params["post_action"] == 0


def test_an_agent_connecting_exactly_at_the_expiry_keeps_the_shutdown(svc: Services, clock: Clock) -> None:
    """The expiry itself counts as in time for the connection as for the tick (mutation sample
    of seed 20261204: ``wol_shutdown.on_connected`` 16 made it too late)."""
    pc = computer(svc, "pc")
    cid = woken(svc, [pc], [package(svc, "p")])
    clock.now = T0 + EXPIRY
    online(svc, pc)
    assert claim(svc, pc)[0].params["post_action"] == 2
    assert marks(svc, cid)[0][2:] == (2, None)


def test_switched_on_after_the_expiry_before_the_tick_is_not_shut_down(svc: Services, clock: Clock) -> None:
    """The agent connects before the periodic tick has reverted: delivery decides first."""
    pc = computer(svc, "pc")
    cid = woken(svc, [pc], [package(svc, "p", install_post_action=3)])
    clock.now = T0 + EXPIRY + timedelta(seconds=5)
    online(svc, pc)
    assert claim(svc, pc)[0].params["post_action"] == 3
    assert marks(svc, cid)[0][2:] == (3, None)


def test_the_expiry_is_a_setting(svc: Services, clock: Clock) -> None:
    svc.settings.set(ADMIN, "wol.shutdown_expiry_sec", 60)
    pc = computer(svc, "pc")
    cid = woken(svc, [pc], [package(svc, "p")])
    clock.now = T0 + timedelta(seconds=90)
    svc.deployments.tick()
    assert marks(svc, cid)[0][2:] == (0, None)
    with pytest.raises(ValidationFailed):
        svc.settings.set(ADMIN, "wol.shutdown_expiry_sec", 0)


# ------------------------------------------------------------------ results


def test_success_codes_installations_and_status(svc: Services, notifier: Notifier) -> None:
    pc = computer(svc, "pc")
    pkg = package(svc, "p", install_success_codes="0, 3010", uninstall_success_codes="")
    created = svc.deployments.deploy(ADMIN, "d", computer_ids=[pc], package_ids=[pkg])
    assert notifier.queued[-1] == [pc]
    claim(svc, pc)
    svc.jobs.record_updates(
        [
            (
                pc,
                m.JobUpdate(
                    job_id=created.job_ids[0], status="running", at=time.time(), phase="download", progress=40
                ),
            )
        ]
    )
    job = svc.deployments.container_jobs(ADMIN, created.id)[0]
    assert (job.status, job.phase, job.progress) == (JobStatus.RUNNING, "download", 40)
    assert svc.deployments.get_container(ADMIN, created.id).status is ContainerStatus.IN_PROGRESS
    finish(svc, pc, created.job_ids[0], code=3010)
    info = svc.deployments.get_container(ADMIN, created.id)
    assert info.status is ContainerStatus.SUCCEEDED and info.execution_finished is not None
    [inst] = svc.packages.list_installations(ADMIN, computer_id=pc)
    assert inst.package_id == pkg and inst.job_id == created.job_ids[0]
    bad = svc.deployments.deploy(
        ADMIN, "again", computer_ids=[pc], package_ids=[pkg], force_same_version=True
    )
    finish(svc, pc, bad.job_ids[0], code=1)  # the agent said succeeded; 1 is not a success code
    assert svc.deployments.container_jobs(ADMIN, bad.id)[0].status is JobStatus.FAILED
    assert svc.deployments.get_container(ADMIN, bad.id).status is ContainerStatus.FAILED
    gone = svc.deployments.uninstall(ADMIN, "rm", installation_ids=[inst.id, 12345])
    assert [j.sequence for j in svc.deployments.container_jobs(ADMIN, gone.id)] == [0]
    finish(svc, pc, gone.job_ids[0], code=77)  # empty success list: any code is fine
    assert svc.packages.list_installations(ADMIN, computer_id=pc) == []
    with pytest.raises(ValidationFailed) as err:
        svc.deployments.uninstall(ADMIN, "rm", installation_ids=[inst.id])
    assert err.value.detail["reason"] == Reason.NO_JOBS


def test_sequence_mode_1_aborts_the_rest_on_all_computers(svc: Services, notifier: Notifier) -> None:
    a, b = computer(svc, "a"), computer(svc, "b")
    p1, p2 = package(svc, "one"), package(svc, "two")
    created = svc.deployments.deploy(ADMIN, "d", computer_ids=[a, b], package_ids=[p1, p2], sequence_mode=1)
    sent = claim(svc, b)  # b's jobs are at its agent already
    jobs = svc.deployments.container_jobs(ADMIN, created.id)
    finish(svc, a, jobs[0].id, code=1, status="failed")
    after = {
        (j.computer_id, j.package_id): (j.status, j.exit_code, j.message)
        for j in svc.deployments.container_jobs(ADMIN, created.id)
    }
    assert after[(a, p1)][0] is JobStatus.FAILED and after[(a, p1)][1] == 1
    for key in ((a, p2), (b, p1), (b, p2)):
        assert after[key] == (JobStatus.FAILED, -8888, "aborted after failed job")
    assert sorted(notifier.cancelled) == sorted((b, s.id) for s in sent)
    ignore = svc.deployments.deploy(
        ADMIN, "d0", computer_ids=[a, b], package_ids=[p1, p2], force_same_version=True
    )
    first = svc.deployments.container_jobs(ADMIN, ignore.id)[0]
    finish(svc, first.computer_id, first.id, code=1, status="failed")
    statuses = [j.status for j in svc.deployments.container_jobs(ADMIN, ignore.id)]
    assert statuses.count(JobStatus.QUEUED) == 3


def test_remove_container_and_job(svc: Services, notifier: Notifier) -> None:
    pc = computer(svc, "pc")
    created = svc.deployments.deploy(
        ADMIN, "d", computer_ids=[pc], package_ids=[package(svc, "a"), package(svc, "b")]
    )
    claim(svc, pc)
    svc.deployments.remove_job(ADMIN, created.job_ids[0])
    assert len(svc.deployments.container_jobs(ADMIN, created.id)) == 1
    svc.deployments.remove_container(ADMIN, created.id)
    assert [c.id for c in svc.deployments.list_containers(ADMIN)] == []
    assert sorted(notifier.cancelled) == [(pc, created.job_ids[0]), (pc, created.job_ids[1])]


# ------------------------------------------------------------------ rules


def rule_jobs(svc: Services, rule_id: int) -> list[tuple[int, int, str, str]]:
    return [
        (j.computer_id, j.package_id or 0, j.kind.removeprefix("package_"), j.status.value)
        for j in svc.deployments.rule_jobs(ADMIN, rule_id)
    ]


def test_rule_follows_group_membership_and_installations(svc: Services, notifier: Notifier) -> None:
    a, b = computer(svc, "a"), computer(svc, "b", os="Windows")
    pcs = svc.groups.create(ADMIN, "pcs")
    pkgs = svc.packages.create_group(ADMIN, "base")
    p1 = package(svc, "one")
    p2 = package(svc, "two", compatible_os="Debian")
    svc.packages.add_to_group(ADMIN, pkgs.id, p1)
    svc.groups.add_members(ADMIN, pcs.id, [a])
    rule = svc.deployments.create_rule(ADMIN, "keep base", pcs.id, pkgs.id, priority=3)
    assert rule_jobs(svc, rule.id) == [(a, p1, "install", "queued")]
    svc.packages.add_to_group(ADMIN, pkgs.id, p2)
    notifier.queued.clear()
    svc.groups.add_members(ADMIN, pcs.id, [b])  # joins later: gets jobs at once
    assert notifier.queued == [[b]]
    assert rule_jobs(svc, rule.id) == [
        (a, p1, "install", "queued"),
        (a, p2, "install", "queued"),
        (b, p1, "install", "queued"),
        (b, p2, "install", "skipped"),
    ]
    [spec] = [s for s in claim(svc, b)]
    assert spec.params["container_id"] == rule.container_id and spec.params["sequence_mode"] == 0
    finish(svc, b, spec.id)
    assert (b, p1, "install", "succeeded") in rule_jobs(svc, rule.id)  # kept, not turned into skipped
    inst = svc.packages.list_installations(ADMIN, computer_id=b)[0]
    svc.packages.remove_installation(ADMIN, inst.id)
    assert (b, p1, "install", "queued") in rule_jobs(svc, rule.id)  # record gone: install again
    failed = claim(svc, a)[0]
    finish(svc, a, failed.id, code=1, status="failed")
    svc.groups.add_members(ADMIN, pcs.id, [a])  # no change; a failed job is not retried by itself
    svc.packages.add_to_group(ADMIN, pkgs.id, p1)
    assert (a, p1, "install", "failed") in rule_jobs(svc, rule.id)
    svc.packages.remove_from_group(ADMIN, pkgs.id, p2)
    svc.groups.remove_members(ADMIN, pcs.id, [b])
    assert rule_jobs(svc, rule.id) == [(a, p1, "install", "failed")]


def test_a_rule_job_that_stays_skipped_is_not_announced(svc: Services, notifier: Notifier) -> None:
    """Re-evaluating a rule whose job for a computer is skipped (the package does not fit its
    OS) leaves it skipped and tells the agent's hub nothing: there is nothing to fetch."""
    pc = computer(svc, "pc", os="Windows")
    pcs = svc.groups.create(ADMIN, "pcs")
    svc.groups.add_members(ADMIN, pcs.id, [pc])
    pkgs = svc.packages.create_group(ADMIN, "base")
    svc.packages.add_to_group(ADMIN, pkgs.id, package(svc, "tool", compatible_os="Debian"))
    rule = svc.deployments.create_rule(ADMIN, "keep", pcs.id, pkgs.id)
    assert [s for *_, s in rule_jobs(svc, rule.id)] == ["skipped"]
    notifier.queued.clear()
    svc.groups.add_members(ADMIN, pcs.id, [pc])  # re-evaluated
    svc.deployments.update_rule(ADMIN, rule.id, priority=2)
    assert [s for *_, s in rule_jobs(svc, rule.id)] == ["skipped"]
    assert notifier.queued == []


def test_disabled_rules_deliver_nothing_and_rules_can_be_deleted(svc: Services) -> None:
    a = computer(svc, "a")
    pcs = svc.groups.create(ADMIN, "pcs")
    svc.groups.add_members(ADMIN, pcs.id, [a])
    pkgs = svc.packages.create_group(ADMIN, "base")
    svc.packages.add_to_group(ADMIN, pkgs.id, package(svc, "one"))
    rule = svc.deployments.create_rule(ADMIN, "r", pcs.id, pkgs.id, enabled=False)
    assert claim(svc, a) == []
    svc.deployments.update_rule(ADMIN, rule.id, enabled=True)
    assert len(claim(svc, a)) == 1
    assert svc.deployments.list_rules(ADMIN)[0].counts == {"sent": 1}
    svc.deployments.delete_rule(ADMIN, rule.id)
    assert svc.deployments.list_rules(ADMIN) == []
    with pytest.raises(ValidationFailed):
        svc.deployments.create_rule(ADMIN, "", pcs.id, pkgs.id)


def test_a_rules_deletion_is_audited_with_its_name(svc: Services) -> None:
    """``deployment_rule.delete`` records the deleted rule's name (the rule itself is gone, so
    the audit row is the only place left that says which rule it was); deleting an unknown
    rule is audited as not found, with the refusal."""
    pcs = svc.groups.create(ADMIN, "pcs")
    pkgs = svc.packages.create_group(ADMIN, "base")
    rule = svc.deployments.create_rule(ADMIN, "nightly base", pcs.id, pkgs.id)
    mark = factories.audit_mark(svc)
    svc.deployments.delete_rule(ADMIN, rule.id)
    with pytest.raises(FleetdeckError) as err:
        svc.deployments.delete_rule(ADMIN, rule.id)
    assert (err.value.code, err.value.message) == ("not_found", f"deployment rule {rule.id} not found")
    assert factories.audited(svc, mark) == [
        ("deployment_rule.delete", "deployment_rule", str(rule.id), "ok", {"name": "nightly base"}),
        (
            "deployment_rule.delete",
            "deployment_rule",
            str(rule.id),
            "not_found",
            {"error": f"deployment rule {rule.id} not found"},
        ),
    ]


def test_computers_with_queued_jobs_are_found_for_redispatch(svc: Services, clock: Clock) -> None:
    a, b = computer(svc, "a"), computer(svc, "b")
    svc.deployments.deploy(
        ADMIN, "later", computer_ids=[a], package_ids=[package(svc, "p")], start=T0 + timedelta(minutes=10)
    )
    assert svc.jobs.computers_with_queued() == {a}
    assert claim(svc, a, b) == []
    clock.now = T0 + timedelta(minutes=11)
    assert len(claim(svc, a, b)) == 1 and svc.jobs.computers_with_queued() == set()


def test_package_jobs_per_computer_and_by_id(svc: Services, clock: Clock) -> None:
    a, b = computer(svc, "a"), computer(svc, "b")
    p1, p2 = package(svc, "one"), package(svc, "two")
    first = svc.deployments.deploy(ADMIN, "first", computer_ids=[b, a], package_ids=[p1])
    clock.now = T0 + timedelta(minutes=1)
    second = svc.deployments.deploy(ADMIN, "second", computer_ids=[a], package_ids=[p2])
    svc.jobs.create_commands(ADMIN, CommandRequest("ls"), computer_ids=[a])  # not a package job
    jobs = svc.deployments.computer_jobs(ADMIN)
    assert [(j.computer_id, j.package_id, j.container_id) for j in jobs] == [
        (a, p1, first.id),
        (a, p2, second.id),
        (b, p1, first.id),
    ]
    assert [j.package_id for j in svc.deployments.computer_jobs(ADMIN, [b])] == [p1]
    assert svc.deployments.computer_jobs(ADMIN, []) == []
    one = svc.deployments.get_job(ADMIN, second.job_ids[0])
    assert (one.computer_id, one.hostname, one.package_id, one.family_name, one.kind) == (
        a,
        "a",
        p2,
        "two",
        "package_install",
    )
    command_job = svc.jobs.find(ADMIN, Query(where=(Cond("kind", Op.EQ, "command"),))).items[0].id
    for missing in (command_job, 4242):
        with pytest.raises(FleetdeckError) as err:
            svc.deployments.get_job(ADMIN, missing)
        assert err.value.code == "not_found"


def test_a_rule_is_read_back_with_its_groups(svc: Services) -> None:
    pcs = svc.groups.create(ADMIN, "pcs")
    pkgs = svc.packages.create_group(ADMIN, "base")
    made = svc.deployments.create_rule(ADMIN, "keep base", pcs.id, pkgs.id, notes="n", priority=2)
    got = svc.deployments.get_rule(Actor(user_id=None, username="v", role=Role.VIEWER), made.id)
    assert got == made
    assert (got.name, got.notes, got.computer_group_name, got.package_group_name, got.enabled) == (
        "keep base",
        "n",
        "pcs",
        "base",
        True,
    )
    with pytest.raises(FleetdeckError) as err:
        svc.deployments.get_rule(ADMIN, 4242)
    assert err.value.code == "not_found"


def test_what_a_package_job_tells_the_agent(svc: Services) -> None:
    pc = computer(svc, "pc")
    pkg = svc.packages.create(
        ADMIN,
        "tool",
        "1",
        PackageFields(
            install_procedure="line1\r\nline2",
            install_success_codes="0,3010",
            install_post_action=1,
            uninstall_procedure="remove",
            uninstall_success_codes="0,1605",
            uninstall_post_action=2,
            download_for_uninstall=False,
            line_endings="\n",
        ),
        files=[m_payload()],
    ).id
    svc.properties.put(ADMIN, pkg, Config("lang", default_values=["en"]))
    svc.deployments.deploy(
        ADMIN, "d", computer_ids=[pc], package_ids=[pkg], sequence_mode=1, restart_timeout_min=7
    )
    (spec,) = claim(svc, pc)
    info = svc.packages.get(ADMIN, pkg).package
    assert spec.kind == "package_install"
    params = dict(spec.params)
    assert params.pop("container_id") and params.pop("sequence") == 1
    assert params == {
        "package_id": pkg,
        "procedure": "line1\nline2",  # the package's line endings
        "success_codes": "0,3010",
        "download": True,
        "post_action": 1,
        "post_action_timeout_min": 7,
        "sequence_mode": 1,
        "timeout_sec": 3600,
        "payload_path": f"/agent/v1/payload/{pkg}",
        "payload_sha256": info.payload_sha256,
        "payload_size": info.payload_size,
        "properties": {"lang": ["en"]},
    }
    finish(svc, pc, spec.id)
    (installation,) = svc.packages.list_installations(ADMIN, computer_id=pc)
    svc.deployments.uninstall(ADMIN, "u", installation_ids=[installation.id])
    (spec,) = claim(svc, pc)
    assert spec.kind == "package_uninstall"
    assert (spec.params["procedure"], spec.params["success_codes"], spec.params["post_action"]) == (
        "remove",
        "0,1605",
        2,
    )
    assert spec.params["download"] is False and "payload_path" not in spec.params
    assert spec.params["sequence_mode"] == 0


def m_payload() -> PayloadFile:  # a one-file payload
    return PayloadFile("install.sh", b"#!/bin/sh\ntrue\n")


def test_container_jobs_page_pages_and_filters_in_the_database(svc: Services) -> None:
    cids = [computer(svc, f"pc{k}") for k in range(5)]
    lib, app = package(svc, "lib"), package(svc, "app")
    created = svc.deployments.deploy(ADMIN, "roll out", computer_ids=cids, package_ids=[lib, app])
    every = svc.deployments.container_jobs(ADMIN, created.id)
    claim(svc, cids[2])
    finish(svc, cids[2], every[4].id, 1, "failed")
    viewer = Actor(user_id=None, username="v", role=Role.VIEWER, via="test")
    page = svc.deployments.container_jobs_page(viewer, created.id, offset=3, limit=4)
    assert page.total == 10 and [j.id for j in page.items] == [j.id for j in every[3:7]]
    failed = svc.deployments.container_jobs_page(ADMIN, created.id, statuses=[JobStatus.FAILED])
    assert (failed.total, [j.id for j in failed.items]) == (1, [every[4].id])
    other = svc.deployments.deploy(
        ADMIN, "other", computer_ids=cids[:1], package_ids=[lib], force_same_version=True
    )
    followed = svc.deployments.container_jobs_by_id(
        ADMIN, created.id, [every[1].id, every[9].id, other.job_ids[0], 424242]
    )
    assert [j.id for j in followed] == [every[1].id, every[9].id]  # another container's job left out
    for offset, limit in ((-1, 5), (0, 0), (0, 1001)):
        with pytest.raises(ValidationFailed):
            svc.deployments.container_jobs_page(ADMIN, created.id, offset=offset, limit=limit)
    with pytest.raises(FleetdeckError, match="not found"):
        svc.deployments.container_jobs_page(ADMIN, 424242)


# ------------------------------------------------------------------ survivors of seed 20261207
# (docs/testing.md, "Mutation testing": new test functions, since mutmut traces only new ones)


def test_package_actions_requested_for_one_computer_wake_nobody(svc: Services, waker: Waker) -> None:
    """A client-centred request (opsi's product actions) is no Wake-on-LAN deployment: no
    packet, and its container says so. apply_package_actions 94 passed ``use_wol=True``."""
    pc = computer(svc, "pc")  # offline: a wake would send it a packet
    package(svc, "tool")
    done = svc.deployments.apply_package_actions(ADMIN, pc, [("tool", PackageAction.INSTALL)], name="opsi")
    assert waker.woken == []
    [container] = done.container_ids
    assert svc.deployments.get_container(ADMIN, container).wol_sent == -1


def test_a_shutdown_decided_on_connect_is_audited_as_the_job_decision(svc: Services, clock: Clock) -> None:
    """claim_for_delivery's decision (the agent came up in time) is an audit row of object
    type ``job`` by the delivery, as the tick's is; mutant 26 dropped the object type."""
    pc = computer(svc, "pc")
    woken(svc, [pc], [package(svc, "p")])
    clock.now = T0 + timedelta(minutes=2)
    online(svc, pc)
    [spec] = claim(svc, pc)
    audit = svc.audit.find(ADMIN, Query(where=(Cond("action", Op.EQ, "job.wol_shutdown_decided"),)))
    assert [(e.object_type, e.via, e.detail) for e in audit.items] == [
        ("job", "delivery", {"kept": [spec.id], "reverted": []})
    ]


def test_an_upgrade_that_uninstalls_its_family_leaves_other_families_alone(svc: Services) -> None:
    """upgrade_behavior 2 removes the other versions of the package's own family only
    (plan_computer 49 turned an ``and`` of the check into ``or``: every installed package went)."""
    pc = computer(svc, "pc")
    old, other = package(svc, "fam", "1"), package(svc, "browser", "7")
    new = package(svc, "fam", "2", upgrade_behavior=2)
    svc.packages.assign_installation(ADMIN, pc, old)
    svc.packages.assign_installation(ADMIN, pc, other)
    created = svc.deployments.deploy(ADMIN, "up", computer_ids=[pc], package_ids=[new])
    assert jobs_of(svc, created.id) == [
        (pc, "uninstall", old, "queued", ""),
        (pc, "install", new, "queued", ""),
    ]


def test_a_rule_that_wants_a_package_absent_does_not_install_it(svc: Services) -> None:
    """Only rules about installing pull packages into a deployment: a setup rule that requires
    another package ``not_installed`` must not install it (expand_dependencies 13 dropped that
    filter)."""
    pc = computer(svc, "pc")
    app, old, lib = package(svc, "app"), package(svc, "old"), package(svc, "lib")
    svc.packages.set_dependency_rules(
        ADMIN,
        app,
        (
            DependencyRule(old, required_status="not_installed", requirement_type="before"),
            DependencyRule(lib, required_status="installed", requirement_type="before"),
        ),
    )
    created = svc.deployments.deploy(ADMIN, "d", computer_ids=[pc], package_ids=[app])
    assert jobs_of(svc, created.id) == [
        (pc, "install", lib, "queued", ""),
        (pc, "install", app, "queued", ""),
    ]


# ------------------------------------------------------------------ survivors of seed 20261213


def test_a_computer_leaving_a_rules_group_withdraws_the_request_its_job_carried(
    svc: Services, clock: Clock
) -> None:
    """A rule's queued job makes the computer's package state request ``setup``; when the
    computer leaves the rule's group the job is deleted and the request goes back to ``none``
    (at the time of the change), not left behind as a request no job carries."""
    a, b = computer(svc, "a"), computer(svc, "b")
    pcs = svc.groups.create(ADMIN, "pcs")
    svc.groups.add_members(ADMIN, pcs.id, [a, b])
    pkgs = svc.packages.create_group(ADMIN, "base")
    svc.packages.add_to_group(ADMIN, pkgs.id, package(svc, "tool"))
    rule = svc.deployments.create_rule(ADMIN, "keep", pcs.id, pkgs.id)
    states = factories.package_states(svc, ADMIN, [a, b], ["tool"])
    assert [(s[0], s[3]) for s in states] == [(a, "setup"), (b, "setup")]
    clock.now = T0 + timedelta(minutes=5)
    svc.groups.remove_members(ADMIN, pcs.id, [a])
    assert [cid for cid, *_ in rule_jobs(svc, rule.id)] == [b]
    after = factories.package_states(svc, ADMIN, [a, b], ["tool"])
    assert [(s[0], s[3]) for s in after] == [(a, "none"), (b, "setup")]
    assert after[0][-1] == "2025-01-06 10:35:00" and after[1] == states[1]


def test_an_uninstall_wakes_nobody_unless_asked(svc: Services, waker: Waker) -> None:
    """``uninstall`` without ``use_wol`` sends no Wake-on-LAN packet and its container says so
    (uninstall 2 made ``use_wol`` default to True); asked, it wakes the computer."""
    pc = computer(svc, "pc")  # offline: a wake would send it a packet
    one, two = package(svc, "one"), package(svc, "two")
    first, second = (factories.installed(svc, ADMIN, pc, p).id for p in (one, two))
    plain = svc.deployments.uninstall(ADMIN, "rm", installation_ids=[first])
    assert waker.woken == []
    assert svc.deployments.get_container(ADMIN, plain.id).wol_sent == -1
    svc.deployments.uninstall(ADMIN, "rm", installation_ids=[second], use_wol=True)
    assert waker.woken == [[pc]]


def test_a_rules_jobs_go_out_in_package_group_order_not_in_the_order_they_were_made(
    svc: Services,
) -> None:
    """A package put first into a rule's package group gets a job made after the others but
    with the first sequence: delivery hands it over first (claim 19 dropped ``Job.sequence``
    from the delivery order, leaving the job ids)."""
    pc = computer(svc, "pc")
    pcs = svc.groups.create(ADMIN, "pcs")
    svc.groups.add_members(ADMIN, pcs.id, [pc])
    one, two, first = package(svc, "one"), package(svc, "two"), package(svc, "first")
    pkgs = svc.packages.create_group(ADMIN, "base")
    svc.packages.add_to_group(ADMIN, pkgs.id, one)
    svc.packages.add_to_group(ADMIN, pkgs.id, two)
    rule = svc.deployments.create_rule(ADMIN, "keep", pcs.id, pkgs.id)
    svc.packages.add_to_group(ADMIN, pkgs.id, first, sequence=1)
    specs = claim(svc, pc)
    assert [(s.params["package_id"], s.params["sequence"]) for s in specs] == [(first, 1), (one, 2), (two, 3)]
    assert [s.params["container_id"] for s in specs] == [rule.container_id] * 3
    assert specs[0].id > specs[2].id  # made last
