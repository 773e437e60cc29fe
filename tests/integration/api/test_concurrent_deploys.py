"""Concurrent requests to deploy one package to one computer create one job between them, and
concurrent opsi inserts of one new object create it once.

Each request checks what is pending (or whether the object exists) and acts on it; core does
both in one transaction, serialised (``storage.locks``: SQLite's single writer, a PostgreSQL
advisory lock), so no two requests can both see "nothing pending" or "missing". These tests
start N real threads at one barrier against the real database of the run (``make test`` runs
them on SQLite and on PostgreSQL): through core, and through each dialect's HTTP endpoint on a
live server (OCO ``oco.job_container.deploy``, opsi ``setProductActionRequest`` and the
``*_insertObject`` upserts). They count what is in the database, not the answers.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import httpx
import pytest

from fleetdeck.api.dialects.oco import settings as oco_settings
from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from fleetdeck.core.deployments.entities import PackageAction
from fleetdeck.core.errors import ValidationFailed
from fleetdeck.core.jobs.entities import PENDING
from fleetdeck.core.packages.entities import PackageFields
from fleetdeck.core.query import Query
from fleetdeck.settings import Settings
from tests import factories
from tests.live_server import LiveServer, running

N = 8
T = TypeVar("T")
OCO_KEY = "concurrency-test-key"


def race(n: int, attempt: Callable[[int], T]) -> list[T | BaseException]:
    """Run ``attempt(0..n-1)`` in ``n`` threads released together; results or exceptions."""
    barrier = threading.Barrier(n)

    def one(i: int) -> T | BaseException:
        barrier.wait()
        try:
            return attempt(i)
        except Exception as exc:  # collected: the test asserts on what each thread got
            return exc

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


def split(results: list[T | BaseException]) -> tuple[list[T], list[BaseException]]:
    """(what the threads returned, what they raised)."""
    failed = [r for r in results if isinstance(r, BaseException)]
    return [r for r in results if not isinstance(r, BaseException)], failed


def pending_jobs(runtime: Runtime, admin: Actor, computer_id: int, package_id: int) -> list[int]:
    return [
        j.id
        for j in runtime.services.deployments.computer_jobs(admin, [computer_id])
        if j.package_id == package_id and j.status in PENDING
    ]


@pytest.fixture
def target(runtime: Runtime, admin: Actor) -> tuple[int, int]:
    """(computer id, package id): a pre-registered pc-1 and a package of family ``jedit``."""
    cid = factories.computer(runtime.services, admin, "pc-1")
    return cid, factories.package(runtime.services, admin, "jedit").id


@pytest.fixture
def live(settings: Settings, runtime: Runtime, admin: Actor) -> Iterator[LiveServer]:
    runtime.services.settings.set(admin, oco_settings.ENABLED_KEY, True)
    runtime.services.settings.set(admin, oco_settings.API_KEY, OCO_KEY)
    with running(settings, runtime) as server:
        yield server


def basic(runtime: Runtime, admin: Actor) -> dict[str, str]:
    token = runtime.services.users.create_token(admin, "race", "read+write", None).token
    return {"Authorization": "Basic " + base64.b64encode(f"admin:{token}".encode()).decode()}


def test_concurrent_core_deploys_create_one_job(
    runtime: Runtime, admin: Actor, target: tuple[int, int]
) -> None:
    cid, pid = target
    deploy = runtime.services.deployments.deploy
    created, refused = split(race(N, lambda i: deploy(admin, f"{i}", computer_ids=[cid], package_ids=[pid])))
    assert len(created) == 1 and len(created[0].job_ids) == 1
    assert all(isinstance(r, ValidationFailed) and r.detail["reason"] == "all_pending" for r in refused)
    assert pending_jobs(runtime, admin, cid, pid) == created[0].job_ids


def test_concurrent_core_package_requests_create_one_job(
    runtime: Runtime, admin: Actor, target: tuple[int, int]
) -> None:
    cid, pid = target
    request = runtime.services.deployments.request_package_action
    done, failed = split(race(N, lambda i: request(admin, cid, "jedit", PackageAction.INSTALL, name=f"{i}")))
    assert not failed, failed
    assert sum(len(r.job_ids) for r in done) == 1
    assert sum(len(r.unchanged) for r in done) == N - 1
    assert len(pending_jobs(runtime, admin, cid, pid)) == 1


def test_concurrent_oco_deploys_create_one_job(
    live: LiveServer, runtime: Runtime, admin: Actor, target: tuple[int, int]
) -> None:
    cid, pid = target
    headers = basic(runtime, admin)

    def deploy(i: int) -> dict[str, Any]:
        body = {
            "jsonrpc": "2.0",
            "id": i,
            "method": "oco.job_container.deploy",
            "params": {
                "api_key": OCO_KEY,
                "data": {"name": f"race {i}", "computer_ids": [cid], "package_ids": [pid], "use_wol": 0},
            },
        }
        r = httpx.post(f"{live.url}/api-client.php", json=body, headers=headers, timeout=60)
        assert r.status_code == 200, r.text
        return dict(r.json())

    answers = race(N, deploy)
    assert not [a for a in answers if isinstance(a, BaseException)], answers
    ok = [a for a in answers if "result" in a and a["result"]["success"]]  # type: ignore[operator,index]
    refused = [a for a in answers if "error" in a]  # type: ignore[operator]
    assert len(ok) == 1 and len(refused) == N - 1
    assert {a["error"]["code"] for a in refused} == {-32001}  # type: ignore[index]
    [job] = pending_jobs(runtime, admin, cid, pid)
    container = int(ok[0]["result"]["data"]["id"])  # type: ignore[index]
    assert [j.id for j in runtime.services.deployments.container_jobs(admin, container)] == [job]


def test_concurrent_opsi_action_requests_create_one_job(
    live: LiveServer, runtime: Runtime, admin: Actor, target: tuple[int, int]
) -> None:
    cid, pid = target
    headers = basic(runtime, admin)
    client_id = "pc-1.fleetdeck.local"

    def request(i: int) -> dict[str, Any]:
        body = {
            "jsonrpc": "2.0",
            "id": i,
            "method": "setProductActionRequest",
            "params": ["jedit", client_id, "setup"],
        }
        r = httpx.post(f"{live.url}/rpc", json=body, headers=headers, timeout=60)
        assert r.status_code == 200, r.text
        return dict(r.json())

    answers = race(N, request)
    assert all(not isinstance(a, BaseException) and a.get("error") is None for a in answers), answers
    assert len(pending_jobs(runtime, admin, cid, pid)) == 1
    states = httpx.post(
        f"{live.url}/rpc",
        json={"jsonrpc": "2.0", "id": 0, "method": "productOnClient_getObjects", "params": [[], {}]},
        headers=headers,
        timeout=60,
    ).json()["result"]
    assert [(s["productId"], s["clientId"], s["actionRequest"]) for s in states] == [
        ("jedit", client_id, "setup")
    ]


def test_forced_deploys_are_repeats_asked_for(
    runtime: Runtime, admin: Actor, target: tuple[int, int]
) -> None:
    """OCO's force_install_same_version installs again even what is pending: not deduplicated."""
    cid, pid = target
    deploy = runtime.services.deployments.deploy
    _, failed = split(
        race(
            3, lambda i: deploy(admin, f"{i}", computer_ids=[cid], package_ids=[pid], force_same_version=True)
        )
    )
    assert not failed, failed
    assert len(pending_jobs(runtime, admin, cid, pid)) == 3


