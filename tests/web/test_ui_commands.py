"""The UI's command pages through HTTP: the form from a selection, the job read back with its
audit record, errors next to their fields, cancel, the history, the event stream of a job, and
a viewer who sees no write action and whose forged form core refuses."""

from __future__ import annotations

import threading
import time
import warnings

import pytest
from starlette.applications import Starlette

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from fastapi.testclient import TestClient

from fleetdeck.api.kit.concurrency import PerCaller
from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from fleetdeck.core.jobs.entities import JobStatus
from fleetdeck.core.query import Cond, Op, Query
from fleetdeck.web.app import BUSY_RETRY_MS
from tests import factories
from tests.web.conftest import login, sse_events


def test_run_a_command_on_a_selection(client: TestClient, runtime: Runtime, alice: Actor) -> None:
    one = factories.computer(runtime.services, alice, "pc1")
    two = factories.computer(runtime.services, alice, "pc2")
    csrf = login(client, "alice")
    listing = client.get("/computers")
    assert 'id="run-selected"' in listing.text
    assert f'name="computer" value="{one}"' in listing.text
    form = client.get(f"/commands/new?computer={one}&computer={two}&computer=bogus")
    assert form.status_code == 200
    assert "pc1" in form.text and "pc2" in form.text
    mark = factories.audit_mark(runtime.services)
    r = client.post(
        "/commands",
        data={"csrf_token": csrf, "computer": [str(one), str(two)], "command": "echo hi", "timeout": "60"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    batch_id = int(r.headers["location"].rsplit("/", 1)[1])
    jobs = runtime.services.jobs.find(alice, Query((Cond("batch_id", Op.EQ, batch_id),))).items
    assert sorted(j.computer_id for j in jobs) == [one, two]
    assert {j.spec["command"] for j in jobs} == {"echo hi"}
    assert {j.spec["timeout_sec"] for j in jobs} == {60}
    [entry] = [a for a in factories.audit_since(runtime.services, mark) if a.action == "command.create"]
    assert (entry.username, entry.via, entry.result) == ("alice", "web", "ok")
    page = client.get(f"/commands/{batch_id}")
    assert page.status_code == 200
    assert "echo hi" in page.text
    assert page.text.count('data-events="/jobs/') == 2  # both still queued: followed live
    assert page.text.count(">Cancel</button>") == 2
    history = client.get("/commands")
    assert f'href="/commands/{batch_id}#job-{jobs[0].id}"' in history.text
    detail = client.get(f"/computers/{one}")
    assert f'href="/commands/new?computer={one}"' in detail.text


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"command": "  "}, "Enter a command."),
        ({"timeout": "0"}, "The timeout is a number of seconds from 1 to 86400."),
        ({"timeout": "ten"}, "The timeout is a number of seconds from 1 to 86400."),
        ({"computer": []}, "Choose at least one computer."),
        ({"computer": ["999999"]}, "Computer 999999 no longer exists."),
    ],
)
def test_bad_command_forms_say_why_next_to_the_field(
    client: TestClient, runtime: Runtime, alice: Actor, fields: dict[str, object], message: str
) -> None:
    cid = factories.computer(runtime.services, alice, "pc1")
    csrf = login(client, "alice")
    data: dict[str, object] = {
        "csrf_token": csrf,
        "computer": [str(cid)],
        "command": "uptime",
        "timeout": "300",
    }
    data.update(fields)
    r = client.post("/commands", data=data)
    assert r.status_code == 400
    assert message in r.text
    assert 'role="alert"' in r.text
    assert runtime.services.jobs.find(alice, Query()).total == 0


