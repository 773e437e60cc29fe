"""No N+1 on the package and deployment pages: each runs the same number of SQL statements
with 1 and with 20 of everything it lists (packages, properties, computers, jobs, rules, a
family's versions, a package group's members),
counted on the real engine through the real application."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from starlette.applications import Starlette

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from fastapi.testclient import TestClient

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from fleetdeck.core.settings.configs import Config
from tests import factories
from tests.integration.queries.test_list_query_counts import _compare
from tests.web.conftest import login


class Fleet:
    """Grows to ``n`` computers in a group, ``n`` versions of one package family (each with
    a property) in a package group, a deployment of every version to every computer with one
    job finished, and ``n`` rules."""

    def __init__(self, runtime: Runtime, actor: Actor) -> None:
        self.s, self.actor = runtime.services, actor
        self.computers: list[int] = []
        self.packages: list[int] = []
        self.group = factories.group(self.s, actor, "lab")
        self.package_group = factories.package_group(self.s, actor, "basics")
        self.container = 0
        self.rule = 0

    def grow(self, n: int) -> None:
        s, actor = self.s, self.actor
        while len(self.computers) < n:
            cid = factories.computer(s, actor, f"pc{len(self.computers)}")
            s.groups.add_members(actor, self.group, [cid])
            self.computers.append(cid)
            p = factories.package(s, actor, "Tool", f"{len(self.packages)}.0", description="x")
            s.properties.put(actor, p.id, Config(key="channel", default_values=["stable"]))
            s.packages.add_to_group(actor, self.package_group, p.id)
            self.packages.append(p.id)
            self.rule = s.deployments.create_rule(actor, f"rule {n}", self.group, self.package_group).id
        if self.container:
            s.deployments.remove_container(actor, self.container)
        created = factories.deployment(s, actor, self.computers, self.packages, force_same_version=True)
        self.container = created.id
        factories.deliver(s, self.computers[0])
        factories.finish(s, self.computers[0], created.job_ids[0])

    def pages(self) -> list[str]:
        package = self.packages[-1]
        return [
            "/packages",
            "/packages?q=tool",
            f"/packages/{package}",
            f"/packages/{package}/edit",
            "/deployments",
            f"/deployments/{self.container}",
            "/deployments/new?" + "&".join(f"computer={c}" for c in self.computers),
            "/deployment-rules",
            f"/deployment-rules/{self.rule}",
            "/package-families",
            f"/package-families/{self.s.packages.get(self.actor, package).package.family_id}",
            "/package-groups",
            f"/package-groups/{self.package_group}",
            f"/packages/{package}/dependencies",
            f"/deployments/{self.container}?status=queued",
        ]


@pytest.fixture
def client(app: Starlette) -> Iterator[TestClient]:
    """The application without its periodic duties, whose reads would be counted too."""
    with TestClient(app) as c:
        c.portal.call(app.state.housekeeping.stop)
        yield c


def test_the_pages_run_as_many_statements_for_1_as_for_20(
    client: TestClient, runtime: Runtime, alice: Actor
) -> None:
    fleet = Fleet(runtime, alice)
    login(client, "alice")

    # the paths hold ids that change as the fleet grows: each page is named by its place
    names = ["packages", "search", "package", "edit", "deployments", "deployment", "new", "rules", "rule"]
    names += ["families", "family", "package groups", "package group", "dependencies", "deployment queued"]

    def get(i: int) -> Callable[[], Any]:
        def call() -> Any:
            path = fleet.pages()[i]
            r = client.get(path)
            assert r.status_code == 200, (path, r.text[:300])

        return call

    calls = {name: get(i) for i, name in enumerate(names)}
    _compare(fleet, runtime.db, calls)
