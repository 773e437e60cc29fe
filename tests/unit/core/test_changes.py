"""core's ``ChangeFeed``: committed changes of computers and package states, told once per
transaction after the commit, whichever service made them (an admin's request, an agent's
job result, a withdrawal, a deletion); nothing for a transaction that rolled back."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from sqlalchemy import select

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Role
from fleetdeck.core.changes import Change
from fleetdeck.core.deployments.entities import PackageAction
from fleetdeck.core.errors import FleetdeckError
from fleetdeck.core.services import CoreConfig, Services, build_services
from fleetdeck.settings import Settings
from fleetdeck.storage.tables import PackageFamily, PackageState
from fleetdeck.storage.uow import UnitOfWork
from tests import factories
from tests.conftest import BACKEND, SECRET
from tests.unit.core.test_reads import write_transactions

from .conftest import T0


class Recording:
    """The port, recording each call (one per committed transaction)."""

    def __init__(self) -> None:
        self.calls: list[list[Change]] = []

    def changed(self, changes: Sequence[Change]) -> None:
        self.calls.append(list(changes))

    def take(self) -> list[tuple[str, str, str, str, str]]:
        out = [
            (c.subject, c.action, c.hostname, c.family_key, c.action_request)
            for call in self.calls
            for c in call
        ]
        self.calls.clear()
        return out


@pytest.fixture
def feed() -> Recording:
    return Recording()


@pytest.fixture
def svc(runtime: Runtime, settings: Settings, feed: Recording) -> Services:
    return build_services(
        runtime.db,
        SECRET,
        CoreConfig(payload_dir=settings.data_dir / "payloads"),
        clock=factories.ManualClock(T0),
        changes=feed,
    )


def test_every_writer_is_heard_once_per_transaction(svc: Services, feed: Recording) -> None:
    admin = factories.user(svc, Role.ADMIN, "admin")
    cid = factories.computer(svc, admin, "pc-1")
    assert feed.take() == [("computer", "created", "pc-1", "", "")]
    factories.package(svc, admin, "editor")
    feed.take()

    svc.deployments.request_package_action(admin, cid, "editor", PackageAction.INSTALL, name="t")
    assert len(feed.calls) == 1  # one transaction, one call
    assert feed.take() == [("package_state", "created", "pc-1", "editor", "setup")]

    (job_id,) = factories.deliver(svc, cid)
    feed.take()
    factories.finish(svc, cid, job_id)  # the agent's result, stored as the hub stores it
    (done,) = [c for call in feed.calls for c in call if c.subject == "package_state"]
    assert (done.action, done.installation_status, done.action_request) == ("updated", "installed", "none")
    feed.take()

    svc.deployments.request_package_action(admin, cid, "editor", PackageAction.FORGET, name="t")
    assert ("package_state", "deleted", "pc-1", "editor", "none") in feed.take()

    svc.computers.delete(admin, cid)
    assert feed.take() == [("computer", "deleted", "pc-1", "", "")]


def test_nothing_is_heard_of_a_transaction_that_rolled_back(svc: Services, feed: Recording) -> None:
    admin = factories.user(svc, Role.ADMIN, "admin")
    factories.computer(svc, admin, "pc-1")
    feed.take()
    with pytest.raises(FleetdeckError):
        svc.deployments.request_package_action(admin, 999_999, "nothing", PackageAction.INSTALL, name="t")
    with pytest.raises(FleetdeckError):
        svc.computers.create(admin, "")  # refused inside its transaction
    assert feed.take() == []
    factories.computer(svc, admin, "pc-2")
    assert feed.take() == [("computer", "created", "pc-2", "", "")]


def test_a_package_state_whose_family_went_in_the_same_transaction_has_no_key(
    runtime: Runtime, svc: Services, feed: Recording
) -> None:
    """A changed package state is told even when its family was deleted before the names are
    read after the commit: with an empty family key, as for any name not found."""
    admin = factories.user(svc, Role.ADMIN, "admin")
    cid = factories.computer(svc, admin, "pc-1")
    pkg = factories.package(svc, admin, "editor")
    svc.deployments.request_package_action(admin, cid, "editor", PackageAction.INSTALL, name="t")
    svc.packages.delete(admin, pkg.id)
    feed.take()
    with UnitOfWork(runtime.db) as uow:
        s = uow.session
        state = s.scalars(select(PackageState).where(PackageState.computer_id == cid)).one()
        state.action_request = "none"
        s.flush()
        family = s.get(PackageFamily, pkg.family_id)
        assert family is not None
        s.delete(family)  # the database deletes the state along
    (change,) = [c for call in feed.calls for c in call]
    assert (change.subject, change.action, change.hostname, change.family_key, change.action_request) == (
        "package_state",
        "updated",
        "pc-1",
        "",
        "none",
    )


@pytest.mark.skipif(BACKEND != "sqlite", reason="the write lock and BEGIN IMMEDIATE are SQLite's")
def test_the_names_are_read_after_the_commit_without_the_write_lock(
    runtime: Runtime, svc: Services, feed: Recording
) -> None:
    """The computers' names and families' keys of a transaction's changes are read after its
    commit in a read-only transaction (a plain BEGIN on SQLite): it must not queue for the
    write lock again, once per committed write."""
    admin = factories.user(svc, Role.ADMIN, "admin")
    cid = factories.computer(svc, admin, "pc-1")
    factories.package(svc, admin, "editor")
    feed.take()
    with write_transactions(runtime.db.engine) as immediate:
        svc.deployments.request_package_action(admin, cid, "editor", PackageAction.INSTALL, name="t")
    assert feed.take() == [("package_state", "created", "pc-1", "editor", "setup")]  # the key was read
    assert len(immediate) == 1  # the request's own
