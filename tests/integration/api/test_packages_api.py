"""/packages, /package-families, /package-groups, /installations, /deployments, /deployment-rules."""

from __future__ import annotations

import base64
import io
import zipfile

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from fleetdeck.core.errors import Reason
from tests.integration.api.conftest import Api, assert_error


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def make_package(api: Api, family: str = "Tool", version: str = "1.0", **extra: object) -> dict[str, object]:
    body = {"family_name": family, "version": version, "install_procedure": "sh install.sh", **extra}
    r = api.post("/packages", json=body)
    assert r.status_code == 201, r.text
    data: dict[str, object] = r.json()["data"]
    return data


def test_package_lifecycle_with_payload(admin_api: Api) -> None:
    p = make_package(
        admin_api, files=[{"name": "install.sh", "content": b64(b"echo hi")}], compatible_os="Debian\nUbuntu"
    )
    assert p["family_key"] == "tool" and p["payload_size"] and p["install_success_codes"] == "0"
    r = admin_api.get(f"/packages/{p['id']}/payload")
    assert r.status_code == 200 and r.headers["x-payload-sha256"] == p["payload_sha256"]
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        assert zf.read("install.sh") == b"echo hi"
    assert admin_api.get("/packages", params={"filter[version]": "1.*"}).json()["meta"]["count"] == 1
    detail = admin_api.get(f"/packages/{p['id']}").json()["data"]
    assert detail["groups"] == [] and detail["installations"] == [] and detail["pending_jobs"] == []
    r = admin_api.patch(f"/packages/{p['id']}", json={"description": "new", "files": []})
    assert r.status_code == 200 and r.json()["data"]["payload_sha256"] is None
    read = admin_api.get(f"/packages/{p['id']}").json()["data"]
    assert (read["description"], read["payload_sha256"], read["payload_size"]) == ("new", None, None)
    assert_error(admin_api.get(f"/packages/{p['id']}/payload"), 404)
    dup = admin_api.post(
        "/packages", json={"family_name": "Tool", "version": "1.0", "install_procedure": "x"}
    )
    assert assert_error(dup, 422)["detail"]["reason"] == Reason.VERSION_EXISTS
    bad = admin_api.post(
        "/packages",
        json={
            "family_name": "T",
            "version": "1",
            "install_procedure": "x",
            "files": [{"name": "a", "content": "%%"}],
        },
    )
    assert assert_error(bad, 422)["detail"]["reason"] == "payload_corrupt"
    families = admin_api.get("/package-families").json()["data"]
    assert [(f["name"], f["package_count"]) for f in families] == [("Tool", 1)]
    fid = families[0]["id"]
    assert admin_api.patch(f"/package-families/{fid}", json={"notes": "n"}).status_code == 200
    assert admin_api.get(f"/package-families/{fid}").json()["data"]["notes"] == "n"
    assert admin_api.delete(f"/packages/{p['id']}").status_code == 204
    assert_error(admin_api.get(f"/packages/{p['id']}"), 404, "not_found")
    assert admin_api.delete(f"/package-families/{fid}").status_code == 204
    assert_error(admin_api.get(f"/package-families/{fid}"), 404, "not_found")


