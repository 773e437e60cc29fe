"""The survivors of the mutation sample of seed 20261207 (docs/testing.md, "Mutation testing")
that round 1 left open: the whole refusal (field, text and reason) of three checks, the default
timeouts by which lost jobs are judged, and a dead node's computers losing their node. New test
functions in a new file: mutmut traces only tests it has not seen."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from fleetdeck.core.computers.entities import Presence
from fleetdeck.core.errors import Reason, ValidationFailed
from fleetdeck.core.jobs import delivery
from fleetdeck.core.jobs.service import _job_timeout
from fleetdeck.core.nodes import NodeService
from fleetdeck.core.packages.entities import DependencyRule
from fleetdeck.core.polling.service import JobReport
from fleetdeck.core.services import Services
from fleetdeck.core.settings.configs import Config
from tests import factories
from tests.factories import ManualClock
from tests.unit.core.conftest import T0
from tests.unit.core.test_polling import Agent


def test_a_rule_needs_a_restart_timeout_of_at_least_a_minute(svc: Services, admin: Actor) -> None:
    """rules ``_check_timeout`` 8: the refusal of a zero timeout said something else."""
    pkg = factories.package(svc, admin, "tool")
    group, packages = factories.group(svc, admin, "g"), factories.package_group(svc, admin, "pg", [pkg.id])
    with pytest.raises(ValidationFailed) as err:
        svc.deployments.create_rule(admin, "r", group, packages, post_action_timeout_min=0)
    assert (err.value.field, err.value.message, err.value.detail.get("reason")) == (
        "post_action_timeout_min",
        "post_action_timeout_min must be at least 1",
        Reason.INVALID,
    )
    rule = svc.deployments.create_rule(admin, "r", group, packages, post_action_timeout_min=1)
    assert rule.post_action_timeout_min == 1


def test_a_property_key_longer_than_128_characters_is_refused_in_words(svc: Services, admin: Actor) -> None:
    """packages.properties ``check_property`` 8: the text of the refusal."""
    pkg = factories.package(svc, admin, "app")
    with pytest.raises(ValidationFailed) as err:
        svc.properties.put(admin, pkg.id, Config("k" * 129))
    assert (err.value.field, err.value.message) == ("key", "property key is longer than 128 characters")


def test_a_dependency_rule_on_the_package_itself_is_refused_in_words(svc: Services, admin: Actor) -> None:
    """packages.service ``_check_rule`` 8: ``set_dependencies`` has a twin of the check and
    answers first, so the rule API (opsi's ProductDependency) is where this refusal shows."""
    pkg = factories.package(svc, admin, "tool")
    with pytest.raises(ValidationFailed) as err:
        svc.packages.set_dependency_rules(admin, pkg.id, (DependencyRule(pkg.id),))
    assert (err.value.field, err.value.message, err.value.detail.get("reason")) == (
        "dependencies",
        "a package cannot depend on itself",
        Reason.INVALID,
    )


def test_lost_jobs_are_judged_by_the_default_timeout_of_their_kind() -> None:
    """jobs.service ``_job_timeout`` 6: a command without its own timeout gets the command
    default (the agent stops it then), a package job the package default, an action none;
    a spec's own number wins, anything else in its place falls back to the default."""
    assert _job_timeout("command", {}) == 300.0
    assert _job_timeout("command", {"timeout_sec": 12}) == 12.0
    assert _job_timeout("command", {"timeout_sec": "12"}) == 300.0
    assert _job_timeout("package_install", {}) == float(delivery.DEFAULT_PACKAGE_TIMEOUT_SEC)
    assert _job_timeout("action", {}) == 0.0


def test_a_dead_nodes_computers_hold_no_node_afterwards(
    runtime: Runtime, svc: Services, admin: Actor, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """nodes ``_offline`` 5 left ``node_id`` on the computers of a dead node: a process that
    claims the name next then reports them as its own to take offline again."""
    nodes = NodeService(runtime.db, clock, lease_sec=30)
    pc = factories.computer(svc, admin, "pc")
    assert nodes.claim("n1", "process-1") == "n1"
    svc.computers.set_presence([Presence(pc, "10.0.0.1", "1")], [], node_id="n1")
    clock.now = T0 + timedelta(seconds=31)
    assert nodes.sweep() == 1
    with caplog.at_level(logging.INFO, logger="fleetdeck.nodes"):
        assert nodes.claim("n1", "process-2") == "n1"
    assert not [r for r in caplog.messages if "marked" in r]
    assert nodes.sweep() == 0


def test_a_polling_agents_download_progress_is_shown_as_a_whole_percentage(
    svc: Services, admin: Actor
) -> None:
    """polling ``job_state`` 58: the download progress an OCO agent reports (a float, above 100
    while unpacking) is what a deployment's job shows: a whole percentage, or the unpack phase."""
    agent = Agent(svc, "oco-progress")
    cid = agent.hello().computer_id
    pkg = factories.package(svc, admin, "tool")
    container = factories.deployment(svc, admin, [cid], [pkg.id]).id
    [job] = agent.hello().jobs

    def shown(phase: str, progress: float) -> tuple[str, int | None]:
        svc.polling.job_state(agent.request(), JobReport(job.id, phase, progress=progress))
        [info] = svc.deployments.container_jobs(admin, container)
        return info.phase, info.progress

    assert shown("download", 50.7) == ("download", 50)
    assert shown("download", -3) == ("download", 0)
    assert shown("download", 100) == ("download", 100)  # the end of the download, not yet unpacking
    # unpacking: the finished download's 100 % stays (issue #20: progress no longer falls back to null)
    assert shown("download", 150) == ("unpack", 100)
