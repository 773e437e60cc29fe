"""``POST /api/v1/packages/import-opsi`` and ``fleetdeck package import-opsi``: an opsi package
file becomes a package with its properties, dependency rules and CLIENT_DATA payload; a file that
is no importable package is a 422 (or a CLI error) that says what is wrong."""

from __future__ import annotations

import base64
import io
import subprocess
import zipfile

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from fleetdeck.settings import Settings
from tests.integration.api.conftest import Api, assert_error
from tests.integration.cli.run import fleetdeck
from tests.opsi_packages import CONTROL_LEGACY, SETUP, build_opsi, tar_bytes


def body(data: bytes, name: str = "hello_1.2-3.opsi", **extra: object) -> dict[str, object]:
    return {"file": {"name": name, "content": base64.b64encode(data).decode()}, **extra}


def test_import_over_v1_and_again_replaces(admin_api: Api, runtime: Runtime, admin: Actor) -> None:
    base = admin_api.post(
        "/packages", json={"family_name": "base", "version": "1", "install_procedure": "true"}
    )
    assert base.status_code == 201, base.text
    r = admin_api.post("/packages/import-opsi", json=body(build_opsi(), property_defaults={"greeting": "hi"}))
    assert r.status_code == 201, r.text
    out = r.json()["data"]
    pkg = out["package"]
    assert (pkg["family_key"], pkg["family_name"], pkg["version"], pkg["package_version"]) == (
        "hello",
        "Hello World",
        "1.2",
        "3",
    )
    assert pkg["install_procedure"] == "sh ./setup.sh" and pkg["priority"] == 5
    assert out["replaced"] is False and out["unresolved"] == []
    assert [rule["requires_id"] for rule in pkg["dependency_rules"]] == [base.json()["data"]["id"]]
    props = {p.prop.key: p.prop for p in runtime.services.properties.find(admin, [pkg["id"]])}
    assert props["greeting"].default_values == ["hi"] and props["loud"].kind == "bool"
    payload = admin_api.get(f"/packages/{pkg['id']}/payload")
    with zipfile.ZipFile(io.BytesIO(payload.content)) as zf:
        assert zf.read("setup.sh") == SETUP
    again = admin_api.post("/packages/import-opsi", json=body(build_opsi()))
    assert again.status_code == 201 and again.json()["data"]["replaced"] is True
    assert again.json()["data"]["package"]["id"] == pkg["id"]


def test_bad_files_are_422_with_the_reason(admin_api: Api, viewer_api: Api) -> None:
    err = assert_error(
        admin_api.post("/packages/import-opsi", json=body(b"garbage" * 100)), 422, "validation_failed"
    )
    assert "neither a tar nor a cpio archive" in err["message"]
    assert err["detail"]["reason"] == "invalid_package_archive" and err["detail"]["field"] == "file"
    traversal = tar_bytes(
        {
            "OPSI.tar": tar_bytes({"control": CONTROL_LEGACY.encode()}),
            "CLIENT_DATA.tar": tar_bytes({"../x": b"1"}),
        }
    )
    err = assert_error(admin_api.post("/packages/import-opsi", json=body(traversal)), 422)
    assert "outside its directory" in err["message"]
    assert_error(admin_api.post("/packages/import-opsi", json={"file": {"name": "a", "content": "%%%"}}), 422)
    assert_error(viewer_api.post("/packages/import-opsi", json=body(build_opsi())), 403)
    assert admin_api.get("/packages").json()["data"] == []


def cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return fleetdeck(settings, "package", "import-opsi", *args)


def test_the_cli_imports_a_package_file(settings: Settings, runtime: Runtime, admin: Actor) -> None:
    path = settings.data_dir / "legacy-tool_2.0-7.opsi"
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        build_opsi(control=CONTROL_LEGACY, control_name="control", archive="cpio", compression="gz")
    )
    out = cli(settings, str(path))
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("imported legacy-tool 2.0-7 (package ")
    (pkg,) = runtime.services.packages.list_families(admin)
    assert pkg.key == "legacy-tool" and pkg.name == "Legacy Tool"
    bad = settings.data_dir / "bad.opsi"
    bad.write_bytes(b"nope" * 200)
    out = cli(settings, str(bad))
    assert out.returncode == 2 and "bad.opsi: " in out.stderr and "neither a tar nor a cpio" in out.stderr


def test_the_answer_says_what_was_kept_but_not_run(admin_api: Api, settings: Settings) -> None:
    data = build_opsi(opsi={"postinst": b"echo post\n"}, server={"etc/x.conf": b"1"})
    r = admin_api.post("/packages/import-opsi", json=body(data))
    assert r.status_code == 201, r.text
    not_run = {n["file"]: n["why"] for n in r.json()["data"]["not_run"]}
    assert set(not_run) == {"OPSI/postinst", "SERVER_DATA (1 files)"}
    assert "runs no package code" in not_run["OPSI/postinst"]
    path = settings.data_dir / "with-server.opsi"
    path.write_bytes(data)
    out = cli(settings, str(path))
    assert out.returncode == 0, out.stderr
    assert "kept, not run: OPSI/postinst: opsi runs it as root" in out.stderr
    assert list((settings.data_dir / "tmp").iterdir()) == []