def test_groups_deployments_installations_and_rules(admin_api: Api, runtime: Runtime, admin: Actor) -> None:
    pc = runtime.services.computers.create(admin, "pc1").id
    p1, p2 = make_package(admin_api, "A"), make_package(admin_api, "B")
    g = admin_api.post("/package-groups", json={"name": "base"}).json()["data"]
    admin_api.post(f"/package-groups/{g['id']}/members", json={"package_id": p1["id"]})
    members = admin_api.post(
        f"/package-groups/{g['id']}/members", json={"package_id": p2["id"], "sequence": 1}
    )
    assert [x["package"]["id"] for x in members.json()["data"]] == [p2["id"], p1["id"]]
    r = admin_api.post(
        "/deployments",
        json={
            "name": "roll",
            "computer_ids": [pc],
            "package_group_ids": [g["id"]],
            "priority": 5,
            "time_frames": ["MON 08:00-18:00"],
            "end": "2999-01-01T00:00:00Z",
        },
    )
    assert r.status_code == 201, r.text
    container = admin_api.get(f"/deployments/{r.json()['data']['id']}").json()["data"]
    assert container["status"] == "in_progress" and container["priority"] == 5
    assert [(j["package_id"], j["sequence"], j["status"]) for j in container["jobs"]] == [
        (p2["id"], 1, "queued"),
        (p1["id"], 2, "queued"),
    ]
    assert all("state" not in j for j in container["jobs"])  # OCO's numeric states are OCO's
    assert admin_api.get("/deployments").json()["meta"]["count"] == 1
    bad = admin_api.post(
        "/deployments",
        json={"name": "x", "computer_ids": [pc], "package_ids": [p1["id"]], "agent_ip_ranges": ["nope"]},
    )
    assert assert_error(bad, 400)["detail"]["reason"] == Reason.INVALID_IP_RANGE
    none = admin_api.post(
        "/deployments", json={"name": "x", "computer_ids": [999], "package_ids": [p1["id"]]}
    )
    assert assert_error(none, 422)["detail"]["reason"] == Reason.NO_JOBS
    assert admin_api.delete(f"/deployments/{container['id']}").status_code == 204
    assert_error(admin_api.get(f"/deployments/{container['id']}"), 404, "not_found")
    assert admin_api.get("/deployments").json()["meta"]["count"] == 0

    inst = admin_api.post("/installations", json={"computer_id": pc, "package_id": p1["id"]}).json()["data"]
    assert (
        admin_api.get("/installations", params={"package_id": p1["id"]}).json()["data"][0]["id"] == inst["id"]
    )
    r = admin_api.post("/deployments/uninstall", json={"name": "rm", "installation_ids": [inst["id"]]})
    jobs = admin_api.get(f"/deployments/{r.json()['data']['id']}").json()["data"]["jobs"]
    assert [(j["kind"], j["is_uninstall"]) for j in jobs] == [("package_uninstall", True)]
    assert admin_api.delete(f"/installations/{inst['id']}").status_code == 204
    assert admin_api.get("/installations", params={"package_id": p1["id"]}).json()["data"] == []

    cg = admin_api.post("/groups", json={"name": "pcs"}).json()["data"]
    rule = admin_api.post(
        "/deployment-rules", json={"name": "r", "computer_group_id": cg["id"], "package_group_id": g["id"]}
    )
    assert rule.status_code == 201, rule.text
    rid = rule.json()["data"]["id"]
    admin_api.post(f"/groups/{cg['id']}/members", json={"computer_ids": [pc]})
    assert len(admin_api.get(f"/deployment-rules/{rid}/jobs").json()["data"]) == 2
    r = admin_api.patch(f"/deployment-rules/{rid}", json={"enabled": False, "priority": -3})
    assert (r.json()["data"]["enabled"], r.json()["data"]["priority"]) == (False, -3)
    read = admin_api.get(f"/deployment-rules/{rid}").json()["data"]
    assert (read["enabled"], read["priority"], read["name"]) == (False, -3, "r")
    assert admin_api.delete(f"/deployment-rules/{rid}").status_code == 204
    assert_error(admin_api.get(f"/deployment-rules/{rid}"), 404, "not_found")
    assert admin_api.delete(f"/package-groups/{g['id']}/members/{p1['id']}").status_code == 204
    assert admin_api.get(f"/package-groups/{g['id']}").json()["data"]["package_count"] == 1


def test_viewers_read_but_cannot_change(admin_api: Api, viewer_api: Api, operator_api: Api) -> None:
    p = make_package(admin_api)
    listed = viewer_api.get("/packages").json()
    assert [(x["id"], x["family_name"], x["version"]) for x in listed["data"]] == [(p["id"], "Tool", "1.0")]
    assert_error(
        viewer_api.post("/packages", json={"family_name": "x", "version": "1", "install_procedure": "y"}), 403
    )
    assert_error(viewer_api.post("/deployments", json={"name": "d", "package_ids": [p["id"]]}), 403)
    assert_error(viewer_api.get(f"/packages/{p['id']}/payload"), 403)
    assert [x["id"] for x in admin_api.get("/packages").json()["data"]] == [p["id"]]
    assert admin_api.get("/deployments").json()["meta"]["count"] == 0
    ops = make_package(operator_api, "Ops")
    assert ops["created_by"] == "olga"
    assert admin_api.get(f"/packages/{ops['id']}").json()["data"]["family_name"] == "Ops"
