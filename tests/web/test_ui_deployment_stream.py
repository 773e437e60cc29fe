"""The deployment page's live stream is event-driven: it reads the deployment only when core
announces (after commit) that jobs of that deployment changed, coalesces a burst of changes into
few reads, and sends a heartbeat comment, without a query, while nothing changes.

Through the real application (TestClient), its real bus and the real database; the changes are
committed by core as the agent hub commits them (``record_updates``/``record_results``).
Statements are counted with SQLAlchemy's ``before_cursor_execute`` on the real engine."""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Iterator

import pytest
from starlette.applications import Starlette

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from fastapi.testclient import TestClient

from fleetdeck.api.kit.concurrency import PerCaller
from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from fleetdeck.protocol import messages as m
from fleetdeck.web import deployments
from fleetdeck.web.app import BUSY_RETRY_MS
from tests import factories
from tests.integration.queries.test_list_query_counts import counting
from tests.web.conftest import login


def _deployment_reads(statements: list[str]) -> list[str]:
    """One per read of the stream: the deployment's own row (core's ``get_container``). The
    running application's housekeeping reads job_batches and jobs now and then too, with other
    conditions, so only this statement is counted."""
    return [s for s in statements if "FROM job_batches" in s and "job_batches.id IN (" in s]


def _next_event(lines: Iterator[str]) -> tuple[str, dict[str, object]]:
    """The next event of the stream (heartbeats skipped)."""
    event = ""
    for line in lines:
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            return event, json.loads(line[6:])
    raise AssertionError("the stream ended without another event")


def _running(job_id: int, progress: int) -> m.JobUpdate:
    return m.JobUpdate(
        job_id=job_id,
        status="running",
        at=time.time(),
        phase="download",
        progress=progress,
        bytes_done=progress * 10 * 1024,
        bytes_total=1000 * 1024,
    )


@pytest.fixture
def fast_heartbeat(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deployments, "HEARTBEAT_SEC", 0.5)  # the real one is 15 s


@pytest.mark.usefixtures("fast_heartbeat")
def test_an_idle_stream_runs_no_query_and_a_job_change_reaches_the_page(
    client: TestClient, runtime: Runtime, alice: Actor
) -> None:
    s = runtime.services
    cid = factories.computer(s, alice, "pc1")
    p = factories.package(s, alice, "Tool")
    created = factories.deployment(s, alice, [cid], [p.id])
    [job_id] = created.job_ids
    factories.deliver(s, cid)
    login(client, "alice")
    with client.stream("GET", f"/deployments/{created.id}/events?job={job_id}") as r:
        lines = r.iter_lines()
        event, first = _next_event(lines)
        assert event == "state" and first["counts"] == {"sent": 1}
        # Nothing changes for 3 s: no read (the old stream read its two queries every second).
        with counting(runtime.db) as statements:
            time.sleep(3)
        assert _deployment_reads(statements) == []
        # ... and heartbeats kept the connection busy meanwhile (every 0.5 s here)
        beats = 0
        for line in lines:
            beats += line == ": heartbeat"
            if beats == 4:
                break
        assert beats == 4
        # A progress notice, committed as the hub commits it: the page hears it.
        s.jobs.record_updates([(cid, _running(job_id, 40))])
        event, state = _next_event(lines)
        assert event == "state" and state["counts"] == {"running": 1}
        assert state["jobs"] == [
            {
                "id": job_id,
                "status": "running",
                "final": False,
                "phase": "download 400.0 KiB of 1000.0 KiB",  # the bytes the agent reported
                "progress": 40,
                "bytes": 400 * 1024,
                "total": 1000 * 1024,
                "exit_code": None,
                "message": "",
            }
        ]
        factories.finish(s, cid, job_id, exit_code=0)
        event, last = _next_event(lines)
        assert (event, last["status"], last["live"]) == ("state", "succeeded", False)
        assert _next_event(lines)[0] == "end"


def test_another_deployments_changes_do_not_wake_the_stream(
    client: TestClient, runtime: Runtime, alice: Actor, fast_heartbeat: None
) -> None:
    s = runtime.services
    cid, other_cid = factories.computer(s, alice, "pc1"), factories.computer(s, alice, "pc2")
    p = factories.package(s, alice, "Tool")
    watched = factories.deployment(s, alice, [cid], [p.id])
    other = factories.deployment(s, alice, [other_cid], [p.id])
    factories.deliver(s, cid)
    factories.deliver(s, other_cid)
    login(client, "alice")
    with client.stream("GET", f"/deployments/{watched.id}/events?job={watched.job_ids[0]}") as r:
        lines = r.iter_lines()
        assert _next_event(lines)[0] == "state"
        with counting(runtime.db) as statements:
            for k in range(5):
                s.jobs.record_updates([(other_cid, _running(other.job_ids[0], 10 * k))])
            beats = 0
            for line in lines:
                beats += line == ": heartbeat"
                if beats == 3:
                    break
        # the writes read jobs by id; the stream never read its deployment (job_batches)
        assert _deployment_reads(statements) == []


def test_a_burst_of_changes_is_coalesced(
    client: TestClient, runtime: Runtime, alice: Actor, fast_heartbeat: None
) -> None:
    s = runtime.services
    cid = factories.computer(s, alice, "pc1")
    p = factories.package(s, alice, "Tool")
    created = factories.deployment(s, alice, [cid], [p.id])
    [job_id] = created.job_ids
    factories.deliver(s, cid)
    login(client, "alice")
    with client.stream("GET", f"/deployments/{created.id}/events?job={job_id}") as r:
        lines = r.iter_lines()
        assert _next_event(lines)[0] == "state"
        started = time.monotonic()
        with counting(runtime.db) as statements:
            for k in range(1, 41):  # 40 committed notices, each announced
                s.jobs.record_updates([(cid, _running(job_id, k))])
            progress = 0
            while progress != 40:  # the page catches up with the last one
                event, state = _next_event(lines)
                assert event == "state"
                progress = state["jobs"][0]["progress"]  # type: ignore[index]
            elapsed = time.monotonic() - started
        reads = _deployment_reads(statements)
        # at most one read per COALESCE_SEC, never one per notice
        assert 1 <= len(reads) <= elapsed / deployments.COALESCE_SEC + 1, (len(reads), elapsed)
        assert len(reads) < 40
        # The notices a read took along are not read again afterwards. An announcement still
        # on its way when the page caught up (it is published after the commit the read saw)
        # may wake one more read, two at the most (a wake, then the coalesced rest).
        with counting(runtime.db) as after:
            time.sleep(1.5)
        assert len(_deployment_reads(after)) <= 2


def test_deployment_views_count_against_the_users_live_views(
    app: Starlette, client: TestClient, runtime: Runtime, alice: Actor
) -> None:
    """The deployment page's stream takes one of the user's live views like a job's does:
    beyond the share, only a ``retry`` line (the browser connects again after it)."""
    [web] = [r for r in app.routes if getattr(r, "name", "") == "web"]
    views: PerCaller = web.app.state.ui.live_views  # type: ignore[attr-defined]
    views.per_caller = 1
    s = runtime.services
    cid = factories.computer(s, alice, "pc1")
    created = factories.deployment(s, alice, [cid], [factories.package(s, alice, "Tool").id])
    factories.deliver(s, cid)
    login(client, "alice")
    url = f"/deployments/{created.id}/events?job={created.job_ids[0]}"
    with client.stream("GET", url) as first:
        assert _next_event(first.iter_lines())[0] == "state"
        busy = client.get(url)
        assert busy.text == f"retry: {BUSY_RETRY_MS}\n\n"
