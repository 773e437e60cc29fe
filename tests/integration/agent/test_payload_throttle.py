"""The payload download cap and shared bandwidth budget (``api/agent/payload.py``), against the
server on a real socket, with the agent's own downloader (``agent/payload.py``): a download
beyond the cap waits in line; one that waits too long is told 503 + Retry-After, the agent
waits that out without failing, and every byte arrives paced and intact. (How fast is
``bench/deploy.py``'s business, not a test's.)"""

from __future__ import annotations

import hashlib
import http.client
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetdeck.agent import payload as agent_payload
from fleetdeck.agent.payload import ServerAccess, fetch
from fleetdeck.api.agent import payload as server_payload
from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from fleetdeck.core.enrollment.service import AgentCredentials
from fleetdeck.core.packages.entities import PackageFields, PayloadFile
from fleetdeck.settings import Settings
from tests.live_server import LiveServer, running
from tests.waiting import wait_for

# Larger than what the loopback socket buffers hold: a download whose client does not read
# keeps its slot until the client does, however slow the machine is.
SIZE = 24 * 1024 * 1024


@pytest.fixture
def throttled(settings: Settings, runtime: Runtime) -> Iterator[LiveServer]:
    with running(
        settings, runtime, payload_max_downloads=1, payload_bandwidth_bytes_per_sec=256 * 1024 * 1024
    ) as s:
        yield s


def pending_payload(runtime: Runtime, admin: Actor) -> tuple[AgentCredentials, int, bytes]:
    token = runtime.services.enrollment.create_token(admin, max_uses=1)
    creds = runtime.services.enrollment.enroll(
        token.token, hostname="pc-1", machine_id="m-1", agent_version="1", source="127.0.0.1"
    )
    blob = os.urandom(1024 * 1024) * (SIZE // (1024 * 1024))  # incompressible enough, cheap to make
    pkg = runtime.services.packages.create(
        admin, "Big", "1", PackageFields(install_procedure="true"), files=[PayloadFile("big.bin", blob)]
    )
    runtime.services.deployments.deploy(admin, "d", computer_ids=[creds.computer_id], package_ids=[pkg.id])
    stored = Path(runtime.services.packages.payload(admin, pkg.id).path).read_bytes()
    return creds, pkg.id, stored


def test_beyond_the_cap_the_agent_waits_its_turn_and_every_byte_arrives(
    throttled: LiveServer, runtime: Runtime, admin: Actor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(agent_payload, "BUSY_WAIT_MAX_SEC", 0.2)  # the waits, not the behaviour
    monkeypatch.setattr(server_payload, "QUEUE_WAIT_SEC", 0.1)
    creds, package_id, stored = pending_payload(runtime, admin)
    path = f"/agent/v1/payload/{package_id}"
    auth = {"Authorization": f"Bearer {creds.uid}:{creds.key}"}
    first = http.client.HTTPConnection("127.0.0.1", throttled.port, timeout=30)
    first.request("GET", path, headers=auth)
    held = first.getresponse()  # holds the only slot: its client reads nothing yet
    assert held.status == 200
    second = http.client.HTTPConnection("127.0.0.1", throttled.port, timeout=30)
    second.request("GET", path, headers=auth)
    busy = second.getresponse()
    assert busy.status == 503 and 1 <= int(busy.headers["Retry-After"]) <= 5
    second.close()

    seen: list[tuple[int, int | None]] = []
    dest = tmp_path / "p.zip"
    access = ServerAccess(throttled.url, creds.uid, creds.key, None)
    sha = hashlib.sha256(stored).hexdigest()
    waiter = threading.Thread(
        target=fetch, args=(access, path, dest, sha, len(stored), lambda *a: seen.append(a))
    )
    waiter.start()
    throttle = throttled.app.state.payload_throttle
    wait_for(lambda: throttle.refused >= 2, 30, what="the agent's download refused once")  # then served
    assert held.read() == stored
    first.close()
    waiter.join(60)
    assert dest.read_bytes() == stored
    assert seen[-1] == (len(stored), len(stored))
    assert throttle.refused >= 2 and (throttle.active, throttle.waiting) == (0, 0)


def test_beyond_the_cap_a_download_waits_in_line_for_a_slot(
    throttled: LiveServer, runtime: Runtime, admin: Actor, tmp_path: Path
) -> None:
    creds, package_id, stored = pending_payload(runtime, admin)
    path = f"/agent/v1/payload/{package_id}"
    auth = {"Authorization": f"Bearer {creds.uid}:{creds.key}"}
    first = http.client.HTTPConnection("127.0.0.1", throttled.port, timeout=30)
    first.request("GET", path, headers=auth)
    held = first.getresponse()
    access = ServerAccess(throttled.url, creds.uid, creds.key, None)
    dest = tmp_path / "p.zip"
    sha = hashlib.sha256(stored).hexdigest()
    waiter = threading.Thread(target=fetch, args=(access, path, dest, sha, len(stored), lambda *a: None))
    waiter.start()
    throttle = throttled.app.state.payload_throttle
    wait_for(lambda: throttle.waiting == 1, 30, what="the second download in line")
    assert held.read() == stored
    first.close()
    waiter.join(60)
    assert dest.read_bytes() == stored
    assert throttle.refused == 0  # waited, never sent away
