"""The job stream WebSocket, with no agent: the job is cancelled while a client watches."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.websockets import WebSocketDisconnect

from fleetdeck.app import Runtime
from fleetdeck.bus.topics import job_output_topic
from fleetdeck.core.authz import Actor
from fleetdeck.protocol import messages as m
from fleetdeck.storage.tables import Job
from fleetdeck.storage.uow import UnitOfWork
from tests.integration.api.conftest import API, Api
from tests.integration.api.test_groups import computer


@pytest.fixture
def job_id(admin_api: Api) -> int:
    cid = computer(admin_api, "pc-1")
    r = admin_api.post("/commands", json={"command": "sleep 60", "computer_ids": [cid]})
    jid: int = r.json()["data"]["job_ids"][0]
    return jid


def token_of(api: Api) -> str:
    return api.headers["Authorization"].removeprefix("Bearer ")


def closed_with(ws: Any) -> int:
    with pytest.raises(WebSocketDisconnect) as info:
        ws.receive_json()
    return info.value.code


@pytest.mark.timeout(60)  # were the bus announcement lost, the stream would wait for ever
def test_cancel_while_watching_sends_final_job_and_closes(
    client: TestClient, admin_api: Api, job_id: int, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No fallback read within the test: the final status can only come by the bus announcement.
    monkeypatch.setattr(runtime.watch, "poll_sec", 3600.0)
    with client.websocket_connect(f"{API}/jobs/{job_id}/stream", headers=admin_api.headers) as ws:
        first = ws.receive_json()
        assert first["type"] == "job"
        assert first["job"]["status"] == "queued"
        assert first["job"] == admin_api.get(f"/jobs/{job_id}").json()["data"]
        assert admin_api.post(f"/jobs/{job_id}/cancel").status_code == 200
        final = ws.receive_json()
        assert final["type"] == "job"
        assert final["job"]["status"] == "cancelled"
        assert final["job"]["finished_at"] is not None
        assert closed_with(ws) == 1000


def test_polling_catches_a_change_nobody_announced(
    client: TestClient, admin_api: Api, job_id: int, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime.watch, "poll_sec", 0.1)  # the fallback, without its 2 s wait
    with client.websocket_connect(f"{API}/jobs/{job_id}/stream?token={token_of(admin_api)}") as ws:
        assert ws.receive_json()["job"]["status"] == "queued"
        with UnitOfWork(runtime.db) as uow:  # behind core's back: nobody announces it
            uow.session.execute(update(Job).where(Job.id == job_id).values(status="cancelled"))
        final = ws.receive_json()
        assert final["job"]["status"] == "cancelled"
        assert closed_with(ws) == 1000


def test_output_frames_are_forwarded(
    client: TestClient, admin_api: Api, job_id: int, runtime: Runtime, admin: Actor
) -> None:
    with client.websocket_connect(f"{API}/jobs/{job_id}/stream", headers=admin_api.headers) as ws:
        ws.receive_json()
        frame = m.encode(m.JobOutput(job_id=job_id, stream="stdout", seq=1, data="hello\n"))
        runtime.bus.publish_threadsafe(job_output_topic(job_id), b"not a frame")  # ignored
        runtime.bus.publish_threadsafe(job_output_topic(job_id), frame)
        assert ws.receive_json() == {"type": "output", "stream": "stdout", "data": "hello\n"}
        admin_api.post(f"/jobs/{job_id}/cancel")
        assert ws.receive_json()["job"]["status"] == "cancelled"
        assert closed_with(ws) == 1000


def test_final_job_is_sent_once_and_closed(client: TestClient, admin_api: Api, job_id: int) -> None:
    admin_api.post(f"/jobs/{job_id}/cancel")
    with client.websocket_connect(f"{API}/jobs/{job_id}/stream", headers=admin_api.headers) as ws:
        assert ws.receive_json()["job"]["status"] == "cancelled"
        assert closed_with(ws) == 1000


@pytest.mark.parametrize(
    "auth", [{}, {"headers": {"Authorization": "Bearer nope"}}, {"query": "?token=nope"}]
)
def test_bad_auth_closes_4401(client: TestClient, job_id: int, auth: dict[str, Any]) -> None:
    url = f"{API}/jobs/{job_id}/stream" + auth.get("query", "")
    with client.websocket_connect(url, headers=dict(auth.get("headers", {}))) as ws:
        assert closed_with(ws) == 4401


def test_unknown_job_closes_4404(client: TestClient, admin_api: Api) -> None:
    with client.websocket_connect(f"{API}/jobs/999999/stream", headers=admin_api.headers) as ws:
        assert closed_with(ws) == 4404


def test_a_caller_may_hold_only_so_many_streams_at_once(
    client: TestClient, app: Starlette, admin_api: Api, viewer_api: Api, job_id: int
) -> None:
    """Each stream holds a socket and a subscription: beyond the cap the socket closes with
    4429 (the CLI then polls that job); another caller's share is its own, and a stream that
    ends gives its slot back."""
    (v1,) = [r.app for r in app.routes if isinstance(r, Mount) and r.path == "/api/v1"]
    v1.state.job_streams.per_caller = 1  # the default is 128: one shows the rule
    url = f"{API}/jobs/{job_id}/stream"
    with client.websocket_connect(url, headers=admin_api.headers) as first:
        assert first.receive_json()["job"]["status"] == "queued"
        assert v1.state.job_streams.held("admin") == 1
        with client.websocket_connect(url, headers=admin_api.headers) as second:
            with pytest.raises(WebSocketDisconnect) as refused:
                second.receive_json()
            assert refused.value.code == 4429
            assert refused.value.reason == "at most 1 job streams at once per caller"
        with client.websocket_connect(url, headers=viewer_api.headers) as other:
            assert other.receive_json()["job"]["status"] == "queued"
    deadline = time.monotonic() + 10
    while v1.state.job_streams.held("admin"):  # the server notices the first has gone
        assert time.monotonic() < deadline, "the slot of a closed stream was never given back"
        time.sleep(0.01)
    with client.websocket_connect(url, headers=admin_api.headers) as again:
        assert again.receive_json()["job"]["status"] == "queued"
