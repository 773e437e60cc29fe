"""End to end through opsi's ``/rpc``: a real server process and a real agent process. Setting a
productOnClient's actionRequest to setup makes the agent install a real payload; the stored
state ends at installed/successful and ``none`` keeps it; uninstall takes it away again. The
package itself comes from ``/api/v1`` (opsi uploads payloads through its depot share, not
JSON-RPC): one model."""

from __future__ import annotations

import base64
import shlex
import ssl
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import lz4.frame
import msgspec
import pytest
from websockets.sync.client import connect as ws_connect

from fleetdeck.core.authz import Role
from tests.e2e.conftest import ADMIN_PASSWORD, AgentProc, ServerProc, free_port, wait_for
from tests.opsi_packages import CONTROL_TOML, build_opsi

pytestmark = pytest.mark.e2e

INSTALL = b'#!/bin/sh\nset -e\necho "installed by opsi: $FLEETDECK_PROPERTY_GREETING" > "$1"\n'


@pytest.fixture
def server(tmp_path: Path, db_url: str) -> Iterator[ServerProc]:
    srv = ServerProc(tmp_path / "server", db_url, free_port(), tmp_path / "server.log", {})
    srv.create_user("admin", ADMIN_PASSWORD, Role.ADMIN)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def agent(server: ServerProc, tmp_path: Path) -> Iterator[AgentProc]:
    a = AgentProc(server, tmp_path / "agent", tmp_path / "agent.log")
    token = server.enroll_token()
    a.start("--simulate-power-actions", token=token)
    yield a
    a.stop()


class Opsi:
    """Speaks like opsi's ServiceClient: msgpack bodies, LZ4-compressed, session cookie."""

    def __init__(self, server: ServerProc) -> None:
        self.http = httpx.Client(base_url=server.url, auth=("admin", ADMIN_PASSWORD), timeout=15)
        self.n = 0

    def __call__(self, method: str, *params: Any) -> Any:
        self.n += 1
        body = {"jsonrpc": "2.0", "id": str(self.n), "method": method, "params": list(params)}
        r = self.http.post(
            "/rpc",
            content=lz4.frame.compress(msgspec.msgpack.encode(body)),
            headers={
                "Content-Type": "application/msgpack",
                "Accept": "application/msgpack",
                "Content-Encoding": "lz4",
                "Accept-Encoding": "lz4",
            },
        )
        assert r.status_code == 200, r.text
        raw = lz4.frame.decompress(r.content) if r.headers.get("content-encoding") == "lz4" else r.content
        answer = msgspec.msgpack.decode(raw)
        assert answer.get("error") is None, answer
        return answer["result"]


@pytest.fixture
def opsi(server: ServerProc) -> Iterator[Opsi]:
    client = Opsi(server)
    yield client
    client.http.close()


