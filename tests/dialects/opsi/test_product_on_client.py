"""productOnClient is core's stored package state (issue #13): one row per product and client,
kept when the request goes back to ``none``, with what admins, opsi-script and the agent's job
outcomes write into it; read the same by opsi, OCO's installations and ``/api/v1``."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import update
from starlette.testclient import TestClient

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from fleetdeck.protocol import messages as m
from fleetdeck.storage.tables import PackageState
from fleetdeck.storage.uow import UnitOfWork
from tests import factories

from .conftest import Rpc, enroll
from .test_products import PRODUCT, poc

CLIENT = "pc-1.fleetdeck.local"


def state_of(rpc: Rpc, product: str = "firefox", client: str = CLIENT) -> dict[str, Any]:
    (row,) = poc(rpc, productId=product, clientId=client)
    return row


def jobs(runtime: Runtime, admin: Actor, cid: int) -> list[tuple[str, str]]:
    return [(j.kind, j.status.value) for j in runtime.services.deployments.computer_jobs(admin, [cid])]


def test_none_keeps_the_row_with_action_request_none(rpc: Rpc, runtime: Runtime, admin: Actor) -> None:
    cid, _ = enroll(runtime, admin, "pc-1")
    rpc.ok("product_createObjects", [PRODUCT])
    rpc.ok("setProductActionRequest", "firefox", CLIENT, "setup")
    row = state_of(rpc)
    assert (row["actionRequest"], row["actionResult"], row["installationStatus"]) == (
        "setup",
        "none",
        "not_installed",
    )
    assert jobs(runtime, admin, cid) == [("package_install", "queued")]
    rpc.ok("setProductActionRequest", "firefox", CLIENT, "none")
    row = state_of(rpc)  # the row stays: opsi keeps one per (product, client)
    assert (row["actionRequest"], row["installationStatus"]) == ("none", "not_installed")
    assert jobs(runtime, admin, cid) == []  # the job that had not started is withdrawn
    assert rpc.ok("productOnClient_getIdents") == [f"firefox;LocalbootProduct;{CLIENT}"]


def test_update_without_action_request_stores_the_attributes(
    rpc: Rpc, runtime: Runtime, admin: Actor
) -> None:
    cid, _ = enroll(runtime, admin, "pc-1")
    rpc.ok("product_createObjects", [PRODUCT])
    written = {
        "productId": "firefox",
        "productType": "LocalbootProduct",
        "clientId": CLIENT,
        "installationStatus": "installed",
        "actionResult": "successful",
        "lastAction": "setup",
        "actionProgress": "done by opsi-script",
        "productVersion": "128.0",
        "packageVersion": "2",
        "targetConfiguration": "installed",
    }
    rpc.ok("productOnClient_updateObjects", [written])
    row = state_of(rpc)
    assert {k: row[k] for k in written} == written
    assert row["actionRequest"] == "none"
    assert jobs(runtime, admin, cid) == []  # nothing to run
    # the same fact for OCO and /api/v1: the installation record exists
    (inst,) = runtime.services.packages.list_installations(admin, computer_id=cid)
    r = rpc.client.get(f"/api/v1/installations?computer_id={cid}", headers={"Authorization": rpc.auth})
    assert r.status_code == 200 and len(r.json()["data"]) == 1, r.text
    (v1,) = r.json()["data"]
    assert (v1["action_request"], v1["last_action"], v1["action_result"]) == ("none", "setup", "successful")
    # an update names only what changes; the rest stays
    rpc.ok(
        "productOnClient_updateObject",
        {**{k: written[k] for k in ("productId", "clientId")}, "actionProgress": "x"},
    )
    assert {k: state_of(rpc)[k] for k in ("installationStatus", "actionResult", "actionProgress")} == {
        "installationStatus": "installed",
        "actionResult": "successful",
        "actionProgress": "x",
    }
    # not_installed forgets the installation record (no job)
    rpc.ok("productOnClient_updateObjects", [{**written, "installationStatus": "not_installed"}])
    assert runtime.services.packages.list_installations(admin, computer_id=cid) == []
    assert inst.package_id and jobs(runtime, admin, cid) == []


def test_create_gets_opsis_defaults_and_custom_is_stored(rpc: Rpc, runtime: Runtime, admin: Actor) -> None:
    cid, _ = enroll(runtime, admin, "pc-1")
    rpc.ok("product_createObjects", [PRODUCT])
    rpc.ok("productOnClient_create", "firefox", "LocalbootProduct", CLIENT)
    row = state_of(rpc)
    assert (row["installationStatus"], row["actionRequest"], row["actionResult"], row["lastAction"]) == (
        "not_installed",
        "none",
        "none",
        None,
    )
    rpc.ok("setProductActionRequest", "firefox", CLIENT, "custom")
    assert state_of(rpc)["actionRequest"] == "custom"
    rpc.ok("setProductActionRequest", "firefox", CLIENT, "uninstall")  # not installed: stored, no job
    assert state_of(rpc)["actionRequest"] == "uninstall"
    assert jobs(runtime, admin, cid) == []
    bad = rpc.error(
        "productOnClient_updateObjects",
        [{"productId": "firefox", "clientId": CLIENT, "installationStatus": "half"}],
    )
    assert (bad["class"], bad["message"]) == ("ValueError", "Bad installation status: 'half'")
    bad = rpc.error(
        "productOnClient_updateObjects", [{"productId": "firefox", "clientId": CLIENT, "actionResult": "meh"}]
    )
    assert bad["message"] == "Bad action result: 'meh'"
    # deleting forgets the state
    rpc.ok(
        "productOnClient_deleteObjects",
        [{"productId": "firefox", "productType": "LocalbootProduct", "clientId": CLIENT}],
    )
    assert poc(rpc) == []


def test_job_outcomes_write_the_state(rpc: Rpc, runtime: Runtime, admin: Actor) -> None:
    """The agent's notices and result (through the job service, as the agent endpoint stores
    them) move the state: progress while it runs, installed/successful at the end."""
    cid, _ = enroll(runtime, admin, "pc-1")
    rpc.ok("product_createObjects", [PRODUCT])
    rpc.ok("setProductActionRequest", "firefox", CLIENT, "once")
    assert state_of(rpc)["actionRequest"] == "once"  # the word given, carried by the job
    (job,) = runtime.services.deployments.computer_jobs(admin, [cid])
    now = time.time()
    runtime.services.jobs.record_updates(
        [(cid, m.JobUpdate(job_id=job.id, status="running", at=now, phase="install", progress=40))]
    )
    assert state_of(rpc)["actionProgress"] == "install 40%"
    runtime.services.jobs.record_results(
        [(cid, m.JobResult(job_id=job.id, status="succeeded", exit_code=0, started_at=now, finished_at=now))]
    )
    row = state_of(rpc)
    assert (
        row["installationStatus"],
        row["actionRequest"],
        row["lastAction"],
        row["actionResult"],
        row["productVersion"],
        row["packageVersion"],
        row["actionProgress"],
    ) == ("installed", "none", "setup", "successful", "128.0", "2", "")
    # an uninstall that fails: last action uninstall, failed, still installed
    rpc.ok("setProductActionRequest", "firefox", CLIENT, "uninstall")
    assert state_of(rpc)["actionRequest"] == "uninstall"
    job2 = runtime.services.deployments.computer_jobs(admin, [cid])[-1]
    runtime.services.jobs.record_results(
        [(cid, m.JobResult(job_id=job2.id, status="failed", exit_code=3, message="boom", finished_at=now))]
    )
    row = state_of(rpc)
    assert (row["installationStatus"], row["actionRequest"], row["lastAction"], row["actionResult"]) == (
        "installed",
        "none",
        "uninstall",
        "failed",
    )
    assert row["actionProgress"] == "boom"


def test_a_cancelled_job_ends_the_request(rpc: Rpc, runtime: Runtime, admin: Actor) -> None:
    cid, _ = enroll(runtime, admin, "pc-1")
    rpc.ok("product_createObjects", [PRODUCT])
    rpc.ok("setProductActionRequest", "firefox", CLIENT, "setup")
    (job,) = runtime.services.deployments.computer_jobs(admin, [cid])
    runtime.services.jobs.cancel(admin, job.id)
    row = state_of(rpc)
    assert (row["actionRequest"], row["actionResult"], row["installationStatus"]) == (
        "none",
        "failed",
        "not_installed",
    )


def test_the_clients_own_login_reports_progress(
    client: TestClient, rpc: Rpc, runtime: Runtime, admin: Actor
) -> None:
    cid, key = enroll(runtime, admin, "pc-1")
    enroll(runtime, admin, "pc-2")
    rpc.ok("product_createObjects", [PRODUCT])
    host = Rpc(client, CLIENT, key)
    host.ok("setProductActionProgress", "firefox", CLIENT, {"progress": "50%"})
    assert state_of(rpc)["actionProgress"] == "{'progress': '50%'}"
    host.ok(
        "productOnClient_updateObjects",
        [
            {
                "productId": "firefox",
                "clientId": CLIENT,
                "installationStatus": "installed",
                "actionResult": "successful",
            }
        ],
    )
    assert (state_of(rpc)["installationStatus"], state_of(rpc)["actionResult"]) == ("installed", "successful")
    assert len(runtime.services.packages.list_installations(admin, computer_id=cid)) == 1
    # another client's state: refused; a job request from the client itself: refused by core
    other = host.error("setProductActionProgress", "firefox", "pc-2.fleetdeck.local", {"progress": "1%"})
    assert other["class"] == "BackendPermissionDeniedError"
    denied = host.error("setProductActionRequest", "firefox", CLIENT, "setup")
    assert denied["class"] == "BackendPermissionDeniedError", denied
    assert jobs(runtime, admin, cid) == []
    # the client reads its own states only
    assert [r["clientId"] for r in host.ok("productOnClient_getObjects")] == [CLIENT]


def test_state_changes_are_audited(rpc: Rpc, runtime: Runtime, admin: Actor) -> None:
    cid, _ = enroll(runtime, admin, "pc-1")
    rpc.ok("product_createObjects", [PRODUCT])
    rpc.ok(
        "productOnClient_updateObjects",
        [{"productId": "firefox", "clientId": CLIENT, "lastAction": "setup", "actionResult": "failed"}],
    )
    entries = [e for e in factories.audit_since(runtime.services, 0) if e.action == "package_state.set"]
    assert len(entries) == 1
    assert entries[0].object_id == str(cid)
    assert entries[0].detail["changes"] == {"last_action": "setup", "action_result": "failed"}


def test_modification_time_is_the_stored_utc_time_in_opsis_format(
    rpc: Rpc, runtime: Runtime, admin: Actor
) -> None:
    """The database makes the text (issue #13's speed-up): the stored time, microseconds and
    all, is shown as opsi does, UTC to the second, on SQLite and PostgreSQL alike."""
    enroll(runtime, admin, "pc-1")
    rpc.ok("product_createObjects", [PRODUCT])
    rpc.ok("setProductActionRequest", "firefox", CLIENT, "setup")
    stored = datetime(2024, 5, 1, 12, 34, 56, 987654, tzinfo=timezone(timedelta(hours=2)))
    with UnitOfWork(runtime.db) as uow:
        uow.session.execute(update(PackageState).values(modified_at=stored))
    assert state_of(rpc)["modificationTime"] == "2024-05-01 10:34:56"
    assert stored.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") == "2024-05-01 10:34:56"


def test_filters_naming_no_known_client_or_product_read_nothing(
    rpc: Rpc, runtime: Runtime, admin: Actor
) -> None:
    """Empty ``IN`` lists in the states' query (the driver's SQL, issue #13's speed-up)."""
    enroll(runtime, admin, "pc-1")
    rpc.ok("product_createObjects", [PRODUCT])
    rpc.ok("setProductActionRequest", "firefox", CLIENT, "setup")
    assert rpc.ok("productOnClient_getObjects", [], {"clientId": "nobody.fleetdeck.local"}) == []
    assert rpc.ok("productOnClient_getObjects", [], {"productId": "nothing"}) == []
    assert [r["productId"] for r in rpc.ok("productOnClient_getObjects", [], {"clientId": CLIENT})] == [
        "firefox"
    ]
