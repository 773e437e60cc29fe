"""Existing OCO agents at ``/api-agent.php`` (issue #14): an OCO agent written from the protocol
notes (``oco_agent.py``) against the real server on a loopback socket.

Registration (self and pre-registered), signatures both ways, replay and tampering refused,
hello with jobs, inventory visible through OCO's ``oco.computer.get`` and ``/api/v1``, package
download only while a job needs it, job states to success and failure (success code list,
sequence mode 1), a deployment made through ``/api/v1`` run by the OCO agent, and what such a
computer cannot do (an ad-hoc command) refused with the reason.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from fleetdeck.api.dialects.oco import settings as oco_settings
from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from tests.dialects.oco.oco_agent import (
    EXECUTING,
    FINISHED,
    REGISTRATION_KEY,
    OcoAgent,
    ServerRefused,
    signature,
)
from tests.live_server import LiveServer

INSTALL = b'#!/bin/sh\necho "installing $1"\necho installed > "$1"\nexit "${2:-0}"\n'

INVENTORY: dict[str, Any] = {
    "hostname": "oco-pc1",
    "agent_version": "1.1.9",
    "os": "Ubuntu",
    "os_version": "24.04",
    "kernel_version": "6.8.0-45-generic",
    "architecture": "x86_64",
    "cpu": "Intel(R) Core(TM) i5-8250U",
    "ram": 8253440000,
    "serial": "SN-4711",
    "manufacturer": "LENOVO",
    "model": "20KH",
    "bios_version": "N23ET82W",
    "uptime": 7200,
    "domain": "example.org",
    "networks": [
        {
            "addr": "192.0.2.10",
            "netmask": "255.255.255.0",
            "broadcast": "192.0.2.255",
            "mac": "52:54:00:12:34:56",
            "interface": "eth0",
        }
    ],
    "partitions": [
        {
            "device": "/dev/sda1",
            "mountpoint": "/",
            "filesystem": "ext4",
            "size": 100 * 2**30,
            "free": 40 * 2**30,
        }
    ],
    "software": [{"name": "firefox", "version": "131.0", "description": "web browser"}],
    "logins": [{"username": "alice", "console": "tty1", "timestamp": "2026-12-01 08:00:00"}],
    "screens": [],
    "printers": [],
    "users": [],
    "devices": [],
}


def oco_client(live: LiveServer, runtime: Runtime, admin: Actor, token: str, method: str, data: Any) -> Any:
    runtime.services.settings.set(admin, oco_settings.ENABLED_KEY, True)
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": {"data": data}}
    r = httpx.post(f"{live.url}/api-client.php", json=body, auth=("admin", token), timeout=30)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert "result" in answer, answer
    return answer["result"]["data"]


def computer_of(v1: httpx.Client, hostname: str) -> dict[str, Any]:
    rows = [c for c in v1.get("/computers").json()["data"] if c["hostname"] == hostname]
    assert len(rows) == 1, rows
    row: dict[str, Any] = rows[0]
    return row


def create_package(v1: httpx.Client, family: str, procedure: str, **extra: Any) -> int:
    body = {
        "family_name": family,
        "version": "1.0",
        "install_procedure": procedure,
        "files": [{"name": "install.sh", "content": base64.b64encode(INSTALL).decode()}],
        **extra,
    }
    r = v1.post("/packages", json=body)
    assert r.status_code == 201, r.text
    return int(r.json()["data"]["id"])


def deploy(v1: httpx.Client, computer_id: int, package_ids: list[int], **extra: Any) -> dict[str, Any]:
    r = v1.post(
        "/deployments",
        json={"name": "to oco", "computer_ids": [computer_id], "package_ids": package_ids, **extra},
    )
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()["data"]
    return data


# ---------------------------------------------------------------- registration and signatures


def test_self_registration_is_off_by_default(live: LiveServer, tmp_path: Path) -> None:
    a = OcoAgent(live.url, "stranger", REGISTRATION_KEY)
    with pytest.raises(ServerRefused) as refused:
        a.hello()
    assert (refused.value.status, refused.value.text) == (401, "Client self-registration is disabled")


def test_registration_needs_the_registration_key(
    live: LiveServer, registration: None, v1: httpx.Client
) -> None:
    a = OcoAgent(live.url, "intruder", "not-the-registration-key")
    with pytest.raises(ServerRefused) as refused:
        a.hello()
    assert (refused.value.status, refused.value.text) == (401, "Invalid agent signature")
    assert [c for c in v1.get("/computers").json()["data"] if c["hostname"] == "intruder"] == []


def test_registration_hands_out_keys_and_makes_a_polling_computer(
    live: LiveServer, registration: None, v1: httpx.Client, runtime: Runtime
) -> None:
    a = OcoAgent(live.url, "oco-pc1", REGISTRATION_KEY)
    params = a.hello()
    assert params["update"] == 1  # a new computer: send the inventory
    assert params["software-jobs"] == [] and params["events"] == [] and params["update-passwords"] == []
    assert a.agent_key != REGISTRATION_KEY and len(a.agent_key) >= 32
    assert a.server_key and a.server_key != a.agent_key
    row = computer_of(v1, "oco-pc1")
    assert row["agent_kind"] == "polling" and row["enrolled"] is True
    assert row["agent_version"] == "1.1.9" and row["last_seen"] is not None
    assert "commands" not in row["capabilities"] and "packages" in row["capabilities"]
    # from now on only its own key: the registration key is refused
    with pytest.raises(ServerRefused) as refused:
        a.checked(a.send(a.body("oco.agent.hello", {}), key=REGISTRATION_KEY))
    assert refused.value.text == "Invalid agent signature"
    again = a.hello()  # signed with its key; the answer verified with the server key
    assert again["agent-key"] is None and again["server-key"] is None
    audit = runtime.services.audit
    assert audit is not None


def test_the_keys_are_encrypted_at_rest(agent: OcoAgent, runtime: Runtime) -> None:
    from sqlalchemy import select

    from fleetdeck.storage.tables import Computer

    with runtime.db.engine.connect() as conn:
        row = conn.execute(
            select(Computer.agent_key_enc, Computer.agent_server_key_enc, Computer.agent_key_hash)
        ).one()
    blob = json.dumps(list(row))
    assert agent.agent_key not in blob and agent.server_key not in blob


def test_a_pre_registered_computer_gets_its_key_with_the_registration_key(
    live: LiveServer, runtime: Runtime, admin: Actor, v1: httpx.Client
) -> None:
    # self-registration stays off: pre-registered computers still come in with the key
    runtime.services.settings.set(admin, oco_settings.AGENT_REGISTRATION_KEY, REGISTRATION_KEY)
    r = v1.post("/computers", json={"hostname": "prereg"})
    assert r.status_code == 201, r.text
    cid = r.json()["data"]["id"]
    a = OcoAgent(live.url, "PREREG", REGISTRATION_KEY)  # host names match as OCO's do, any case
    params = a.hello()
    assert params["agent-key"] and params["server-key"]
    assert computer_of(v1, "prereg")["id"] == cid  # the same computer, not a new one
    assert computer_of(v1, "prereg")["agent_kind"] == "polling"
    a.hello()
    b = OcoAgent(live.url, "prereg", REGISTRATION_KEY)
    with pytest.raises(ServerRefused):
        b.hello()  # the registration key worked once, for the first agent only


def test_replayed_request_is_refused(agent: OcoAgent) -> None:
    raw = agent.body("oco.agent.hello", {"agent_version": "1.1.9"})
    agent.checked(agent.send(raw))
    with pytest.raises(ServerRefused) as refused:
        agent.checked(agent.send(raw))  # the same bytes, the same valid signature
    assert (refused.value.status, refused.value.text) == (401, "Agent timestamp too old")
    older = json.loads(raw)
    older["params"]["timestamp"] -= 100
    with pytest.raises(ServerRefused):
        agent.checked(agent.send(json.dumps(older).encode()))
    agent.hello()  # a fresh request still passes


def test_tampered_body_is_refused(agent: OcoAgent) -> None:
    raw = agent.body("oco.agent.hello", {"agent_version": "1.1.9"})
    good = signature(agent.agent_key, raw)
    tampered = raw.replace(b"oco-pc1", b"oco-pc2")
    r = httpx.post(
        agent.endpoint,
        content=tampered,
        headers={"content-type": "application/json", "x-oco-agent-signature": good},
    )
    assert r.status_code == 401
    # the hostname changed, so the server looked for oco-pc2: the check is the same for a
    # change that keeps the name
    tampered = raw.replace(b'"1.1.9"', b'"6.6.6"')
    r = httpx.post(
        agent.endpoint,
        content=tampered,
        headers={"content-type": "application/json", "x-oco-agent-signature": good},
    )
    assert (r.status_code, r.text) == (401, "Invalid agent signature")
    r = agent.send(agent.body("oco.agent.hello", {}), signed=False)
    assert (r.status_code, r.text) == (401, "Signature header missing")


def test_the_server_signs_every_answer(agent: OcoAgent) -> None:
    r = agent.send(agent.body("oco.agent.hello", {}))
    assert r.headers["x-oco-server-signature"] == signature(agent.server_key, r.content)
    assert r.headers["x-oco-server-signature"] != signature("some-other-key", r.content)
    body = r.json()
    assert list(body) == ["id", "error", "result"] and body["error"] is None
    assert isinstance(body["result"]["timestamp"], float)


def test_bad_requests_get_ocos_plain_text_answers(live: LiveServer, agent: OcoAgent) -> None:
    url = f"{live.url}/api-agent.php"
    r = httpx.post(url, content=b"{}", headers={"content-type": "text/plain"})
    assert (r.status_code, r.text) == (400, "Content type mismatch")
    for body in (
        b"not json",
        b"[]",
        b'{"jsonrpc":"2.0","method":"oco.agent.hello","id":1}',
        b'{"jsonrpc":"1.0"}',
    ):
        r = httpx.post(url, content=body, headers={"content-type": "application/json"})
        assert (r.status_code, r.text) == (400, "Invalid JSON data"), body
    r = agent.send(agent.body("oco.agent.nothing", {}))
    assert (r.status_code, r.text) == (400, "Unknown method")
    r = agent.send(agent.body("oco.agent.update_job_state", {"job-id": 1}))
    assert (r.status_code, r.text) == (400, "Invalid JSON data")
    r = agent.send(agent.body("oco.agent.update", {}))
    assert (r.status_code, r.text) == (400, "Invalid JSON data")
    r = agent.send(agent.body("oco.agent.hello", {}, hostname=None))
    assert r.status_code == 400


# ---------------------------------------------------------------- inventory


def test_inventory_feeds_the_one_model(
    agent: OcoAgent, v1: httpx.Client, live: LiveServer, runtime: Runtime, admin: Actor, token: str
) -> None:
    answer = agent.update(INVENTORY)
    assert answer["result"]["success"] is True
    cid = computer_of(v1, "oco-pc1")["id"]
    detail = v1.get(f"/computers/{cid}").json()["data"]
    assert (detail["os"], detail["os_version"], detail["kernel"]) == ("Ubuntu", "24.04", "6.8.0-45-generic")
    assert detail["os_family"] == "linux" and detail["ram_bytes"] == 8253440000
    assert (detail["serial"], detail["manufacturer"], detail["domain"]) == (
        "SN-4711",
        "LENOVO",
        "example.org",
    )
    assert detail["software"] == [{"name": "firefox", "version": "131.0", "description": "web browser"}]
    assert detail["network_interfaces"][0]["mac"] == "52:54:00:12:34:56"
    assert detail["network_interfaces"][0]["addresses"][0]["address"] == "192.0.2.10"
    assert (
        detail["filesystems"][0]["mountpoint"] == "/"
        and detail["filesystems"][0]["size_bytes"] == 100 * 2**30
    )
    oco = oco_client(live, runtime, admin, token, "oco.computer.get", {"id": cid})
    assert oco["general"]["os"] == "Ubuntu" and oco["general"]["serial"] == "SN-4711"
    assert oco["general"]["agent_version"] == "1.1.9"
    assert any(s["software_name"] == "firefox" for s in oco["recognised_software"])
    assert any(n["mac"] == "52:54:00:12:34:56" for n in oco["networks"])
    assert agent.hello()["update"] == 0  # the inventory is fresh now


# ---------------------------------------------------------------- jobs


def test_a_v1_deployment_runs_on_the_oco_agent(agent: OcoAgent, v1: httpx.Client, tmp_path: Path) -> None:
    agent.update(INVENTORY)
    cid = computer_of(v1, "oco-pc1")["id"]
    marker = tmp_path / "marker"
    pid = create_package(v1, "Tool", f"sh install.sh {marker}", install_success_codes="0")
    container = deploy(v1, cid, [pid])
    jobs = agent.hello()["software-jobs"]
    assert len(jobs) == 1
    job = jobs[0]
    assert job["id"] == container["job_ids"][0] and job["container-id"] == container["id"]
    assert job["package-id"] == pid and job["download"] is True and job["sequence-mode"] == 0
    assert (job["restart"], job["shutdown"], job["exit"]) == (None, None, None)
    assert agent.run_jobs(jobs) == [(job["id"], True)]
    assert marker.read_text() == "installed\n"
    status = v1.get(f"/deployments/{container['id']}").json()["data"]
    assert status["status"] == "succeeded", status
    row = v1.get(f"/jobs/{job['id']}").json()["data"]
    assert row["status"] == "succeeded" and row["exit_code"] == 0 and "installing" in row["stdout"]
    installed = v1.get("/installations", params={"computer_id": cid}).json()["data"]
    assert [i["package_id"] for i in installed] == [pid]
    assert agent.hello()["software-jobs"] == []  # done: not handed out again


def test_download_only_while_a_job_needs_the_package(agent: OcoAgent, v1: httpx.Client) -> None:
    cid = computer_of(v1, "oco-pc1")["id"]
    pid = create_package(v1, "Tool", "sh install.sh /dev/null")
    with pytest.raises(ServerRefused) as refused:
        agent.download(pid)
    assert (refused.value.status, refused.value.text) == (400, "No active job for this package")
    with pytest.raises(ServerRefused) as refused:
        agent.download(999999)
    assert (refused.value.status, refused.value.text) == (400, "Package not found")
    deploy(v1, cid, [pid])
    data = agent.download(pid)
    assert data.startswith(b"PK")
    other = OcoAgent(agent.url, "someone-else", REGISTRATION_KEY)
    other.hello()
    with pytest.raises(ServerRefused):
        other.download(pid)  # the job is oco-pc1's


def test_job_states_progress_and_failure_by_success_codes(agent: OcoAgent, v1: httpx.Client) -> None:
    cid = computer_of(v1, "oco-pc1")["id"]
    pid = create_package(v1, "Fails", "sh install.sh /dev/null 3", install_success_codes="0")
    container = deploy(v1, cid, [pid])
    [job] = agent.hello()["software-jobs"]
    # handed out, but queued until the agent says something (OCO's state 0): not "lost" if the
    # machine goes off now, and listed again at the next poll
    assert v1.get(f"/jobs/{job['id']}").json()["data"]["status"] == "queued"
    assert [j["id"] for j in agent.hello()["software-jobs"]] == [job["id"]]
    agent.job_state(job["id"], 1, None, **{"download-progress": 40})
    assert v1.get(f"/jobs/{job['id']}").json()["data"]["status"] == "running"
    [row] = v1.get(f"/deployments/{container['id']}").json()["data"]["jobs"]
    assert (row["status"], row["phase"], row["progress"]) == ("running", "download", 40)
    assert [j["id"] for j in agent.hello()["software-jobs"]] == [job["id"]]  # running: still listed
    assert agent.job_state(job["id"], EXECUTING, None, "half way") is False
    assert v1.get(f"/jobs/{job['id']}").json()["data"]["stdout"] == "half way"
    # exit code 3 reported as "finished": not in the success codes, so failed
    assert agent.job_state(job["id"], FINISHED, 3, "boom") is False
    row = v1.get(f"/jobs/{job['id']}").json()["data"]
    assert (row["status"], row["exit_code"], row["stdout"]) == ("failed", 3, "boom")
    assert v1.get(f"/deployments/{container['id']}").json()["data"]["status"] == "failed"
    # a final job stays final
    assert agent.job_state(job["id"], FINISHED, 0, "") is False
    assert agent.hello()["software-jobs"] == []


def test_sequence_mode_one_stops_the_container_after_a_failure(agent: OcoAgent, v1: httpx.Client) -> None:
    cid = computer_of(v1, "oco-pc1")["id"]
    bad = create_package(v1, "A", "sh install.sh /dev/null 1", install_success_codes="0")
    good = create_package(v1, "B", "sh install.sh /dev/null 0")
    container = deploy(v1, cid, [bad, good], sequence_mode=1)
    jobs = agent.hello()["software-jobs"]
    assert [j["package-id"] for j in jobs] == [bad, good] and jobs[0]["sequence-mode"] == 1
    assert agent.run_jobs(jobs) == [(jobs[0]["id"], False)]  # the agent skips the rest
    rows = {j["id"]: j for j in v1.get(f"/deployments/{container['id']}").json()["data"]["jobs"]}
    assert rows[jobs[1]["id"]]["status"] == "failed"  # aborted by the server (-8888)


def test_post_actions_reach_the_agent(agent: OcoAgent, v1: httpx.Client) -> None:
    cid = computer_of(v1, "oco-pc1")["id"]
    pid = create_package(v1, "Reboots", "true", install_post_action=1)
    deploy(v1, cid, [pid], restart_timeout_min=7)
    [job] = agent.hello()["software-jobs"]
    assert (job["restart"], job["shutdown"], job["exit"]) == (7, None, None)
    assert job["download"] is True


def test_a_job_of_another_computer_is_refused(agent: OcoAgent, v1: httpx.Client, live: LiveServer) -> None:
    cid = computer_of(v1, "oco-pc1")["id"]
    pid = create_package(v1, "Tool", "true")
    [job_id] = deploy(v1, cid, [pid])["job_ids"]
    other = OcoAgent(live.url, "oco-pc2", REGISTRATION_KEY)
    other.hello()
    with pytest.raises(ServerRefused) as refused:
        other.job_state(job_id, FINISHED, 0, "mine now")
    assert (refused.value.status, refused.value.text) == (
        401,
        f"Computer not allowed to update job »{job_id}«",
    )
    with pytest.raises(ServerRefused) as refused:
        other.job_state(987654, FINISHED, 0, "")
    assert (refused.value.status, refused.value.text) == (400, "Job »987654« not found")
    assert v1.get(f"/jobs/{job_id}").json()["data"]["status"] == "queued"


# ---------------------------------------------------------------- what it cannot do


def test_a_command_for_an_oco_computer_is_refused_with_the_reason(agent: OcoAgent, v1: httpx.Client) -> None:
    cid = computer_of(v1, "oco-pc1")["id"]
    r = v1.post("/commands", json={"command": "uptime", "computer_ids": [cid]})
    assert r.status_code == 409, r.text
    error = r.json()["error"]
    assert error["code"] == "agent_incapable"
    assert "polling agent" in error["message"] and "cannot run commands" in error["message"]
    r = v1.post("/actions", json={"action": "reboot", "computer_ids": [cid]})
    assert r.status_code == 409 and "cannot run actions" in r.json()["error"]["message"]
    r = v1.post(f"/computers/{cid}/ping")
    assert r.status_code == 409 and "cannot answer pings" in r.json()["error"]["message"]
    # through a group too: the group's OCO computer is named
    group = v1.post("/groups", json={"name": "with oco"})
    assert group.status_code == 201, group.text
    gid = group.json()["data"]["id"]
    assert v1.post(f"/groups/{gid}/members", json={"computer_ids": [cid]}).status_code == 200
    r = v1.post("/commands", json={"command": "uptime", "group_ids": [gid]})
    assert r.status_code == 409 and r.json()["error"]["detail"]["computer_id"] == cid
    assert r.json()["error"]["detail"]["capabilities"] == ["inventory", "packages"]


def test_a_hello_costs_the_same_with_one_job_and_with_ten(
    agent: OcoAgent, v1: httpx.Client, runtime: Runtime
) -> None:
    """A hello lists every open job: a constant number of statements, whatever their count."""
    from tests.integration.queries.test_list_query_counts import counting, fewest

    def hello(jobs: int) -> list[str]:
        with counting(runtime.db) as statements:
            assert len(agent.hello()["software-jobs"]) == jobs
        # the settings cache may reload in either (bookkeeping, the same whatever is listed)
        return [x for x in statements if "FROM settings" not in x and x != "BEGIN"]

    cid = computer_of(v1, "oco-pc1")["id"]
    deploy(v1, cid, [create_package(v1, "P0", "true")])
    agent.hello()  # the first hands the job over (queued -> sent): count the steady state
    one = fewest(lambda: hello(1))
    for k in range(1, 10):
        deploy(v1, cid, [create_package(v1, f"P{k}", "true")])
    agent.hello()
    ten = fewest(lambda: hello(10))
    assert len(one) == len(ten), (one, ten)


def test_password_and_event_lists_are_answered_as_oco_answers_them(agent: OcoAgent) -> None:
    """The agent sends an empty password list after every hello: OCO answers success false
    (nothing stored). A password for an account no rotation rule names is not stored either
    (``test_agent_rest.py`` has the rotation itself)."""
    answer = agent.call("oco.agent.passwords", {"passwords": []})
    assert answer["result"] == {"success": False, "params": [], "timestamp": answer["result"]["timestamp"]}
    assert agent.call("oco.agent.events", {"events": []})["result"]["success"] is True
    answer = agent.call("oco.agent.passwords", {"passwords": [{"username": "root", "password": "x"}]})
    assert answer["result"]["success"] is False
    r = agent.send(agent.body("oco.agent.passwords", {"passwords": []}), key="wrong")
    assert (r.status_code, r.text) == (401, "Invalid agent signature")


def test_the_oco_computer_is_one_computer_in_opsi_too(agent: OcoAgent, live: LiveServer, token: str) -> None:
    """opsi lists it, and its hostControl says why it runs no command."""
    agent.update(INVENTORY)

    def opsi(method: str, *params: Any) -> Any:
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
        r = httpx.post(f"{live.url}/rpc", json=body, auth=("admin", token), timeout=30)
        assert r.status_code == 200, r.text
        return r.json()["result"]

    hosts = opsi("host_getObjects", [], {"type": "OpsiClient"})
    [host] = [h for h in hosts if h["id"].startswith("oco-pc1.")]
    answer = opsi("hostControl_execute", "uptime", [host["id"]])
    assert answer[host["id"]]["result"] is None
    assert "polling agent, which cannot run commands" in answer[host["id"]]["error"]
    answer = opsi("hostControl_reboot", [host["id"]])
    assert "cannot run actions" in answer[host["id"]]["error"]
    # online while it polls, but no message bus connection: not listed as connected
    assert host["id"] not in opsi("host_getMessagebusConnectedIds")


ODD_VALUES: list[Any] = [
    None,
    5,
    -1.5,
    1e308,
    "x",
    "",
    True,
    [],
    {},
    [1, "a", None],
    {"a": [1]},
    "\u00e9\U0001f308",
]


@pytest.mark.parametrize("value", ODD_VALUES)
def test_odd_values_never_give_a_500(agent: OcoAgent, value: Any) -> None:
    """Every field of every method with values of the wrong type: an OCO answer (200, 400 or
    401), never a server error, and the agent can go on."""
    fields = [
        (
            "oco.agent.hello",
            {"agent_version": value, "uptime": value, "force_update": value, "networks": value},
        ),
        ("oco.agent.update", {**INVENTORY, **{k: value for k in INVENTORY if k != "hostname"}}),
        ("oco.agent.update", {"networks": [value, {"interface": value, "addr": value, "mac": value}]}),
        ("oco.agent.update", {"partitions": [{"size": value, "free": value, "mountpoint": value}]}),
        (
            "oco.agent.update",
            {
                "software": [{"name": value, "version": value}],
                "logins": [{"username": value, "timestamp": value}],
            },
        ),
        (
            "oco.agent.update_job_state",
            {"job-id": value, "state": value, "return-code": value, "message": value},
        ),
        (
            "oco.agent.update_job_state",
            {"job-id": 1, "state": 1, "return-code": None, "message": "", "download-progress": value},
        ),
        ("oco.agent.passwords", {"passwords": value}),
        ("oco.agent.passwords", {"passwords": [{"username": value, "password": value, "revoke": value}]}),
        ("oco.agent.passwords", {"passwords": [{"username": "root", "password": value, "revoke": value}]}),
        ("oco.agent.events", {"events": value}),
        (
            "oco.agent.events",
            {
                "events": [
                    {k: value for k in ("log", "timestamp", "provider", "level", "event_id", "data")},
                    {"log": value, "timestamp": "2026-12-01 00:00:00", "provider": value, "data": value},
                    {"log": "x", "timestamp": "2026-12-01 00:00:00", "level": value, "event_id": value},
                ]
            },
        ),
    ]
    for method, data in fields:
        r = agent.send(agent.body(method, data))
        assert r.status_code in (200, 400, 401), (method, data, r.status_code, r.text)
    for params in ({"timestamp": value}, {"hostname": value}, {"package-id": value}):
        r = agent.send(agent.body("oco.agent.download", None, **params), http_method="GET")
        assert r.status_code in (400, 401), (params, r.status_code, r.text)
    r = agent.send(agent.body("oco.agent.hello", {}), key="k\u00e9y")
    assert r.status_code == 401
    raw = agent.body("oco.agent.hello", {})
    r = httpx.post(
        agent.endpoint,
        content=raw,
        headers=[(b"content-type", b"application/json"), (b"x-oco-agent-signature", "sïg".encode("latin-1"))],
    )
    assert (r.status_code, r.text) == (401, "Invalid agent signature")
    agent.hello()