def test_action_request_setup_installs_for_real(
    opsi: Opsi, server: ServerProc, agent: AgentProc, tmp_path: Path
) -> None:
    marker = tmp_path / "marker.txt"
    package = {
        "family_name": "marker",
        "version": "1.0",
        "install_procedure": f"sh install.sh {shlex.quote(str(marker))}",
        "uninstall_procedure": f"rm -f {shlex.quote(str(marker))}",
        "files": [{"name": "install.sh", "content": base64.b64encode(INSTALL).decode()}],
    }
    r = opsi.http.post("/api/v1/packages", json=package)
    assert r.status_code == 201, r.text

    def client_id() -> str | None:
        hosts = opsi("host_getObjects", [], {"type": "OpsiClient"})
        return str(hosts[0]["id"]) if hosts and hosts[0]["lastSeen"] != "0000-00-00 00:00:00" else None

    client = wait_for(client_id, 30, what="the agent's host")
    assert [p["id"] for p in opsi("product_getObjects")] == ["marker"]

    # a product property: default "hello" on the depot, "hi" for this client
    opsi("productProperty_createUnicode", "marker", "1.0", "1", "greeting", "", ["hello", "hi"], ["hello"])
    opsi("productPropertyState_create", "marker", "greeting", client, ["hi"])
    opsi(
        "productOnClient_updateObjects",
        [
            {
                "productId": "marker",
                "productType": "LocalbootProduct",
                "clientId": client,
                "actionRequest": "setup",
            }
        ],
    )

    def state(want: str) -> dict[str, Any] | None:
        rows = opsi("productOnClient_getObjects", [], {"clientId": client, "productId": "marker"})
        return (
            rows[0]
            if rows and rows[0]["installationStatus"] == want and rows[0]["actionRequest"] == "none"
            else None
        )

    try:
        done = wait_for(lambda: state("installed"), 60, interval=0.3, what="installed")
    except AssertionError:
        raise AssertionError(f"agent log:\n{agent.log()[-4000:]}") from None
    assert (done["actionResult"], done["lastAction"], done["productVersion"]) == (
        "successful",
        "setup",
        "1.0",
    )
    assert marker.read_text().strip() == "installed by opsi: hi"

    # "none" keeps the row (opsi keeps one per product and client), as the agent left it
    opsi("setProductActionRequest", "marker", client, "none")
    kept = opsi("productOnClient_getObjects", [], {"clientId": client, "productId": "marker"})
    assert [(r["installationStatus"], r["actionRequest"], r["actionResult"]) for r in kept] == [
        ("installed", "none", "successful")
    ]

    opsi("setProductActionRequest", "marker", client, "uninstall")
    gone = wait_for(lambda: state("not_installed"), 60, interval=0.3, what="uninstalled")
    assert (gone["actionResult"], gone["lastAction"]) == ("successful", "uninstall")
    deadline = time.monotonic() + 5
    while marker.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not marker.exists()


def test_host_control_through_the_agent(opsi: Opsi, agent: AgentProc) -> None:
    def client_id() -> str | None:
        hosts = opsi("host_getObjects", [], {"type": "OpsiClient"})
        return str(hosts[0]["id"]) if hosts and hosts[0]["lastSeen"] != "0000-00-00 00:00:00" else None

    client = wait_for(client_id, 30, what="the agent's host")
    assert opsi("hostControlSafe_reachable", [client]) == {client: True}
    ran = opsi("hostControl_execute", "echo one; echo two >&2", [client], True, True, None, 30)
    assert ran == {client: {"result": ["one", "two"], "error": None}}
    up = opsi("hostControl_uptime", [client])[client]
    assert up["error"] is None and up["result"] > 0
    sessions = opsi("hostControl_getActiveSessions", [client])[client]
    assert sessions["error"] is None and isinstance(sessions["result"], list)


def test_reboot_popup_and_events_through_the_agent(opsi: Opsi, agent: AgentProc, server: ServerProc) -> None:
    """The agent runs with simulated power actions: it reports the action job, then logs the
    reboot it would do instead of doing it."""

    def client_id() -> str | None:
        hosts = opsi("host_getObjects", [], {"type": "OpsiClient"})
        return str(hosts[0]["id"]) if hosts and hosts[0]["lastSeen"] != "0000-00-00 00:00:00" else None

    client = wait_for(client_id, 30, what="the agent's host")
    api = httpx.Client(base_url=server.url, auth=("admin", ADMIN_PASSWORD), timeout=15)

    def action_jobs(n: int) -> list[dict[str, Any]] | None:
        jobs = api.get("/api/v1/jobs", params={"filter[kind]": "action", "sort": "id"}).json()["data"]
        done = [j for j in jobs if j["status"] not in ("queued", "sent", "running")]
        return done if len(done) >= n else None

    assert opsi("hostControl_reboot", [client]) == {client: {"result": None, "error": None}}
    (reboot,) = wait_for(lambda: action_jobs(1), 20, what="the reboot job")
    assert reboot["status"] == "succeeded" and reboot["stdout"] == "simulated: reboot in 0 min"
    wait_for(lambda: "would restart the computer" in agent.log_path.read_text(), 10, what="the agent's log")

    answer = opsi("hostControlSafe_showPopup", "Maintenance at 18:00", [client], "prepend", False)
    assert answer == {client: {"result": None, "error": None}}
    popup = wait_for(lambda: action_jobs(2), 20, what="the popup job")[1]
    assert popup["status"] == "succeeded" and popup["stdout"] == "would show: Maintenance at 18:00"

    shutdown = opsi("hostControl_opsiclientdRpc", "shutdown", [], [client])
    assert shutdown == {client: {"result": None, "error": None}}
    assert wait_for(lambda: action_jobs(3), 20, what="the shutdown job")[2]["stdout"].endswith(
        "shutdown in 0 min"
    )
    assert opsi("hostControl_fireEvent", "on_demand", [client]) == {client: {"result": None, "error": None}}
    unknown = opsi("hostControl_fireEvent", "gui_startup", [client])[client]
    assert unknown["result"] is None and "gui_startup" in unknown["error"]
    api.close()


