"""Real opsi package files through ``/rpc``: ``depot_installPackage`` and
``workbench_installPackage`` import product, properties, dependency rules and the CLIENT_DATA
payload from archives built here as opsi-makepackage builds them (tar or cpio, zstd/gz/bz2,
``control.toml`` or the INI-like ``control``), and refuse bad ones in opsi's error format."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import pytest

from fleetdeck.app import Runtime
from fleetdeck.settings import Settings
from tests.factories import audit_mark, audit_since
from tests.opsi_packages import CONTROL_LEGACY, CONTROL_TOML, SETUP, build_opsi, cpio_bytes, tar_bytes

from .conftest import Rpc

BASE = {
    "type": "LocalbootProduct",
    "id": "base",
    "productVersion": "1.0",
    "packageVersion": "1",
    "setupScript": "true",
}


def repository(settings: Settings) -> Path:
    path = settings.data_dir / "repository"
    path.mkdir(parents=True, exist_ok=True)
    return path


def put(settings: Settings, name: str, data: bytes, area: str = "repository") -> str:
    directory = settings.data_dir / area
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_bytes(data)
    return f"/var/lib/opsi/{area}/{name}"


def payload_names(rpc: Rpc, package_id: int) -> dict[str, bytes]:
    r = rpc.client.get(f"/api/v1/packages/{package_id}/payload", headers={"Authorization": rpc.auth})
    assert r.status_code == 200, r.text
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def v1_package(rpc: Rpc, family_key: str) -> dict[str, Any]:
    pkgs = rpc.client.get("/api/v1/packages", headers={"Authorization": rpc.auth}).json()["data"]
    (pkg,) = [p for p in pkgs if p["family_key"] == family_key]
    return dict(pkg)


@pytest.mark.parametrize("compression", ["zstd", "gz", "bz2", None])
def test_depot_install_package_imports_product_properties_dependencies_and_payload(
    rpc: Rpc, settings: Settings, compression: str | None
) -> None:
    rpc.ok("product_createObjects", [BASE])
    client = {"setup.sh": SETUP, "uninstall.sh": b"echo bye\n", "files/data.txt": b"x" * 1000}
    name = put(settings, "hello_1.2-3.opsi", build_opsi(client=client, compression=compression))
    assert rpc.ok("depot_installPackage", name) is None

    (product,) = rpc.ok("product_getObjects", [], {"id": "hello"})
    assert (product["productVersion"], product["packageVersion"], product["name"]) == (
        "1.2",
        "3",
        "Hello World",
    )
    assert (product["description"], product["priority"]) == ("says hello", 5)
    assert product["setupScript"] == "sh ./setup.sh"  # a script of the package, run by its interpreter
    assert product["uninstallScript"] == "sh ./uninstall.sh"
    props = {p["propertyId"]: p for p in rpc.ok("productProperty_getObjects", [], {"productId": "hello"})}
    assert props["greeting"]["possibleValues"] == ["hello", "hi"]
    assert props["greeting"]["defaultValues"] == ["hello"]
    assert props["greeting"]["editable"] is True
    assert props["loud"]["type"] == "BoolProductProperty" and props["loud"]["defaultValues"] == [True]
    (dep,) = rpc.ok("productDependency_getObjects", [], {"productId": "hello"})
    assert (dep["requiredProductId"], dep["requiredInstallationStatus"], dep["requirementType"]) == (
        "base",
        "installed",
        "before",
    )
    assert payload_names(rpc, v1_package(rpc, "hello")["id"]) == client


def test_a_legacy_cpio_package_with_an_ini_control_file(rpc: Rpc, settings: Settings) -> None:
    data = build_opsi(control=CONTROL_LEGACY, control_name="control", archive="cpio", compression="gz")
    assert data.startswith(b"070701")
    rpc.ok("depot_installPackage", put(settings, "legacy-tool_2.0-7.opsi", data))
    (product,) = rpc.ok("product_getObjects", [], {"id": "legacy-tool"})
    assert (product["productVersion"], product["packageVersion"], product["priority"]) == ("2.0", "7", -10)
    assert product["description"] == "an old-style package\nspanning two lines"
    assert product["uninstallScript"] == ""
    props = {
        p["propertyId"]: p for p in rpc.ok("productProperty_getObjects", [], {"productId": "legacy-tool"})
    }
    assert props["mode"]["possibleValues"] == ["fast", "slow"] and props["mode"]["defaultValues"] == ["slow"]
    assert props["reboot"]["defaultValues"] == [False]
    assert rpc.ok("productDependency_getObjects", [], {"productId": "legacy-tool"}) == []


def test_reinstalling_the_same_version_replaces_it_and_property_defaults_apply(
    rpc: Rpc, settings: Settings, runtime: Runtime
) -> None:
    mark = audit_mark(runtime.services)
    name = put(settings, "hello.opsi", build_opsi())
    rpc.ok("depot_installPackage", name)
    first = v1_package(rpc, "hello")
    changed = CONTROL_TOML.replace('description = "says hello"', 'description = "says it again"')
    put(settings, "hello.opsi", build_opsi(control=changed, client={"setup.sh": b"echo 2\n"}))
    rpc.ok("depot_installPackage", name, False, {"greeting": "hi"})
    again = v1_package(rpc, "hello")
    assert again["id"] == first["id"] and again["description"] == "says it again"
    assert payload_names(rpc, again["id"]) == {"setup.sh": b"echo 2\n"}
    props = {p["propertyId"]: p for p in rpc.ok("productProperty_getObjects", [], {"productId": "hello"})}
    assert props["greeting"]["defaultValues"] == ["hi"]
    # The dependency on "base" (not on this server) is left out and said so in the audit record.
    records = [a for a in audit_since(runtime.services, mark) if a.action == "package.import"]
    assert [(r.detail["replaced"], r.via, r.object_id) for r in records] == [
        (False, "opsi", str(first["id"])),
        (True, "opsi", str(first["id"])),
    ]
    assert all(r.detail["unresolved"] == ["base"] and r.detail["source"] == "hello.opsi" for r in records)


def test_force_product_id_renames_the_product(rpc: Rpc, settings: Settings) -> None:
    rpc.ok(
        "depot_installPackage",
        named={"filename": put(settings, "h.opsi", build_opsi()), "forceProductId": "hello2"},
    )
    assert [p["id"] for p in rpc.ok("product_getObjects")] == ["hello2"]


def test_workbench_install_package_reads_a_file_or_a_source_directory(rpc: Rpc, settings: Settings) -> None:
    rpc.ok("workbench_installPackage", put(settings, "hello.opsi", build_opsi(), area="workbench"))
    source = settings.data_dir / "workbench" / "legacy"
    (source / "OPSI").mkdir(parents=True)
    (source / "CLIENT_DATA" / "sub").mkdir(parents=True)
    (source / "OPSI" / "control").write_text(CONTROL_LEGACY)
    (source / "CLIENT_DATA" / "setup.sh").write_bytes(SETUP)
    (source / "CLIENT_DATA" / "sub" / "a.txt").write_bytes(b"a")
    rpc.ok("workbench_installPackage", "legacy")
    assert sorted(p["id"] for p in rpc.ok("product_getObjects")) == ["hello", "legacy-tool"]
    assert payload_names(rpc, v1_package(rpc, "legacy-tool")["id"]) == {"setup.sh": SETUP, "sub/a.txt": b"a"}


def test_paths_outside_the_repository_are_refused(rpc: Rpc, settings: Settings) -> None:
    repository(settings)
    for name in ("../secret.key", "/etc/passwd", "/var/lib/opsi/repository/../../x.opsi"):
        err = rpc.error("depot_installPackage", name)
        assert err["class"] == "BackendPermissionDeniedError", (name, err)
        assert "repository directory" in err["message"]
    (settings.data_dir / "repository" / "link.opsi").symlink_to(settings.data_dir / "secret.key")
    err = rpc.error("depot_installPackage", "link.opsi")
    assert err["class"] == "BackendPermissionDeniedError" and "outside" in err["message"]
    err = rpc.error("depot_installPackage", "missing.opsi")
    assert err["class"] == "BackendIOError" and "missing.opsi" in err["message"]
    assert rpc.ok("product_getObjects") == []


BAD = {
    "not an archive": (b"this is no package" * 40, "neither a tar nor a cpio archive"),
    "no OPSI archive": (tar_bytes({"CLIENT_DATA.tar": tar_bytes({"a": b"1"})}), "no OPSI.tar or OPSI.cpio"),
    "no control file": (tar_bytes({"OPSI.tar": tar_bytes({"readme": b"1"})}), "no control file"),
    "broken toml": (build_opsi(control="[Product\nid="), "not valid TOML"),
    "path traversal": (
        tar_bytes(
            {
                "OPSI.tar": tar_bytes({"control.toml": CONTROL_TOML.encode()}),
                "CLIENT_DATA.tar": tar_bytes({"../../etc/cron.d/x": b"boom"}),
            }
        ),
        "outside its directory",
    ),
    "symlink": (
        tar_bytes(
            {
                "OPSI.tar": tar_bytes({"control.toml": CONTROL_TOML.encode()}),
                "CLIENT_DATA.tar": tar_bytes({}, links={"passwd": "/etc/passwd"}),
            }
        ),
        "link or special file",
    ),
    "damaged zstd": (tar_bytes({"OPSI.tar.zstd": b"\x28\xb5\x2f\xfd garbage"}), "OPSI"),
    "netboot product": (
        build_opsi(control=CONTROL_TOML.replace("LocalbootProduct", "NetbootProduct")),
        "netboot",
    ),
    "bad product id": (
        build_opsi(control=CONTROL_TOML.replace('id = "hello"', 'id = "Hello World!"')),
        "bad product id",
    ),
    "truncated cpio": (
        cpio_bytes({"OPSI.cpio": cpio_bytes({"control": CONTROL_LEGACY.encode()})})[:150],
        "cpio",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_archives_get_a_clear_opsi_error(rpc: Rpc, settings: Settings, case: str) -> None:
    data, text = BAD[case]
    err = rpc.error("depot_installPackage", put(settings, "bad.opsi", data))
    assert err["class"] == "BackendBadValueError", err
    assert "Invalid opsi package 'bad.opsi'" in err["message"] and text in err["message"], err
    assert rpc.ok("product_getObjects") == []


def test_a_viewer_may_not_install_packages(viewer_rpc: Rpc, settings: Settings) -> None:
    name = put(settings, "hello.opsi", build_opsi())
    err = viewer_rpc.error("depot_installPackage", name)
    assert err["class"] == "BackendPermissionDeniedError"
    err = viewer_rpc.error("depot_installPackage", "../secret.key")  # no file-system answer either
    assert err["class"] == "BackendPermissionDeniedError" and "repository" not in err["message"]


PREINST = b"#!/bin/sh\nrm -rf /var/lib/opsi/depot/hello\n"
SERVER_FILES = {"etc/opsi/hello.conf": b"x=1\n", "usr/local/bin/hello-helper": b"#!/bin/sh\n"}


def kept_zip(settings: Settings, sha: str) -> dict[str, bytes]:
    path = settings.data_dir / "payloads" / sha[:2] / f"{sha}.zip"
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def test_server_data_and_server_scripts_are_kept_not_run(
    rpc: Rpc, settings: Settings, runtime: Runtime
) -> None:
    """opsi runs preinst/postinst as root on the server and copies SERVER_DATA into its file
    system; fleetdeck does neither: it keeps them beside the package (never in the payload an
    agent fetches) and the audit record names what was not run."""
    mark = audit_mark(runtime.services)
    data = build_opsi(opsi={"preinst": PREINST, "postinst": b"echo post\n"}, server=SERVER_FILES)
    rpc.ok("depot_installPackage", put(settings, "hello_1.2-3.opsi", data))
    pkg = v1_package(rpc, "hello")
    assert payload_names(rpc, pkg["id"]) == {"setup.sh": SETUP}  # agents get CLIENT_DATA only
    assert not (Path("/usr/local/bin/hello-helper").exists() or (settings.data_dir / "etc").exists())
    from sqlalchemy import select

    from fleetdeck.storage.tables.packages import Package
    from fleetdeck.storage.uow import UnitOfWork

    with UnitOfWork(runtime.db, readonly=True) as uow:
        sha = uow.session.scalar(select(Package.server_files_sha256).where(Package.id == pkg["id"]))
    assert sha is not None
    kept = kept_zip(settings, sha)
    assert kept["OPSI/preinst"] == PREINST and kept["SERVER_DATA/etc/opsi/hello.conf"] == b"x=1\n"
    assert "OPSI/control.toml" in kept
    (row,) = [r for r in audit_since(runtime.services, mark) if r.action == "package.import"]
    assert sorted(row.detail["not_run"]) == ["OPSI/postinst", "OPSI/preinst", "SERVER_DATA (2 files)"]
    assert row.detail["server_files"] == sha
    # Deleting the package deletes what was kept with it.
    r = rpc.client.delete(f"/api/v1/packages/{pkg['id']}", headers={"Authorization": rpc.auth})
    assert r.status_code == 204, r.text
    assert not (settings.data_dir / "payloads" / sha[:2] / f"{sha}.zip").exists()


def test_a_package_without_server_parts_keeps_nothing(rpc: Rpc, settings: Settings, runtime: Runtime) -> None:
    mark = audit_mark(runtime.services)
    rpc.ok("depot_installPackage", put(settings, "hello_1.2-3.opsi", build_opsi()))
    (row,) = [r for r in audit_since(runtime.services, mark) if r.action == "package.import"]
    assert row.detail["not_run"] == [] and row.detail["server_files"] is None
    assert list((settings.data_dir / "tmp").iterdir()) == []  # no spool file left behind


def test_a_refused_package_leaves_no_spool_file(rpc: Rpc, settings: Settings) -> None:
    bad = tar_bytes(
        {
            "OPSI.tar": tar_bytes({"control.toml": CONTROL_TOML.encode()}),
            "CLIENT_DATA.tar": tar_bytes({"setup.sh": SETUP, "../escape": b"1"}),
        }
    )
    rpc.error("depot_installPackage", put(settings, "bad.opsi", bad))
    assert list((settings.data_dir / "tmp").iterdir()) == []


def test_a_source_directory_keeps_its_server_data_too(rpc: Rpc, settings: Settings, runtime: Runtime) -> None:
    source = settings.data_dir / "workbench" / "legacy"
    (source / "OPSI").mkdir(parents=True)
    (source / "CLIENT_DATA").mkdir(parents=True)
    (source / "SERVER_DATA" / "etc").mkdir(parents=True)
    (source / "OPSI" / "control").write_text(CONTROL_LEGACY)
    (source / "OPSI" / "postinst").write_bytes(b"echo post\n")
    (source / "CLIENT_DATA" / "setup.sh").write_bytes(SETUP)
    (source / "SERVER_DATA" / "etc" / "a.conf").write_bytes(b"a")
    mark = audit_mark(runtime.services)
    rpc.ok("workbench_installPackage", "legacy")
    (row,) = [r for r in audit_since(runtime.services, mark) if r.action == "package.import"]
    assert sorted(row.detail["not_run"]) == ["OPSI/postinst", "SERVER_DATA (1 files)"]
    kept = kept_zip(settings, row.detail["server_files"])
    assert kept["SERVER_DATA/etc/a.conf"] == b"a" and kept["OPSI/postinst"] == b"echo post\n"
    assert payload_names(rpc, v1_package(rpc, "legacy-tool")["id"]) == {"setup.sh": SETUP}
