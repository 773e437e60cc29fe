"""Small parts of core that no test of the mutation subset ran on 3 December 2026 (seed 20261208's
stats run, docs/testing.md): a payload taken over from a spool file, the CA certificate served
to enrolling agents, the polling agents' version check, the null ports' other calls and the
settings registry's membership test. Each asserts what the caller gets."""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.certs.authority import ensure_server_certificate
from fleetdeck.core.deployments.entities import PackageAction
from fleetdeck.core.errors import AgentUnreachable, Unavailable
from fleetdeck.core.housekeeping import standard_duties
from fleetdeck.core.jobs.entities import CommandRequest, JobStatus
from fleetdeck.core.packages.payloads import PayloadStore
from fleetdeck.core.polling.service import outdated, version_tuple
from fleetdeck.core.ports import AgentAddress, NullGateway, NullJobWatch, NullWaker
from fleetdeck.core.services import CoreConfig, Services, build_services
from fleetdeck.core.settings.registry import SettingsRegistry
from tests import factories
from tests.conftest import SECRET
from tests.factories import ManualClock
from tests.unit.core.conftest import T0
from tests.unit.core.test_polling import Agent

SHM = Path("/dev/shm")


def test_a_spooled_payload_is_moved_into_the_store_under_its_hash(tmp_path: Path) -> None:
    store = PayloadStore(tmp_path / "payloads")
    data = os.urandom(3 * 1024 * 1024 + 5)  # more than one read chunk
    spool = tmp_path / "spool.zip"
    spool.write_bytes(data)
    sha, size = store.put_file(spool)
    assert (sha, size) == (hashlib.sha256(data).hexdigest(), len(data))
    assert store.path(sha).read_bytes() == data and store.exists(sha)
    assert not spool.exists()  # taken over
    assert [p.name for p in store.path(sha).parent.iterdir()] == [store.path(sha).name]

    # the same content again: the stored file stays, the spool file still goes
    again = tmp_path / "again.zip"
    again.write_bytes(data)
    before = store.path(sha).stat().st_ino
    assert store.put_file(again) == (sha, size)
    assert not again.exists() and store.path(sha).stat().st_ino == before

    # a stored file of another size under that name (a broken earlier write) is replaced
    store.path(sha).write_bytes(b"cut short")
    third = tmp_path / "third.zip"
    third.write_bytes(data)
    assert store.put_file(third) == (sha, size)
    assert store.path(sha).read_bytes() == data and not third.exists()

    empty = tmp_path / "empty.zip"
    empty.write_bytes(b"")
    assert store.put_file(empty) == (hashlib.sha256(b"").hexdigest(), 0)


@pytest.mark.skipif(
    not SHM.is_dir() or os.stat(SHM).st_dev == os.stat("/").st_dev, reason="no tmpfs at /dev/shm"
)
def test_a_spooled_payload_on_another_file_system_is_copied_in(tmp_path: Path) -> None:
    assert os.stat(SHM).st_dev != os.stat(tmp_path).st_dev
    store = PayloadStore(tmp_path / "payloads")
    data = os.urandom(2 * 1024 * 1024 + 1)
    spool = SHM / f"fleetdeck-test-{uuid.uuid4().hex}.zip"
    try:
        spool.write_bytes(data)
        sha, size = store.put_file(spool)
        assert (sha, size) == (hashlib.sha256(data).hexdigest(), len(data))
        assert store.path(sha).read_bytes() == data
        assert not spool.exists()
        # no temporary file left beside it
        assert [p.name for p in store.path(sha).parent.iterdir()] == [store.path(sha).name]
    finally:
        spool.unlink(missing_ok=True)


def test_the_ca_certificate_is_served_only_when_fleetdeck_runs_a_ca(
    runtime: Runtime, tmp_path: Path, svc: Services, admin: Actor
) -> None:
    assert svc.certificates.served_ca_pem() == ""  # no TLS directory at all
    bare = build_services(
        runtime.db, SECRET, CoreConfig(payload_dir=tmp_path / "p", tls_dir=tmp_path / "none")
    )
    assert bare.certificates.served_ca_pem() == ""  # a directory without a CA
    tls = tmp_path / "tls"
    ensure_server_certificate(tls, "fleet", [])
    with_ca = build_services(runtime.db, SECRET, CoreConfig(payload_dir=tmp_path / "p", tls_dir=tls))
    pem = with_ca.certificates.served_ca_pem()
    assert pem.startswith("-----BEGIN CERTIFICATE-----")
    assert pem == with_ca.certificates.ca_certificate(admin)


