"""Commands and jobs, with no agent connected: everything stays queued until cancelled."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from tests.integration.api.conftest import Api, assert_error
from tests.integration.api.test_groups import computer, group

JOB_FIELDS = {
    "id",
    "batch_id",
    "computer_id",
    "kind",
    "status",
    "exit_code",
    "stdout",
    "stderr",
    "message",
    "output_truncated",
    "created_at",
    "created_by",
    "sent_at",
    "started_at",
    "finished_at",
    "expires_at",
    "command",
}


@pytest.fixture
def targets(admin_api: Api) -> dict[str, int]:
    ids = {h: computer(admin_api, h) for h in ("pc-1", "pc-2", "pc-3")}
    gid = group(admin_api, "Lab")
    admin_api.post(f"/groups/{gid}/members", json={"computer_ids": [ids["pc-2"], ids["pc-3"]]})
    return {**ids, "group": gid}


def run(api: Api, **body: Any) -> dict[str, Any]:
    r = api.post("/commands", json={"command": "uname -a", **body})
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()["data"]
    return data


def test_command_creates_queued_jobs(admin_api: Api, targets: dict[str, int]) -> None:
    created = run(
        admin_api,
        computer_ids=[targets["pc-1"], targets["pc-2"]],
        group_ids=[targets["group"]],
        interpreter="bash",
        cwd="/tmp",
        timeout_sec=60,
        env={"LANG": "C"},
        expires_in_sec=3600,
    )
    assert len(created["job_ids"]) == 3  # pc-2 is named twice but gets one job

    job = admin_api.get(f"/jobs/{created['job_ids'][0]}").json()["data"]
    assert set(job) >= JOB_FIELDS
    assert job["status"] == "queued"
    assert job["batch_id"] == created["id"]
    assert job["kind"] == "command"
    assert job["created_by"] == "admin"
    assert job["exit_code"] is None
    assert job["expires_at"] is not None
    assert job["command"] == {
        "command": "uname -a",
        "interpreter": "bash",
        "cwd": "/tmp",
        "timeout_sec": 60,
        "env": {"LANG": "C"},
    }

    batch = admin_api.get(f"/commands/{created['id']}").json()["data"]
    assert batch["counts"] == {"queued": 3}
    assert batch["job_ids"] == created["job_ids"]
    assert batch["command"]["command"] == "uname -a"

    jobs = admin_api.get(
        "/jobs", params={"filter[batch_id]": created["id"], "filter[status]": "queued"}
    ).json()
    assert jobs["meta"]["count"] == 3
    mine = admin_api.get(f"/computers/{targets['pc-1']}/jobs").json()
    assert mine["meta"]["count"] == 1
    assert mine["data"][0]["computer_id"] == targets["pc-1"]


def test_defaults(admin_api: Api, targets: dict[str, int]) -> None:
    created = run(admin_api, computer_ids=[targets["pc-1"]])
    job = admin_api.get(f"/jobs/{created['job_ids'][0]}").json()["data"]
    assert job["command"] == {"command": "uname -a", "timeout_sec": 300}
    assert job["expires_at"] is None


def test_cancel(admin_api: Api, targets: dict[str, int]) -> None:
    jid = run(admin_api, computer_ids=[targets["pc-1"]])["job_ids"][0]
    r = admin_api.post(f"/jobs/{jid}/cancel")
    assert r.status_code == 200
    assert r.json()["data"]["status"] == "cancelled"
    assert r.json()["data"]["finished_at"] is not None
    assert admin_api.get(f"/jobs/{jid}").json()["data"]["status"] == "cancelled"
    assert_error(admin_api.post(f"/jobs/{jid}/cancel"), 409, "conflict")
    assert_error(admin_api.post("/jobs/999999/cancel"), 404)


def test_a_viewer_cannot_cancel(admin_api: Api, viewer_api: Api, targets: dict[str, int]) -> None:
    jid = run(admin_api, computer_ids=[targets["pc-1"]])["job_ids"][0]
    error = assert_error(viewer_api.post(f"/jobs/{jid}/cancel"), 403, "permission_denied")
    assert "run_commands" in error["message"]
    job = admin_api.get(f"/jobs/{jid}").json()["data"]
    assert (job["status"], job["finished_at"], job["message"]) == ("queued", None, "")
    rows = admin_api.get("/audit", params={"filter[action]": "job.cancel"}).json()["data"]
    assert [(a["username"], a["object_type"], a["object_id"], a["result"], a["via"]) for a in rows] == [
        ("victor", "job", str(jid), "denied", "api")
    ]


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"computer_ids": [999999]}, 404, None),
        ({"group_ids": [999999]}, 404, None),
        ({}, 422, "computer_ids"),
        ({"computer_ids": []}, 422, "computer_ids"),
        ({"interpreter": "fish"}, 422, "body.interpreter"),
        ({"timeout_sec": 0}, 422, "timeout_sec"),
        ({"timeout_sec": 10**9}, 422, "timeout_sec"),
        ({"expires_in_sec": 0}, 422, "body.expires_in_sec"),
        ({"command": ""}, 422, "body.command"),
        ({"command": "   "}, 422, "command"),
        ({"env": {"A=B": "x"}}, 422, "env"),
        ({"computer_ids": ["1"]}, 422, "body.computer_ids.0"),
        ({"computer_ids": [0]}, 422, "body.computer_ids.0"),
        ({"cwd": "/\x00"}, 422, "body.cwd"),
    ],
)
def test_bad_commands(
    admin_api: Api, targets: dict[str, int], body: dict[str, Any], status: int, field: str | None
) -> None:
    payload = {"command": "true", "computer_ids": [targets["pc-1"]], **body}
    if "computer_ids" not in body and ("group_ids" in body or body == {}):
        payload.pop("computer_ids")
    error = assert_error(
        admin_api.post("/commands", json=payload),
        status,
        "not_found" if status == 404 else "validation_failed",
    )
    assert admin_api.get("/jobs").json()["meta"]["count"] == 0
    detail = error["detail"]
    if field is None:
        assert detail["object_id"] == 999999, error
        return
    found = [e["field"] for e in detail["errors"]] if "errors" in detail else [detail["field"]]
    assert field in found, error


def test_empty_group_is_422(admin_api: Api) -> None:
    gid = group(admin_api, "Empty")
    assert_error(admin_api.post("/commands", json={"command": "true", "group_ids": [gid]}), 422)


def test_unknown_batch_and_job(admin_api: Api) -> None:
    assert_error(admin_api.get("/commands/999999"), 404)
    assert_error(admin_api.get("/jobs/999999"), 404)
    assert_error(admin_api.get("/jobs", params={"filter[status][gt]": "x", "filter[nope]": "1"}), 422)


@pytest.mark.parametrize("wait", ["-1", "56", "soon", "nan"])
def test_a_commands_wait_out_of_range_is_422(admin_api: Api, targets: dict[str, int], wait: str) -> None:
    created = admin_api.post("/commands", json={"command": "true", "computer_ids": [targets["pc-1"]]})
    assert_error(admin_api.get(f"/commands/{created.json()['data']['id']}", params={"wait": wait}), 422)


def test_a_commands_wait_answers_after_the_wait_when_jobs_stay_open(
    admin_api: Api, targets: dict[str, int]
) -> None:
    # no agent is connected: the job stays queued, the long poll ends with the wait
    created = admin_api.post("/commands", json={"command": "true", "computer_ids": [targets["pc-1"]]})
    r = admin_api.get(f"/commands/{created.json()['data']['id']}", params={"wait": "0.2"})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["counts"] == {"queued": 1}


def test_a_caller_may_hold_only_so_many_waits_at_once(
    app: Starlette, admin_api: Api, viewer_api: Api, targets: dict[str, int]
) -> None:
    (v1,) = [r.app for r in app.routes if isinstance(r, Mount) and r.path == "/api/v1"]
    v1.state.command_waits.per_caller = 1  # the default is 8: one shows the rule
    batch = admin_api.post("/commands", json={"command": "true", "computer_ids": [targets["pc-1"]]})
    path = f"/commands/{batch.json()['data']['id']}"
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(admin_api.get, path, params={"wait": "2"})
        deadline = time.monotonic() + 10
        while v1.state.command_waits.held("admin") < 1:  # the first is waiting (for 2 s)
            assert time.monotonic() < deadline and not first.done(), "the first wait never began"
            time.sleep(0.01)
        second = admin_api.get(path, params={"wait": "2"})
        other = viewer_api.get(path, params={"wait": "0.2"})  # another caller's share is its own
        at_once = admin_api.get(path)  # no wait: no slot needed
        assert first.result().status_code == 200
    assert_error(second, 429)
    assert second.headers["retry-after"] == "1"
    assert "at most 1 waits at once per caller" in second.text
    assert (other.status_code, at_once.status_code) == (200, 200)
    assert admin_api.get(path, params={"wait": "0.2"}).status_code == 200  # the slot came back


def test_actions_create_short_lived_action_jobs(admin_api: Api, targets: dict[str, int]) -> None:
    r = admin_api.post("/actions", json={"action": "reboot", "group_ids": [targets["group"]], "delay_min": 5})
    assert r.status_code == 201, r.text
    created = r.json()["data"]
    assert len(created["job_ids"]) == 2
    job = admin_api.get(f"/jobs/{created['job_ids'][0]}").json()["data"]
    assert job["kind"] == "action" and job["status"] == "queued"
    assert job["expires_at"] is not None  # 5 minutes by default: no reboot days later
    batch = admin_api.get(f"/commands/{created['id']}").json()["data"]
    assert batch["kind"] == "action" and batch["command"] == {"action": "reboot", "delay_min": 5}
    msg = admin_api.post(
        "/actions", json={"action": "message", "message": "hi", "computer_ids": [targets["pc-1"]]}
    )
    assert msg.status_code == 201
    (message_job,) = msg.json()["data"]["job_ids"]
    job = admin_api.get(f"/jobs/{message_job}").json()["data"]
    assert (job["computer_id"], job["kind"], job["status"]) == (targets["pc-1"], "action", "queued")
    audit = admin_api.get("/audit", params={"filter[action]": "action.*"}).json()["data"]
    assert {a["action"] for a in audit} == {"action.reboot", "action.message"}


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"action": "explode"}, 422),
        ({"action": "message"}, 422),  # a message needs text
        ({"action": "message", "message": "   "}, 422),
        ({"action": "reboot", "delay_min": 1441}, 422),
        ({"action": "reboot", "computer_ids": [999999]}, 404),
    ],
)
def test_bad_actions(admin_api: Api, targets: dict[str, int], body: dict[str, Any], status: int) -> None:
    payload = {"computer_ids": [targets["pc-1"]], **body}
    assert_error(
        admin_api.post("/actions", json=payload),
        status,
        "not_found" if status == 404 else "validation_failed",
    )
    assert admin_api.get("/jobs").json()["meta"]["count"] == 0


def test_viewers_may_not_reboot(viewer_api: Api, admin_api: Api, targets: dict[str, int]) -> None:
    body = {"action": "reboot", "computer_ids": [targets["pc-1"]]}
    assert_error(viewer_api.post("/actions", json=body), 403, "permission_denied")
    assert admin_api.get("/jobs").json()["meta"]["count"] == 0
