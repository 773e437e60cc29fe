"""The UI's deployment pages through HTTP: create (computers, groups, options) read back from
core with its audit record, errors next to their fields, the page with its jobs, the event
stream while jobs run and after, cancel, remove, delete; deployment rules (create, edit,
delete); CSRF; a viewer who sees no write action and whose forged forms core refuses."""

from __future__ import annotations

import json
import threading
import time
import warnings
from datetime import UTC, datetime

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from fastapi.testclient import TestClient

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from fleetdeck.core.errors import NotFound
from fleetdeck.core.jobs.entities import JobStatus
from tests import factories
from tests.web.conftest import login, sse_events


def _form(csrf: str, **changes: object) -> dict[str, object]:
    return {
        "csrf_token": csrf,
        "name": "roll out",
        "description": "",
        "start": "",
        "end": "",
        "restart_timeout_min": "5",
        "sequence_mode": "0",
        "priority": "0",
        **changes,
    }


def test_deploy_to_computers_and_a_group(client: TestClient, runtime: Runtime, alice: Actor) -> None:
    s = runtime.services
    one = factories.computer(s, alice, "pc1")
    two = factories.computer(s, alice, "pc2")
    three = factories.computer(s, alice, "pc3")
    gid = factories.group(s, alice, "lab", [three])
    p = factories.package(s, alice, "Tool", "1.0")
    csrf = login(client, "alice")
    form = client.get(f"/deployments/new?computer={one}&computer={two}&package={p.id}")
    assert form.status_code == 200
    assert "pc1" in form.text and "pc2" in form.text and "lab (1)" in form.text
    assert f'<option value="{p.id}" selected>' in form.text
    for field in (
        "name",
        "package",
        "computer_group",
        "start",
        "end",
        "priority",
        "sequence_mode",
        "use_wol",
    ):
        assert f'<label for="{field}"' in form.text, field
    mark = factories.audit_mark(s)
    r = client.post(
        "/deployments",
        data=_form(
            csrf,
            computer=[str(one)],
            computer_names="pc2\r\n",  # by name
            computer_group=[str(gid)],
            package=[str(p.id)],
            start="2026-01-02T03:04",
            priority="7",
            sequence_mode="1",
            force_same_version="1",
        ),
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    container_id = int(r.headers["location"].rsplit("/", 1)[1])
    info = s.deployments.get_container(alice, container_id)
    assert (info.name, info.priority, info.sequence_mode, info.force_same_version) == ("roll out", 7, 1, True)
    assert info.start_at == datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
    jobs = s.deployments.container_jobs(alice, container_id)
    assert sorted(j.computer_id for j in jobs) == [one, two, three]
    [entry] = [a for a in factories.audit_since(s, mark) if a.action == "deployment.create"]
    assert (entry.username, entry.via, entry.result) == ("alice", "web", "ok")
    page = client.get(f"/deployments/{container_id}")
    assert page.status_code == 200
    followed = "&amp;".join(f"job={j.id}" for j in sorted(jobs, key=lambda j: j.computer_id))
    assert f'data-events="/deployments/{container_id}/events?{followed}"' in page.text  # pending: live
    assert page.text.count(">Cancel</button>") == 3
    assert all(f'id="job-{j.id}"' in page.text for j in jobs)
    listing = client.get("/deployments")
    assert f'href="/deployments/{container_id}"' in listing.text and "3 queued" in listing.text
    assert f'href="/deployments/{container_id}"' in client.get("/").text  # in progress, on the dashboard
    assert f'href="/deployments/new?computer={one}"' in client.get(f"/computers/{one}").text


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"name": " "}, "name", "the name cannot be empty"),
        ({"package": []}, "package", "Choose at least one package or package group."),
        ({"computer": []}, "computer", "Choose at least one computer or computer group."),
        ({"start": "tomorrow"}, "start", "is not a date and time"),
        ({"start": "2026-01-02T10:00", "end": "2026-01-02T09:00"}, "end", "before the start time"),
        ({"restart_timeout_min": "0"}, "restart_timeout_min", "from 1 to 10000"),
        ({"priority": "-101"}, "priority", "from -100 to 100"),
        ({"sequence_mode": "2"}, "sequence_mode", "Choose what happens after a failed job."),
        ({"computer_names": "pc1, ghost"}, "computer_names", "No computer is named ghost."),
        ({"package": ["424242"]}, "form", "select at least one computer and one package"),
    ],
)
def test_bad_deployment_forms_say_why_next_to_the_field(
    client: TestClient, runtime: Runtime, alice: Actor, changes: dict[str, object], field: str, message: str
) -> None:
    cid = factories.computer(runtime.services, alice, "pc1")
    p = factories.package(runtime.services, alice, "Tool")
    csrf = login(client, "alice")
    data = _form(csrf, computer=[str(cid)], package=[str(p.id)])
    data.update(changes)
    r = client.post("/deployments", data=data)
    assert r.status_code == 400
    assert f'id="{field}-error"' in r.text
    assert message in r.text
    assert runtime.services.deployments.list_containers(alice) == []
    if field != "computer":
        assert f'name="computer" value="{cid}" checked' in r.text  # the choice is kept