def test_an_oco_agent_older_than_1_1_7_is_outdated() -> None:
    assert version_tuple("1.1.7") == (1, 1, 7)
    assert version_tuple(" 10.0 ") == (10, 0)
    for bad in ("", "1..2", "1.x", "v1.2", "1.2-beta"):
        assert version_tuple(bad) is None
    for old in ("1.1.6", "1.1", "0.9.99", " 1.0.0 "):
        assert outdated(old) is True, old
    for fine in ("1.1.7", "1.1.10", "1.2", "2", "", "unknown", "1.1.6-rc"):
        assert outdated(fine) is False, fine


def test_the_null_ports_answer_that_nothing_is_reachable_or_followed() -> None:
    answers = NullGateway().request_many([AgentAddress(3, "n1"), AgentAddress(7, "n2")], "ping", {}, 1.0)
    assert sorted(answers) == [3, 7]
    assert all(isinstance(a, AgentUnreachable) for a in answers.values())
    assert answers[3].message == "this process reaches no agents"
    assert NullGateway().request_many([], "ping", {}, 1.0) == {}
    watch = NullJobWatch()
    for follow in (lambda: watch.follow(1), lambda: watch.batch(1), watch.finals):
        with pytest.raises(Unavailable) as err:
            follow()
        assert err.value.message == "this process cannot follow jobs (no message bus)"
    assert NullWaker().wake([1, 2, 3]) == 0
    with pytest.raises(Unavailable, match="cannot wait for jobs"):
        asyncio.run(watch.await_final([1], 1.0, lambda ids: set()))


def test_the_settings_registry_knows_its_keys() -> None:
    registry = SettingsRegistry()
    assert "polling.password_length" in registry
    assert "no.such.setting" not in registry
    assert 5 not in registry


def test_the_standard_duties_run_their_services_at_their_intervals(
    svc: Services, admin: Actor, clock: ManualClock
) -> None:
    duties = standard_duties(svc, expiry_sec=1.5, tick_sec=2.5, lost_after_sec=60)
    assert [(d.name, d.interval) for d in duties] == [
        ("jobs.expiry", 1.5),
        ("jobs.lost", 1.5),
        ("deployments.tick", 2.5),
        ("nodes.sweep", 10.0),
        ("sessions.purge", 300.0),
        ("polling.offline", 15.0),
        ("polling.purge_events", 600.0),
        ("uploads.purge", 600.0),
        ("files.purge", 600.0),
        ("notifications.send", 5.0),
        ("monitoring.purge", 600.0),
        ("schedules.run", 10.0),
    ]
    run = {d.name: d.run for d in duties}
    # jobs.lost: a delivered job of an offline computer, past its timeout and the 60 s grace
    cid = factories.computer(svc, admin, "gone")
    [job] = svc.jobs.create_commands(admin, CommandRequest("true", timeout_sec=1), computer_ids=[cid]).job_ids
    assert factories.deliver(svc, cid) == [job]
    clock.now = T0 + timedelta(seconds=60)
    assert run["jobs.lost"]() == 0
    clock.now = T0 + timedelta(seconds=61)
    assert run["jobs.lost"]() == 1
    assert svc.jobs.get(admin, job).status is JobStatus.FAILED
    # sessions.purge: an ended web session
    factories.user(svc, Role.VIEWER, "sam")
    svc.sessions.login("sam", factories.PASSWORD, "10.0.0.1", "web")
    clock.now += svc.sessions.lifetime
    assert run["sessions.purge"]() == 1
    # polling.offline and polling.purge_events: a polling agent gone quiet, its old events
    agent = Agent(svc, "quiet")
    agent.hello()
    svc.polling.events(agent.request(), [{"log": "System", "timestamp": "2026-01-01 00:00:00"}])
    clock.now += timedelta(hours=1)
    assert run["polling.offline"]() == 1
    assert run["polling.purge_events"]() == 1
    assert run["nodes.sweep"]() == 0
    assert run["jobs.expiry"]() == 0


def test_mixed_package_actions_are_audited_as_one_change_of_the_computer(svc: Services, admin: Actor) -> None:
    pc = factories.computer(svc, admin, "pc")
    old = factories.package(svc, admin, "old")
    new = factories.package(svc, admin, "new")
    factories.installed(svc, admin, pc, old.id)
    mark = factories.audit_mark(svc)
    done = svc.deployments.apply_package_actions(
        admin, pc, [("new", PackageAction.INSTALL), ("old", PackageAction.UNINSTALL)], name="opsi"
    )
    [row] = factories.audit_since(svc, mark)
    assert (row.action, row.object_type, row.object_id, row.result) == (
        "deployment.apply_actions",
        "computer",
        str(pc),
        "ok",
    )
    assert len(done.container_ids) == 2 and new.id != old.id
