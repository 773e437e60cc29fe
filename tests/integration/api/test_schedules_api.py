"""/api/v1 schedules: create/read/replace/delete, a tick's run listed under
``/schedules/{id}/runs``, refusals (viewers, someone else's schedule, bad cron as 422), and a
constant number of statements per list whatever its size."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import update

from fleetdeck.app import Runtime
from fleetdeck.storage.tables import Schedule
from tests import factories
from tests.integration.api.conftest import Api, assert_error
from tests.integration.queries.test_list_query_counts import counting

BODY = {"name": "s", "cron": "*/5 * * * *", "content": "uptime", "timeout_sec": 30}


def test_crud_runs_and_refusals(runtime: Runtime, admin_api: Api, operator_api: Api, viewer_api: Api) -> None:
    cid = admin_api.post("/computers", json={"hostname": "pc-1"}).json()["data"]["id"]
    r = admin_api.post("/schedules", json={**BODY, "computer_ids": [cid], "catch_up": True})
    assert r.status_code == 201, r.text
    item = r.json()["data"]
    assert (item["cron"], item["created_by"], item["catch_up"], item["last_run"]) == (
        "*/5 * * * *",
        "admin",
        True,
        None,
    )
    sid = item["id"]
    assert admin_api.get(f"/schedules/{sid}").json()["data"] == item
    with runtime.db.sessions() as s, s.begin():
        s.execute(update(Schedule).where(Schedule.id == sid).values(next_run_at=datetime.now(UTC)))
    batch = runtime.services.schedules.run_due().ran[item["uid"]]
    runs = admin_api.get(f"/schedules/{sid}/runs").json()
    assert runs["meta"]["count"] == 1 and runs["data"][0]["id"] == batch
    [job_id] = factories.deliver(runtime.services, cid)
    factories.finish(runtime.services, cid, job_id)
    last = admin_api.get(f"/schedules/{sid}").json()["data"]["last_run"]
    assert last["batch_id"] == batch and last["counts"] == {"succeeded": 1}
    put = admin_api.put(f"/schedules/{sid}", json={**BODY, "cron": "@hourly", "tags": ["web"]})
    assert put.status_code == 200 and put.json()["data"]["tags"] == ["web"]
    assert_error(admin_api.post("/schedules", json={**BODY, "cron": "* * * * * *", "tags": ["x"]}), 422)
    assert_error(admin_api.post("/schedules", json={**BODY, "computer_ids": [999]}), 404)
    assert_error(viewer_api.get("/schedules"), 403)
    assert_error(operator_api.put(f"/schedules/{sid}", json={**BODY, "tags": ["x"]}), 403)
    assert_error(operator_api.delete(f"/schedules/{sid}"), 403)
    assert admin_api.delete(f"/schedules/{sid}").status_code == 204
    assert_error(admin_api.get(f"/schedules/{sid}"), 404)
    assert_error(admin_api.get(f"/schedules/{sid}/runs"), 404)


def test_list_statements_are_constant(runtime: Runtime, admin_api: Api) -> None:
    def statements() -> int:
        with counting(runtime.db) as seen:
            r = admin_api.get("/schedules", params={"page[limit]": 1000})
        assert r.status_code == 200, r.text
        return len([s for s in seen if "schedules" in s or "FROM jobs" in s])

    admin_api.post("/schedules", json={**BODY, "tags": ["web"]})
    one = statements()
    for i in range(10):
        admin_api.post("/schedules", json={**BODY, "name": f"s{i}", "tags": ["web"]})
    assert statements() == one == 2  # a count and a select (no run yet: no job counts)