def test_rpc_over_https_as_opsis_client_speaks_it(tmp_path: Path, db_url: str) -> None:
    """opsi's current client speaks only HTTPS; with ``--tls auto`` the server's certificate is
    signed by fleetdeck's own CA (verified here against the CA, which ``getOpsiCACert`` answers),
    opsiconfd's Server header, and then msgpack + LZ4 both ways."""
    srv = ServerProc(
        tmp_path / "tls-server", db_url, free_port(), tmp_path / "tls.log", {"FLEETDECK_TLS": "auto"}
    )
    srv.create_user("admin", ADMIN_PASSWORD, Role.ADMIN)
    srv.start()
    try:
        trust = ssl.create_default_context(cafile=str(srv.data_dir / "tls" / "ca-cert.pem"))
        with httpx.Client(base_url=srv.url, auth=("admin", ADMIN_PASSWORD), verify=trust, timeout=15) as http:
            first = http.post(
                "/rpc", json={"jsonrpc": "2.0", "id": 1, "method": "backend_info", "params": []}
            )
            assert first.status_code == 200 and first.url.scheme == "https"
            assert first.headers["server"].startswith("opsiconfd 4.3")
            assert first.cookies.get("opsiconfd-session")
            ca = http.post("/rpc", json={"jsonrpc": "2.0", "id": 9, "method": "getOpsiCACert", "params": []})
            assert ca.json()["result"] == (srv.data_dir / "tls" / "ca-cert.pem").read_text()
            body = {"jsonrpc": "2.0", "id": "2", "method": "backend_getInterface", "params": []}
            r = http.post(
                "/rpc",
                content=lz4.frame.compress(msgspec.msgpack.encode(body)),
                headers={
                    "Content-Type": "application/msgpack",
                    "Accept": "application/msgpack",
                    "Content-Encoding": "lz4",
                    "Accept-Encoding": "lz4",
                },
            )
            assert r.status_code == 200 and r.headers["content-encoding"] == "lz4"
            answer = msgspec.msgpack.decode(lz4.frame.decompress(r.content))
            assert "error" not in answer and len(answer["result"]) > 200
        with pytest.raises(httpx.TransportError):  # plain HTTP is not served on the TLS port
            httpx.post(srv.url.replace("https", "http") + "/rpc", json={}, timeout=5)
    finally:
        srv.stop()


