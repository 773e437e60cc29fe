"""Deleting a computer whose agent is connected, against the real server with real WebSocket
clients: the agent gets ``Error(computer_deleted)`` and close code 4004, whichever transport
deleted it (opsi's ``host_delete`` here; ``/api/v1`` in tests/e2e), and the presence of the
other computers keeps being stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from fleetdeck.app import Runtime, build_runtime
from fleetdeck.core.authz import Actor
from fleetdeck.protocol import messages as m
from fleetdeck.settings import Settings
from tests.waiting import wait_for

from .conftest import LiveServer


def _enroll(runtime: Runtime, admin: Actor, name: str) -> tuple[int, bytes]:
    token = runtime.services.enrollment.create_token(admin, max_uses=1)
    creds = runtime.services.enrollment.enroll(
        token.token, hostname=name, machine_id=f"m-{name}", agent_version="1", source="127.0.0.1"
    )
    return creds.computer_id, m.encode(m.Hello(uid=creds.uid, key=creds.key, agent_version="1"))


def test_opsi_host_delete_closes_the_agents_connection_with_the_reason(
    live: LiveServer, runtime: Runtime, admin: Actor
) -> None:
    gone, gone_hello = _enroll(runtime, admin, "pc-gone")
    stays, stays_hello = _enroll(runtime, admin, "pc-stays")
    with connect(live.ws_url) as ws_gone, connect(live.ws_url) as ws_stays:
        for ws, frame in ((ws_gone, gone_hello), (ws_stays, stays_hello)):
            ws.send(frame)
            assert isinstance(m.decode_from_server(ws.recv(timeout=10)), m.Welcome)
        online = runtime.services.computers.get
        wait_for(lambda: online(admin, gone).summary.online and online(admin, stays).summary.online)

        rpc = httpx.post(
            f"{live.url}/rpc",
            json={"jsonrpc": "2.0", "id": 1, "method": "host_getIdents", "params": ["str"]},
            auth=("admin", "admin-password-1"),
            timeout=15,
        )
        host = next(h for h in rpc.json()["result"] if h.startswith("pc-gone."))
        deleted = httpx.post(
            f"{live.url}/rpc",
            json={"jsonrpc": "2.0", "id": 2, "method": "host_delete", "params": [host]},
            auth=("admin", "admin-password-1"),
            timeout=15,
        )
        assert deleted.status_code == 200 and "error" not in deleted.json(), deleted.text

        frame = m.decode_from_server(ws_gone.recv(timeout=10))
        assert isinstance(frame, m.Error) and frame.code == m.ERROR_COMPUTER_DELETED
        with pytest.raises(ConnectionClosed):
            ws_gone.recv(timeout=10)
        assert ws_gone.close_code == m.CLOSE_COMPUTER_DELETED

        # The other agent is still served
        ws_stays.send(m.encode(m.Heartbeat()))
        assert live.hub.conns.keys() == {stays}


def test_presence_of_the_others_is_stored_when_a_computer_is_gone(runtime: Runtime, admin: Actor) -> None:
    """The hub's last_seen batch may name a computer deleted since: its row is skipped, the
    others are written (the ORM's bulk UPDATE failed the whole batch with StaleDataError)."""
    svc = runtime.services.computers
    gone, stays = (svc.create(admin, name).id for name in ("pc-gone", "pc-stays"))
    svc.delete(admin, gone)
    seen = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=1)
    assert svc.touch({gone: seen, stays: seen}) == {gone}  # the hub closes gone's connection
    stored = svc.get(admin, stays).summary.last_seen
    assert stored is not None and stored.replace(tzinfo=UTC) == seen
    svc.set_presence([], [gone, stays], node_id="n1")  # disconnects of a gone row: nothing, no error


def test_a_deletion_no_bus_announced_is_found_by_the_presence_flush(
    live: LiveServer, runtime: Runtime, admin: Actor, settings: Settings
) -> None:
    """Deleted by another process that shares no bus with this one (here: a second runtime on
    the same database, as the CLI or a second server would be): the hub finds the row gone when
    it stores the agent's heartbeats, and closes the connection the same way."""
    gone, hello = _enroll(runtime, admin, "pc-gone")
    other = build_runtime(settings, migrate_db=False)
    try:
        with connect(live.ws_url) as ws:
            ws.send(hello)
            assert isinstance(m.decode_from_server(ws.recv(timeout=10)), m.Welcome)
            other.services.computers.delete(admin, gone)
            ws.send(m.encode(m.Heartbeat()))
            frame = m.decode_from_server(ws.recv(timeout=30))  # within a touch interval (5 s)
            assert isinstance(frame, m.Error) and frame.code == m.ERROR_COMPUTER_DELETED
            with pytest.raises(ConnectionClosed):
                ws.recv(timeout=10)
            assert ws.close_code == m.CLOSE_COMPUTER_DELETED
    finally:
        other.db.dispose()
