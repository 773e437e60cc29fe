"""Computers: CRUD, the list syntax (filter, sort, page) and the inventory detail."""

from __future__ import annotations

from datetime import datetime

import pytest

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from fleetdeck.protocol import messages as m
from tests.integration.api.conftest import Api, assert_error

HOSTS = ["web-01", "web-02", "web-03", "db-01", "mail"]


@pytest.fixture
def hosts(admin_api: Api) -> dict[str, int]:
    ids = {}
    for name in HOSTS:
        r = admin_api.post("/computers", json={"hostname": name, "notes": f"notes of {name}"})
        assert r.status_code == 201, r.text
        ids[name] = r.json()["data"]["id"]
    return ids


def names(response_json: dict) -> list[str]:  # type: ignore[type-arg]
    return [c["hostname"] for c in response_json["data"]]


def test_create_get_update_delete(admin_api: Api) -> None:
    r = admin_api.post("/computers", json={"hostname": "pc-1"})
    assert r.status_code == 201
    created = r.json()["data"]
    assert created["hostname"] == "pc-1"
    assert created["enrolled"] is False
    assert created["online"] is False
    assert created["created_at"].endswith("Z")
    cid = created["id"]

    assert_error(admin_api.post("/computers", json={"hostname": "PC-1"}), 409, "conflict")
    assert_error(admin_api.post("/computers", json={"hostname": "   "}), 422, "validation_failed")

    r = admin_api.patch(f"/computers/{cid}", json={"notes": "in room 4"})
    assert r.status_code == 200
    assert r.json()["data"]["notes"] == "in room 4"
    assert admin_api.get(f"/computers/{cid}").json()["data"]["notes"] == "in room 4"

    assert admin_api.delete(f"/computers/{cid}").status_code == 204
    assert_error(admin_api.get(f"/computers/{cid}"), 404, "not_found")
    assert_error(admin_api.delete(f"/computers/{cid}"), 404)
    assert_error(admin_api.patch(f"/computers/{cid}", json={"notes": "x"}), 404)


def test_list_envelope(admin_api: Api, hosts: dict[str, int]) -> None:
    body = admin_api.get("/computers").json()
    assert body["meta"] == {"count": 5}
    assert sorted(names(body)) == sorted(HOSTS)


def test_filter_glob_sort_and_page(admin_api: Api, hosts: dict[str, int]) -> None:
    r = admin_api.get(
        "/computers", params={"filter[hostname]": "web*", "sort": "-hostname", "page[limit]": 2}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["meta"]["count"] == 3  # total before paging
    assert names(body) == ["web-03", "web-02"]
    r = admin_api.get(
        "/computers",
        params={"filter[hostname]": "web*", "sort": "-hostname", "page[limit]": 2, "page[offset]": 2},
    )
    assert names(r.json()) == ["web-01"]


def test_filter_operators(admin_api: Api, hosts: dict[str, int]) -> None:
    def q(**params: str) -> list[str]:
        r = admin_api.get("/computers", params={"sort": "hostname", **params})
        assert r.status_code == 200, r.text
        return names(r.json())

    assert q(**{"filter[hostname]": "mail"}) == ["mail"]
    assert q(**{"filter[hostname]": "mail,db-01"}) == ["db-01", "mail"]
    assert q(**{"filter[hostname][in]": "mail,db-01"}) == ["db-01", "mail"]
    assert q(**{"filter[hostname][ne]": "mail", "filter[hostname][like]": "*-0?"}) == []  # ? is literal
    assert q(**{"filter[hostname][like]": "WEB-0*"}) == ["web-01", "web-02", "web-03"]
    assert q(**{"filter[id][gt]": str(hosts["web-03"])}) == ["db-01", "mail"]
    assert q(**{"filter[id][le]": str(hosts["web-02"])}) == ["web-01", "web-02"]
    assert q(**{"filter[last_seen][is_null]": "false"}) == []
    assert len(q(**{"filter[last_seen][is_null]": "true"})) == 5
    assert q(**{"filter[online]": "false", "filter[hostname]": "db*"}) == ["db-01"]
    assert q(**{"filter[created_at][lt]": "2000-01-01T00:00:00Z"}) == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"filter[nope]": "x"}, "nope"),
        ({"filter[hostname][between]": "a"}, "filter[hostname][between]"),
        ({"filter[id]": "abc"}, "id"),
        ({"filter[id][gt]": "99999999999999999999999"}, "id"),
        ({"filter[created_at][gt]": "yesterday"}, "created_at"),
        ({"filter[online]": "maybe"}, "online"),
        ({"filter[last_seen][is_null]": "perhaps"}, "filter[last_seen][is_null]"),
        ({"filter[hostname]": "a\x00b"}, "filter[hostname]"),
        ({"filter[id]": "1*"}, "id"),
        ({"filter": "x"}, "filter"),
        ({"hostname": "x"}, "hostname"),
        ({"sort": "nope"}, "sort"),
        ({"sort": "-"}, "sort"),
    ],
)
def test_bad_list_parameters_are_422(
    admin_api: Api, hosts: dict[str, int], params: dict[str, str], field: str
) -> None:
    error = assert_error(admin_api.get("/computers", params=params), 422, "validation_failed")
    assert error["detail"]["field"] == field


@pytest.mark.parametrize(
    "params",
    [
        {"page[limit]": "1001"},
        {"page[limit]": "-1"},
        {"page[limit]": "x"},
        {"page[offset]": "-5"},
        {"page[offset]": "1e99"},
    ],
)
def test_bad_paging_is_422(admin_api: Api, params: dict[str, str]) -> None:
    error = assert_error(admin_api.get("/computers", params=params), 422, "validation_failed")
    assert error["detail"]["errors"][0]["field"].startswith("query.page[")