def test_cancel_a_queued_job(client: TestClient, runtime: Runtime, alice: Actor) -> None:
    cid = factories.computer(runtime.services, alice, "pc1")
    [job_id] = factories.commands(runtime.services, alice, [cid], "sleep 100")
    csrf = login(client, "alice")
    assert client.post(f"/jobs/{job_id}/cancel", data={}).status_code == 403  # no CSRF token
    assert runtime.services.jobs.get(alice, job_id).status is JobStatus.QUEUED
    r = client.post(f"/jobs/{job_id}/cancel", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert runtime.services.jobs.get(alice, job_id).status is JobStatus.CANCELLED
    again = client.post(f"/jobs/{job_id}/cancel", data={"csrf_token": csrf})
    assert again.status_code == 409
    assert "already cancelled" in again.text


def test_events_of_a_finished_job(client: TestClient, runtime: Runtime, alice: Actor) -> None:
    cid = factories.computer(runtime.services, alice, "pc1")
    [job_id] = factories.commands(runtime.services, alice, [cid], "echo done")
    factories.deliver(runtime.services, cid)
    factories.finish(runtime.services, cid, job_id, exit_code=3, status="failed", stdout="done\n")
    login(client, "alice")
    r = client.get(f"/jobs/{job_id}/events")
    assert r.headers["content-type"].startswith("text/event-stream")
    events = sse_events(r.text)
    assert [e for e, _ in events] == ["job", "end"]
    job = events[0][1]
    assert (job["status"], job["exit_code"], job["stdout"], job["final"]) == ("failed", 3, "done\n", True)


def test_events_follow_a_running_job_until_it_ends(
    client: TestClient, runtime: Runtime, alice: Actor
) -> None:
    cid = factories.computer(runtime.services, alice, "pc1")
    [job_id] = factories.commands(runtime.services, alice, [cid], "echo later")
    factories.deliver(runtime.services, cid)
    login(client, "alice")

    def agent() -> None:
        time.sleep(0.5)
        factories.finish(runtime.services, cid, job_id, stdout="later\n")

    threading.Thread(target=agent, daemon=True).start()
    started = time.monotonic()
    with client.stream("GET", f"/jobs/{job_id}/events") as r:
        text = "".join(r.iter_text())
    events = sse_events(text)
    assert [e for e, _ in events] == ["job", "job", "end"]
    assert events[0][1]["status"] == "sent"
    assert (events[1][1]["status"], events[1][1]["stdout"]) == ("succeeded", "later\n")
    assert time.monotonic() - started < 15


def test_events_need_a_session_and_a_known_job(client: TestClient, runtime: Runtime, alice: Actor) -> None:
    assert client.get("/jobs/1/events").status_code == 401
    login(client, "alice")
    events = sse_events(client.get("/jobs/424242/events").text)
    assert events == [("failure", {"message": "job 424242 not found"}), ("end", {})]


def test_a_viewer_sees_no_run_command_and_core_refuses_a_forged_one(
    client: TestClient, runtime: Runtime, alice: Actor, victor: Actor
) -> None:
    cid = factories.computer(runtime.services, alice, "pc1")
    [job_id] = factories.commands(runtime.services, alice, [cid], "sleep 100")
    csrf = login(client, "victor")
    assert 'id="run-selected"' not in client.get("/computers").text
    assert 'name="computer"' not in client.get("/computers").text
    assert "Run a command" not in client.get(f"/computers/{cid}").text
    batch = runtime.services.jobs.get(alice, job_id).batch_id
    page = client.get(f"/commands/{batch}")
    assert page.status_code == 200 and "Cancel</button>" not in page.text
    assert "Run a command" not in client.get("/commands").text
    assert client.get(f"/commands/new?computer={cid}").status_code == 403
    mark = factories.audit_mark(runtime.services)
    r = client.post("/commands", data={"csrf_token": csrf, "computer": [str(cid)], "command": "id"})
    assert r.status_code == 403
    assert "lacks permission run_commands" in r.text
    r = client.post(f"/jobs/{job_id}/cancel", data={"csrf_token": csrf})
    assert r.status_code == 403
    assert runtime.services.jobs.find(alice, Query()).total == 1
    assert runtime.services.jobs.get(alice, job_id).status is JobStatus.QUEUED
    denied = [a for a in factories.audit_since(runtime.services, mark) if a.result == "denied"]
    assert {a.action for a in denied} == {"command.create", "job.cancel"}


def test_odd_urls_are_plain_answers_not_errors(client: TestClient, alice: Actor) -> None:
    login(client, "alice")
    assert client.get("/commands?page=-1").status_code == 200
    assert client.get("/commands?page=99999999999").status_code == 200
    for path in ("/commands/0", "/commands/99999999999999999999", "/commands/424242"):
        r = client.get(path)
        assert r.status_code == 404, path
        assert "not found" in r.text
    assert client.get("/commands/new?computer=x&computer=-3").status_code == 200


def test_a_user_has_only_so_many_live_views_and_the_browser_retries_beyond(
    app: Starlette, client: TestClient, runtime: Runtime, alice: Actor
) -> None:
    """Each live view holds a connection and a subscription: beyond the user's share the stream
    is only a ``retry`` line (the browser's EventSource connects again after it, until a slot is
    free); closing a view gives its slot back."""
    [web] = [r for r in app.routes if getattr(r, "name", "") == "web"]
    views: PerCaller = web.app.state.ui.live_views  # type: ignore[attr-defined]
    views.per_caller = 1  # the default is 128: one shows the rule
    cid = factories.computer(runtime.services, alice, "pc1")
    [job_id] = factories.commands(runtime.services, alice, [cid], "sleep 100")
    factories.deliver(runtime.services, cid)
    login(client, "alice")
    with client.stream("GET", f"/jobs/{job_id}/events") as first:
        assert next(first.iter_lines()).startswith("event: job")
        assert views.held("alice") == 1
        busy = client.get(f"/jobs/{job_id}/events")
        assert (busy.status_code, busy.text) == (200, f"retry: {BUSY_RETRY_MS}\n\n")
    deadline = time.monotonic() + 10
    while views.held("alice"):
        assert time.monotonic() < deadline, "the slot of a closed view was never given back"
        time.sleep(0.01)
    factories.finish(runtime.services, cid, job_id, stdout="done\n")
    assert [e for e, _ in sse_events(client.get(f"/jobs/{job_id}/events").text)] == ["job", "end"]