def test_events_follow_the_jobs_until_they_end(client: TestClient, runtime: Runtime, alice: Actor) -> None:
    s = runtime.services
    cid = factories.computer(s, alice, "pc1")
    p = factories.package(s, alice, "Tool")
    created = factories.deployment(s, alice, [cid], [p.id])
    [job_id] = created.job_ids
    factories.deliver(s, cid)
    login(client, "alice")

    def agent() -> None:
        time.sleep(1.5)
        factories.finish(s, cid, job_id, exit_code=0)

    threading.Thread(target=agent, daemon=True).start()
    with client.stream("GET", f"/deployments/{created.id}/events?job={job_id}") as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        text = "".join(r.iter_text())
    events = sse_events(text)
    assert [e for e, _ in events] == ["state", "state", "end"]
    first, last = events[0][1], events[1][1]
    assert first["live"] is True and first["jobs"][0]["status"] == "sent"  # type: ignore[index]
    assert (last["status"], last["live"]) == ("succeeded", False)
    assert (first["counts"], last["counts"]) == ({"sent": 1}, {"succeeded": 1})
    assert last["jobs"] == [  # type: ignore[comparison-overlap]
        {
            "id": job_id,
            "status": "succeeded",
            "final": True,
            "phase": "",
            "progress": None,
            "bytes": None,
            "total": None,
            "exit_code": 0,
            "message": "",
        }
    ]
    page = client.get(f"/deployments/{created.id}")
    assert "data-events" not in page.text  # done: nothing to follow


def test_a_large_deployment_is_paged_and_filtered_in_the_database(
    client: TestClient, runtime: Runtime, alice: Actor
) -> None:
    s = runtime.services
    computers = [factories.computer(s, alice, f"pc{k:03d}") for k in range(120)]
    p = factories.package(s, alice, "Tool")
    created = factories.deployment(s, alice, computers, [p.id])
    by_computer = dict(zip(computers, created.job_ids, strict=True))
    factories.deliver(s, computers[7])
    factories.finish(s, computers[7], by_computer[computers[7]], exit_code=1)
    login(client, "alice")
    first = client.get(f"/deployments/{created.id}")
    assert first.status_code == 200
    assert first.text.count('data-job="') == 50 and "120 jobs, page 1 of 3" in first.text
    assert 'id="job-' + str(by_computer[computers[0]]) + '"' in first.text
    assert 'id="job-' + str(by_computer[computers[50]]) + '"' not in first.text
    assert "queued (119)" in first.text and "failed (1)" in first.text and "all (120)" in first.text
    third = client.get(f"/deployments/{created.id}?page=3")
    assert third.text.count('data-job="') == 20
    assert f'id="job-{by_computer[computers[119]]}"' in third.text
    # only the jobs on screen are followed live, never the whole deployment
    events = third.text.split('data-events="', 1)[1].split('"', 1)[0]
    assert events.count("job=") == 20 and f"job={by_computer[computers[119]]}" in events
    failed = client.get(f"/deployments/{created.id}?status=failed")
    assert failed.text.count('data-job="') == 1 and f'id="job-{by_computer[computers[7]]}"' in failed.text
    assert (
        "1 job failed" in failed.text
        and '<option value="failed" data-state="failed" selected>' in failed.text
    )
    assert 'id="deploy-again"' in failed.text and f"computer={computers[7]}" in failed.text
    none = client.get(f"/deployments/{created.id}?status=running")
    assert none.status_code == 200 and "No job is running." in none.text
    bad = client.get(f"/deployments/{created.id}?status=%3Cscript%3E")
    assert bad.status_code == 400 and 'id="status-error"' in bad.text and "<script>" not in bad.text
    assert bad.text.count('data-job="') == 50  # every job, as without a filter
    # the stream sends the followed jobs only (unknown ids and other deployments' jobs left out)
    other = factories.deployment(s, alice, [computers[0]], [p.id], force_same_version=True).job_ids[0]
    wanted = [by_computer[computers[3]], by_computer[computers[7]], other, 424242]
    with client.stream(
        "GET", f"/deployments/{created.id}/events?" + "&".join(f"job={j}" for j in wanted)
    ) as r:
        for line in r.iter_lines():
            if line.startswith("data: "):
                state = json.loads(line[6:])
                break
    assert sorted(j["id"] for j in state["jobs"]) == sorted(wanted[:2])
    assert state["counts"] == {"failed": 1, "queued": 119} and state["live"] is True