def test_an_imported_opsi_package_is_installed_by_the_agent(
    opsi: Opsi, server: ServerProc, agent: AgentProc, tmp_path: Path
) -> None:
    """A real ``.opsi`` file (tar, zstd, control.toml), put where opsi-package-manager uploads it
    and installed with ``depot_installPackage``; ``setup`` through ``/rpc`` makes the agent run its
    setup script from CLIENT_DATA; productOnClient ends installed/successful; ``none`` keeps it."""
    marker = tmp_path / "imported.txt"
    control = CONTROL_TOML.replace('name = "greeting"', 'name = "target"').replace(
        "[[ProductDependency]]", "[Unused]"
    )  # no dependency on a product not here
    setup = b'#!/bin/sh\nset -e\necho "imported package ran" > "$FLEETDECK_PROPERTY_TARGET"\n'
    repository = server.data_dir / "repository"
    repository.mkdir(parents=True, exist_ok=True)
    (repository / "hello_1.2-3.opsi").write_bytes(build_opsi(control=control, client={"setup.sh": setup}))
    opsi("depot_installPackage", "/var/lib/opsi/repository/hello_1.2-3.opsi", False, {"target": str(marker)})
    assert [(p["id"], p["setupScript"]) for p in opsi("product_getObjects")] == [("hello", "sh ./setup.sh")]

    def client_id() -> str | None:
        hosts = opsi("host_getObjects", [], {"type": "OpsiClient"})
        return str(hosts[0]["id"]) if hosts and hosts[0]["lastSeen"] != "0000-00-00 00:00:00" else None

    client = wait_for(client_id, 30, what="the agent's host")
    opsi("setProductActionRequest", "hello", client, "setup")

    def state() -> dict[str, Any] | None:
        rows = opsi("productOnClient_getObjects", [], {"clientId": client, "productId": "hello"})
        done = rows and rows[0]["installationStatus"] == "installed" and rows[0]["actionRequest"] == "none"
        return rows[0] if done else None

    try:
        done = wait_for(state, 60, interval=0.3, what="installed")
    except AssertionError:
        raise AssertionError(f"agent log:\n{agent.log()[-4000:]}") from None
    assert (done["actionResult"], done["productVersion"], done["packageVersion"]) == (
        "successful",
        "1.2",
        "3",
    )
    assert marker.read_text().strip() == "imported package ran"
    opsi("setProductActionRequest", "hello", client, "none")
    (row,) = opsi("productOnClient_getObjects", [], {"clientId": client, "productId": "hello"})
    assert (row["installationStatus"], row["actionRequest"]) == ("installed", "none")


def test_a_message_bus_process_runs_on_the_real_agent(
    opsi: Opsi, agent: AgentProc, server: ServerProc
) -> None:
    """opsi's ``process_start_request`` over ``/messagebus/v1`` (msgpack frames, as
    python-opsi-common sends them) runs on the agent process as a command job; its output
    and exit code come back as ``process_data_read`` and ``process_stop_event``."""

    def client_id() -> str | None:
        hosts = opsi("host_getObjects", [], {"type": "OpsiClient"})
        return str(hosts[0]["id"]) if hosts and hosts[0]["lastSeen"] != "0000-00-00 00:00:00" else None

    client = wait_for(client_id, 30, what="the agent's host")
    wait_for(lambda: opsi("hostControlSafe_reachable", [client]) == {client: True}, 30, what="reachable")
    auth = base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()
    url = server.url.replace("http", "ws", 1) + "/messagebus/v1"
    with ws_connect(url, additional_headers={"Authorization": f"Basic {auth}"}) as ws:
        assert msgspec.msgpack.decode(ws.recv(timeout=10))["type"] == "channel_subscription_event"
        now = int(time.time() * 1000)
        process_id = str(uuid.uuid4())
        request = {
            "type": "process_start_request",
            "id": str(uuid.uuid4()),
            "sender": "@",
            "channel": f"host:{client}",
            "back_channel": "$",
            "created": now,
            "expires": now + 60_000,
            "process_id": process_id,
            "command": ["sh", "-c", "echo out; echo err >&2; exit 4"],
            "timeout": 30,
        }
        ws.send(msgspec.msgpack.encode(request))
        seen: list[dict[str, Any]] = []
        while not seen or seen[-1]["type"] != "process_stop_event":
            seen.append(msgspec.msgpack.decode(ws.recv(timeout=60)))
    assert seen[0]["type"] == "process_start_event"
    assert all(msg["process_id"] == process_id for msg in seen)
    stdout = b"".join(msg.get("stdout", b"") for msg in seen if msg["type"] == "process_data_read")
    stderr = b"".join(msg.get("stderr", b"") for msg in seen if msg["type"] == "process_data_read")
    assert (stdout, stderr, seen[-1]["exit_code"]) == (b"out\n", b"err\n", 4)