def test_concurrent_product_puts_create_one_package(runtime: Runtime, admin: Actor) -> None:
    """opsi's product_insertObject is a create-or-update decided in core's transaction: N
    concurrent puts of one new version create it once, and the others update it."""
    fields = PackageFields(install_procedure="sh setup.sh", description="d")
    put = runtime.services.packages.put_version
    done, failed = split(race(N, lambda i: put(admin, "newtool", "1.0", "1", fields, new_fields=fields)))
    assert not failed, failed
    assert len({p.id for p in done if p is not None}) == 1
    found = runtime.services.packages.find(admin, Query(limit=None)).items
    assert [(p.family_key, p.version, p.package_version) for p in found] == [("newtool", "1.0", "1")]
    actions = [r.action for r in factories.audit_since(runtime.services, 0) if r.object_type == "package"]
    assert sorted(actions) == ["package.create"] + ["package.update"] * (N - 1)


@pytest.mark.parametrize(
    ("method", "obj"),
    [
        ("host_insertObject", {"type": "OpsiClient", "id": "new-1.example.org", "notes": "n"}),
        ("user_insertObject", {"type": "User", "id": "racer"}),
        ("group_insertObject", {"type": "HostGroup", "id": "racers"}),
    ],
)
def test_concurrent_opsi_inserts_create_one_object(
    live: LiveServer, runtime: Runtime, admin: Actor, method: str, obj: dict[str, Any]
) -> None:
    """opsi's insertObject is create-or-replace, decided in core's put: N concurrent inserts of
    one new host, user or group through the live /rpc create it once and replace it N-1 times
    (the dialect's find-then-create created several hosts on PostgreSQL, and failed users on
    the unique name)."""
    headers = basic(runtime, admin)

    def insert(i: int) -> dict[str, Any]:
        body = {"jsonrpc": "2.0", "id": i, "method": method, "params": [obj]}
        r = httpx.post(f"{live.url}/rpc", json=body, headers=headers, timeout=60)
        assert r.status_code == 200, r.text
        return dict(r.json())

    mark = factories.audit_mark(runtime.services)
    answers = race(N, insert)
    assert all(not isinstance(a, BaseException) and a.get("error") is None for a in answers), answers
    kind = method.split("_", maxsplit=1)[0]
    svc = runtime.services
    if kind == "host":
        found = [c.fqdn for c in svc.computers.find(admin, Query(limit=None)).items]
    elif kind == "user":
        found = [u.username for u in svc.users.list_users(admin) if u.username == obj["id"]]
    else:
        found = [g.key for g in svc.groups.find(admin, Query(limit=None)).items]
    assert found == [obj["id"]]
    object_type = {"host": "computer", "user": "user", "group": "group"}[kind]
    actions = [r.action for r in factories.audit_since(svc, mark) if r.object_type == object_type]
    assert sorted(actions) == [f"{object_type}.create"] + [f"{object_type}.update"] * (N - 1)
