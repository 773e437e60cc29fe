"""Bulk actions on the computers list's selection through HTTP: the selection form (a POST with
the CSRF token) opens the command form, wakes the chosen computers (magic packets caught on a
real UDP socket), reboots them after a confirmation page (one reboot job each, read back from
core), adds them to a group; errors in plain words; a viewer gets no selection and is refused."""

from __future__ import annotations

import re
import socket
import warnings
from collections.abc import Iterator

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from fastapi.testclient import TestClient

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, system_actor
from fleetdeck.core.query import Cond, Op, Query
from tests import factories
from tests.web.conftest import login

MAC = "52:54:00:12:34:56"


@pytest.fixture
def udp(runtime: Runtime) -> Iterator[socket.socket]:
    """A real UDP socket on loopback where the server's Wake-on-LAN packets go."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    system = system_actor("test")
    runtime.services.settings.set(system, "wol.broadcast_addresses", ["127.0.0.1"])
    runtime.services.settings.set(system, "wol.port", sock.getsockname()[1])
    yield sock
    sock.close()


def test_the_selection_form_carries_every_action(client: TestClient, runtime: Runtime, alice: Actor) -> None:
    one = factories.computer(runtime.services, alice, "pc1")
    gid = factories.group(runtime.services, alice, "Lab")
    csrf = login(client, "alice")
    page = client.get("/computers").text
    form = page.split('<form id="selection"', 1)[1].split("</form>", 1)[0]
    assert 'method="post" action="/commands/new"' in form and f'value="{csrf}"' in form
    for action in ("/computers/wake", "/computers/reboot", "/computers/add-to-group"):
        assert f'formaction="{action}"' in form
    assert f'<option value="{gid}">Lab</option>' in form
    assert f'form="selection" name="computer" value="{one}"' in page
    # "Run command on selected" posts the selection: the command form with those computers
    r = client.post("/commands/new", data={"csrf_token": csrf, "computer": [str(one)], "group": str(gid)})
    assert r.status_code == 200 and 'id="command-form"' in r.text
    assert f'name="computer" value="{one}" checked' in r.text
    assert client.post("/commands/new", data={"computer": str(one)}).status_code == 403  # no token


def test_wake_sends_magic_packets(
    client: TestClient, runtime: Runtime, alice: Actor, udp: socket.socket
) -> None:
    pc = factories.computer(runtime.services, alice, "pc1", macs=[MAC])
    csrf = login(client, "alice")
    mark = factories.audit_mark(runtime.services)
    r = client.post("/computers/wake", data={"csrf_token": csrf, "computer": [str(pc)]})
    assert r.status_code == 200
    assert "Wake-on-LAN: 1 packet sent for 1 computer." in r.text and 'id="bulk-result"' in r.text
    packet, _ = udp.recvfrom(200)
    assert packet == b"\xff" * 6 + bytes.fromhex(MAC.replace(":", "")) * 16
    [entry] = [a for a in factories.audit_since(runtime.services, mark) if a.action == "computer.wake"]
    assert (entry.username, entry.via, entry.detail["computer_ids"]) == ("alice", "web", [pc])


def test_wake_errors_in_plain_words(
    client: TestClient, runtime: Runtime, alice: Actor, udp: socket.socket
) -> None:
    with_mac = factories.computer(runtime.services, alice, "pc1", macs=[MAC])
    without = factories.computer(runtime.services, alice, "pc2")
    csrf = login(client, "alice")
    r = client.post("/computers/wake", data={"csrf_token": csrf, "computer": [str(with_mac), str(without)]})
    assert r.status_code == 400 and 'role="alert" id="bulk-result"' in r.text
    assert f"Nothing sent: computer {without}:" in r.text and "MAC" in r.text
    r = client.post("/computers/wake", data={"csrf_token": csrf, "computer": ["999999"]})
    assert r.status_code == 400 and "computer 999999 no longer exists" in r.text
    r = client.post("/computers/wake", data={"csrf_token": csrf})
    assert r.status_code == 400 and "Choose at least one computer" in r.text
    udp.settimeout(0.2)
    with pytest.raises(TimeoutError):
        udp.recvfrom(200)  # nothing was sent for the refused selection


def test_reboot_asks_first_then_queues_one_job_each(
    client: TestClient, runtime: Runtime, alice: Actor
) -> None:
    one = factories.computer(runtime.services, alice, "pc1")
    two = factories.computer(runtime.services, alice, "pc2")
    csrf = login(client, "alice")
    mark = factories.audit_mark(runtime.services)
    ask = client.post("/computers/reboot", data={"csrf_token": csrf, "computer": [str(one), str(two)]})
    assert ask.status_code == 200 and "Reboot 2 computers" in ask.text
    assert 'name="confirm" value="yes"' in ask.text
    assert runtime.services.jobs.find(alice, Query(limit=None)).total == 0  # nothing yet
    r = client.post(
        "/computers/reboot",
        data={"csrf_token": csrf, "computer": [str(one), str(two)], "confirm": "yes"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"].startswith("/commands/")
    batch_id = int(r.headers["location"].rsplit("/", 1)[1])
    jobs = runtime.services.jobs.find(alice, Query((Cond("batch_id", Op.EQ, batch_id),), limit=None)).items
    assert sorted(j.computer_id for j in jobs) == [one, two]
    assert {j.kind for j in jobs} == {"action"} and {j.spec["action"] for j in jobs} == {"reboot"}
    batch = runtime.services.jobs.get_batch(alice, batch_id)
    assert batch.expires_at is not None  # a computer back much later is not rebooted then
    [entry] = [a for a in factories.audit_since(runtime.services, mark) if a.action == "action.reboot"]
    assert (entry.username, entry.via) == ("alice", "web")
    assert client.get(f"/commands/{batch_id}").status_code == 200
    r = client.post("/computers/reboot", data={"csrf_token": csrf, "computer": ["999999"], "confirm": "yes"})
    assert r.status_code == 400 and "Computer 999999 no longer exists." in r.text
    r = client.post("/computers/reboot", data={"csrf_token": csrf, "confirm": "yes"})
    assert r.status_code == 400 and 'id="reboot-error"' in r.text


def test_add_selection_to_a_group(client: TestClient, runtime: Runtime, alice: Actor) -> None:
    one = factories.computer(runtime.services, alice, "pc1")
    two = factories.computer(runtime.services, alice, "pc2")
    gid = factories.group(runtime.services, alice, "Lab", [one])
    csrf = login(client, "alice")
    r = client.post(
        "/computers/add-to-group",
        data={"csrf_token": csrf, "computer": [str(one), str(two)], "group": str(gid)},
    )
    assert r.status_code == 200 and "Group got 1 computer (1 already in it)." in r.text
    assert runtime.services.groups.members(alice, gid) == [one, two]
    r = client.post(
        "/computers/add-to-group", data={"csrf_token": csrf, "computer": str(one), "group": "999999"}
    )
    assert r.status_code == 400 and "Group 999999 no longer exists." in r.text
    r = client.post("/computers/add-to-group", data={"csrf_token": csrf, "computer": str(one), "group": ""})
    assert r.status_code == 400 and "Choose the group" in r.text
    r = client.post("/computers/add-to-group", data={"csrf_token": csrf, "group": str(gid)})
    assert r.status_code == 400 and "Choose at least one computer" in r.text


def test_viewer_gets_no_selection_and_is_refused(
    client: TestClient, runtime: Runtime, alice: Actor, victor: Actor, udp: socket.socket
) -> None:
    pc = factories.computer(runtime.services, alice, "pc1", macs=[MAC])
    gid = factories.group(runtime.services, alice, "Lab")
    csrf = login(client, "victor")
    page = client.get("/computers").text
    assert 'id="selection"' not in page and 'type="checkbox"' not in page
    mark = factories.audit_mark(runtime.services)
    for path, extra in (
        ("/computers/wake", {}),
        ("/computers/reboot", {"confirm": "yes"}),
        ("/computers/reboot", {}),
        ("/computers/add-to-group", {"group": str(gid)}),
    ):
        r = client.post(path, data={"csrf_token": csrf, "computer": str(pc), **extra})
        assert r.status_code == 403 and "lacks permission" in r.text, path
    denied = [a.action for a in factories.audit_since(runtime.services, mark) if a.result == "denied"]
    assert sorted(denied) == ["action.reboot", "computer.wake", "group.add_members"]
    assert runtime.services.jobs.find(alice, Query(limit=None)).total == 0
    assert runtime.services.groups.members(alice, gid) == []
    udp.settimeout(0.2)
    with pytest.raises(TimeoutError):
        udp.recvfrom(200)


def test_bulk_forms_need_the_csrf_token(client: TestClient, runtime: Runtime, alice: Actor) -> None:
    pc = factories.computer(runtime.services, alice, "pc1")
    login(client, "alice")
    for path in ("/computers/wake", "/computers/reboot", "/computers/add-to-group"):
        r = client.post(path, data={"computer": str(pc), "confirm": "yes", "group": "1"})
        assert r.status_code == 403 and "security token" in r.text, path
    assert runtime.services.jobs.find(alice, Query(limit=None)).total == 0


def test_deploy_on_the_selection_opens_the_deployment_form_with_those_computers(
    client: TestClient, runtime: Runtime, alice: Actor, victor: Actor
) -> None:
    one = factories.computer(runtime.services, alice, "pc1")
    two = factories.computer(runtime.services, alice, "pc2")
    factories.computer(runtime.services, alice, "pc3")
    csrf = login(client, "alice")
    form = client.get("/computers").text.split('<form id="selection"', 1)[1].split("</form>", 1)[0]
    assert 'id="deploy-selected" formaction="/deployments/new"' in form
    r = client.post("/deployments/new", data={"csrf_token": csrf, "computer": [str(one), str(two)]})
    assert r.status_code == 200
    checked = sorted(int(v) for v in re.findall(r'name="computer" value="(\d+)" checked', r.text))
    assert checked == [one, two]  # pc3 was not chosen
    assert client.post("/deployments/new", data={"computer": str(one)}).status_code == 403  # no token
    client.post("/logout", data={"csrf_token": csrf})
    csrf = login(client, "victor")
    r = client.post("/deployments/new", data={"csrf_token": csrf, "computer": str(one)})
    assert r.status_code == 403 and "lacks permission" in r.text