def test_unknown_computer_is_404(admin_api: Api) -> None:
    error = assert_error(admin_api.get("/computers/999999"), 404, "not_found")
    assert error["detail"] == {"object_type": "computer", "object_id": 999999}
    assert_error(admin_api.get("/computers/999999/jobs"), 404)


def test_detail_includes_inventory(
    admin_api: Api, hosts: dict[str, int], runtime: Runtime, system: Actor
) -> None:
    cid = hosts["web-01"]
    inv = m.Inventory(
        hostname="web-01",
        fqdn="web-01.example.org",
        os="Debian GNU/Linux",
        os_version="12",
        os_family="linux",
        kernel="6.1.0",
        architecture="x86_64",
        cpu_model="Xeon",
        cpu_cores=4,
        cpu_threads=8,
        ram_bytes=16 * 2**30,
        boot_time=1_700_000_000.0,
        manufacturer="ACME",
        model="R1",
        serial="SN1",
        bios_version="1.2",
        machine_id="abc123",
        domain="example.org",
        timezone="UTC",
        filesystems=[
            m.Filesystem(mountpoint="/", fstype="ext4", size_bytes=100, free_bytes=40, device="sda1")
        ],
        network_interfaces=[
            m.NetworkInterface(
                name="eth0",
                mac="aa:bb:cc:dd:ee:ff",
                addresses=[
                    m.Address(
                        address="10.0.0.5", family="ipv4", netmask="255.255.255.0", broadcast="10.0.0.255"
                    )
                ],
            )
        ],
        software=[m.Software(name="openssh-server", version="9.2", description="ssh server")],
        logged_in_users=[
            m.LoggedInUser(name="alice", terminal="pts/0", host="10.0.0.9", started=1_700_000_100.0)
        ],
    )
    runtime.services.computers.record_inventory(system, cid, inv, m.inventory_digest(inv))
    gid = admin_api.post("/groups", json={"name": "Web"}).json()["data"]["id"]
    admin_api.post(f"/groups/{gid}/members", json={"computer_ids": [cid]})

    d = admin_api.get(f"/computers/{cid}").json()["data"]
    summary = {
        "id",
        "uid",
        "hostname",
        "fqdn",
        "os",
        "os_version",
        "architecture",
        "ram_bytes",
        "agent_version",
        "notes",
        "created_at",
        "last_seen",
        "online",
        "enrolled",
        "remote_address",
        "agent_kind",
        "capabilities",
    }
    assert summary <= set(d)
    assert d["agent_kind"] == "fleetdeck" and "commands" in d["capabilities"]
    assert d["fqdn"] == "web-01.example.org"
    assert d["ram_bytes"] == 16 * 2**30
    assert d["os_family"] == "linux"
    assert (d["cpu_cores"], d["cpu_threads"]) == (4, 8)
    assert datetime.fromisoformat(d["boot_time"]).timestamp() == 1_700_000_000.0
    assert d["inventory_at"] is not None
    assert (d["serial"], d["machine_id"], d["timezone"]) == ("SN1", "abc123", "UTC")
    assert d["filesystems"] == [
        {"mountpoint": "/", "fstype": "ext4", "size_bytes": 100, "free_bytes": 40, "device": "sda1"}
    ]
    assert d["network_interfaces"] == [
        {
            "name": "eth0",
            "mac": "aa:bb:cc:dd:ee:ff",
            "addresses": [
                {
                    "address": "10.0.0.5",
                    "family": "ipv4",
                    "netmask": "255.255.255.0",
                    "broadcast": "10.0.0.255",
                }
            ],
        }
    ]
    assert d["software"] == [{"name": "openssh-server", "version": "9.2", "description": "ssh server"}]
    assert d["logged_in_users"][0]["username"] == "alice"
    assert d["logged_in_users"][0]["started_at"].startswith("2023-11-14T22:")
    assert d["groups"] == [{"id": gid, "key": "web", "name": "Web"}]
    # The list keeps to the summary.
    row = admin_api.get("/computers", params={"filter[id]": cid}).json()["data"][0]
    assert set(row) == summary
    assert row["os"] == "Debian GNU/Linux"


def test_allowing_a_reenroll(admin_api: Api, viewer_api: Api, runtime: Runtime) -> None:
    cid = admin_api.post("/computers", json={"hostname": "pc-r"}).json()["data"]["id"]
    assert_error(viewer_api.post(f"/computers/{cid}/allow-reenroll", json={}), 403)
    assert_error(admin_api.post("/computers/999999/allow-reenroll", json={}), 404, "not_found")
    assert_error(admin_api.post(f"/computers/{cid}/allow-reenroll", json={"within_sec": 0}), 422)
    r = admin_api.post(f"/computers/{cid}/allow-reenroll", json={"within_sec": 3600})
    assert r.status_code == 200, r.text
    until = datetime.fromisoformat(r.json()["data"]["reenroll_until"].replace("Z", "+00:00"))
    default = admin_api.post(f"/computers/{cid}/allow-reenroll", json={})  # one day
    assert default.status_code == 200, default.text
    longer = datetime.fromisoformat(default.json()["data"]["reenroll_until"].replace("Z", "+00:00"))
    assert 23 * 3600 < (longer - until).total_seconds() < 24 * 3600
    assert admin_api.delete(f"/computers/{cid}/allow-reenroll").status_code == 204
    actions = [
        (row["action"], row["result"])
        for row in admin_api.get("/audit", params={"filter[object_type]": "computer"}).json()["data"]
    ]
    assert actions[:3] == [
        ("computer.disallow_reenroll", "ok"),
        ("computer.allow_reenroll", "ok"),
        ("computer.allow_reenroll", "ok"),
    ]
    assert ("computer.allow_reenroll", "denied") in actions