def test_events_need_a_session_and_a_known_deployment(client: TestClient, alice: Actor) -> None:
    assert client.get("/deployments/1/events").status_code == 401
    login(client, "alice")
    events = sse_events(client.get("/deployments/424242/events").text)
    assert events == [("failure", {"message": "job container 424242 not found"}), ("end", {})]


def test_cancel_remove_and_delete(client: TestClient, runtime: Runtime, alice: Actor) -> None:
    s = runtime.services
    one = factories.computer(s, alice, "pc1")
    two = factories.computer(s, alice, "pc2")
    p = factories.package(s, alice, "Tool")
    created = factories.deployment(s, alice, [one, two], [p.id])
    first, second = created.job_ids
    csrf = login(client, "alice")
    r = client.post(f"/deployment-jobs/{first}/cancel", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/deployments/{created.id}#job-{first}"
    assert s.jobs.get(alice, first).status is JobStatus.CANCELLED
    again = client.post(f"/deployment-jobs/{first}/cancel", data={"csrf_token": csrf})
    assert again.status_code == 409
    r = client.post(
        f"/deployment-jobs/{second}/delete",
        data={"csrf_token": csrf, "container": str(created.id)},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == f"/deployments/{created.id}"
    assert [j.id for j in s.deployments.container_jobs(alice, created.id)] == [first]
    r = client.post(f"/deployments/{created.id}/delete", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    with pytest.raises(NotFound):
        s.deployments.get_container(alice, created.id)
    assert client.get(f"/deployments/{created.id}").status_code == 404


def test_a_failed_job_offers_a_new_deployment_to_its_computer(
    client: TestClient, runtime: Runtime, alice: Actor
) -> None:
    s = runtime.services
    cid = factories.computer(s, alice, "pc1")
    p = factories.package(s, alice, "Tool")
    created = factories.deployment(s, alice, [cid], [p.id])
    factories.deliver(s, cid)
    factories.finish(s, cid, created.job_ids[0], status="failed", exit_code=1)
    login(client, "alice")
    page = client.get(f"/deployments/{created.id}")
    assert f'href="/deployments/new?computer={cid}&amp;package={p.id}"' in page.text
    form = client.get(f"/deployments/new?computer={cid}&package={p.id}")
    assert f'name="computer" value="{cid}" checked' in form.text


def test_rules_are_created_edited_and_deleted(client: TestClient, runtime: Runtime, alice: Actor) -> None:
    s = runtime.services
    cid = factories.computer(s, alice, "pc1")
    gid = factories.group(s, alice, "lab", [cid])
    p = factories.package(s, alice, "Tool")
    pg = factories.package_group(s, alice, "basics", [p.id])
    csrf = login(client, "alice")
    page = client.get("/deployment-rules")
    assert 'id="rule-form"' in page.text and "basics (1)" in page.text
    data = {
        "csrf_token": csrf,
        "name": "keep basics",
        "notes": "",
        "computer_group_id": str(gid),
        "package_group_id": str(pg),
        "priority": "3",
        "sequence_mode": "0",
        "post_action_timeout_min": "5",
        "enabled": "1",
    }
    mark = factories.audit_mark(s)
    r = client.post("/deployment-rules", data=data, follow_redirects=False)
    assert r.status_code == 303, r.text
    [rule] = s.deployments.list_rules(alice)
    assert (rule.name, rule.priority, rule.enabled, rule.computer_group_id) == ("keep basics", 3, True, gid)
    assert [j.computer_id for j in s.deployments.rule_jobs(alice, rule.id)] == [cid]  # the rule acts
    detail = client.get(f"/deployment-rules/{rule.id}")
    assert "pc1" in detail.text and 'value="keep basics"' in detail.text
    r = client.post(
        f"/deployment-rules/{rule.id}",
        data={**data, "name": "renamed", "enabled": ""},
        follow_redirects=False,
    )
    assert r.status_code == 303
    got = s.deployments.get_rule(alice, rule.id)
    assert (got.name, got.enabled) == ("renamed", False)
    bad = client.post(f"/deployment-rules/{rule.id}", data={**data, "package_group_id": "424242"})
    assert bad.status_code == 400 and 'id="package_group_id-error"' in bad.text
    bad = client.post("/deployment-rules", data={**data, "computer_group_id": ""})
    assert bad.status_code == 400 and 'id="computer_group_id-error"' in bad.text
    bad = client.post("/deployment-rules", data={**data, "post_action_timeout_min": "0"})
    assert bad.status_code == 400 and 'id="post_action_timeout_min-error"' in bad.text
    bad = client.post("/deployment-rules", data={**data, "name": ""})
    assert bad.status_code == 400 and 'id="name-error"' in bad.text
    r = client.post(f"/deployment-rules/{rule.id}/delete", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert s.deployments.list_rules(alice) == []
    actions = [a.action for a in factories.audit_since(s, mark) if a.via == "web" and a.result == "ok"]
    assert actions == ["deployment_rule.create", "deployment_rule.update", "deployment_rule.delete"]


def test_writes_need_the_csrf_token(client: TestClient, runtime: Runtime, alice: Actor) -> None:
    s = runtime.services
    cid = factories.computer(s, alice, "pc1")
    p = factories.package(s, alice, "Tool")
    created = factories.deployment(s, alice, [cid], [p.id])
    login(client, "alice")
    for path in (
        "/deployments",
        f"/deployments/{created.id}/delete",
        f"/deployment-jobs/{created.job_ids[0]}/cancel",
        f"/deployment-jobs/{created.job_ids[0]}/delete",
        "/deployment-rules",
    ):
        r = client.post(path, data={"name": "x", "computer": [str(cid)], "package": [str(p.id)]})
        assert r.status_code == 403, path
    assert len(s.deployments.list_containers(alice)) == 1
    assert s.jobs.get(alice, created.job_ids[0]).status is JobStatus.QUEUED


def test_a_viewer_sees_no_write_action_and_core_refuses_forged_forms(
    client: TestClient, runtime: Runtime, alice: Actor, victor: Actor
) -> None:
    s = runtime.services
    cid = factories.computer(s, alice, "pc1")
    gid = factories.group(s, alice, "lab", [cid])
    p = factories.package(s, alice, "Tool")
    pg = factories.package_group(s, alice, "basics", [p.id])
    created = factories.deployment(s, alice, [cid], [p.id])
    rule = s.deployments.create_rule(alice, "keep", gid, pg)
    csrf = login(client, "victor")
    listing = client.get("/deployments")
    assert listing.status_code == 200 and "deployment" in listing.text
    assert 'id="new-deployment"' not in listing.text
    page = client.get(f"/deployments/{created.id}")
    assert page.status_code == 200
    assert '<form method="post"' not in page.text.split('id="main"')[1]  # no write action at all
    assert "/deployments/new" not in client.get(f"/computers/{cid}").text
    rules = client.get("/deployment-rules")
    assert "keep" in rules.text and 'id="rule-form"' not in rules.text
    assert 'id="rule-form"' not in client.get(f"/deployment-rules/{rule.id}").text
    assert client.get("/deployments/new").status_code == 403
    mark = factories.audit_mark(s)
    forged = [
        ("/deployments", _form(csrf, computer=[str(cid)], package=[str(p.id)])),
        (f"/deployments/{created.id}/delete", {"csrf_token": csrf}),
        (f"/deployment-jobs/{created.job_ids[0]}/cancel", {"csrf_token": csrf}),
        (f"/deployment-jobs/{created.job_ids[0]}/delete", {"csrf_token": csrf}),
        (
            "/deployment-rules",
            {
                "csrf_token": csrf,
                "name": "x",
                "computer_group_id": str(gid),
                "package_group_id": str(pg),
                "priority": "0",
                "sequence_mode": "0",
                "post_action_timeout_min": "5",
            },
        ),
        (f"/deployment-rules/{rule.id}/delete", {"csrf_token": csrf}),
    ]
    for path, data in forged:
        assert client.post(path, data=data).status_code == 403, path
    assert len(s.deployments.list_containers(alice)) == 1
    assert len(s.deployments.container_jobs(alice, created.id)) == 1
    assert [r.id for r in s.deployments.list_rules(alice)] == [rule.id]
    denied = {a.action for a in factories.audit_since(s, mark) if a.result == "denied"}
    assert denied == {
        "deployment.create",
        "deployment.delete",
        "job.cancel",
        "deployment.delete_job",
        "deployment_rule.create",
        "deployment_rule.delete",
    }


def test_odd_deployment_urls_are_plain_answers(client: TestClient, alice: Actor) -> None:
    login(client, "alice")
    assert client.get("/deployments?page=-1").status_code == 200
    assert client.get("/deployments/new?computer=x&package=-1").status_code == 200
    for path in ("/deployments/0", "/deployments/424242", "/deployment-rules/424242"):
        r = client.get(path)
        assert r.status_code == 404, path
        assert "not found" in r.text
