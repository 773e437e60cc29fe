"""The UI's package pages through HTTP: the list (search, paging), upload with a payload read
back from core, edit, properties, delete; errors next to their fields; CSRF; the request body
limit; and a viewer who sees no write action and whose forged forms core refuses."""

from __future__ import annotations

import io
import warnings
import zipfile

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from fastapi.testclient import TestClient

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from fleetdeck.core.errors import NotFound
from fleetdeck.core.packages.entities import PackageInfo
from fleetdeck.core.query import Query
from tests import factories
from tests.web.conftest import login

FORM = {
    "family_name": "Firefox",
    "version": "128.0",
    "package_version": "1",
    "description": "the browser",
    "install_procedure": "sh install.sh",
    "install_success_codes": "0,3010",
    "install_post_action": "0",
    "uninstall_procedure": "sh uninstall.sh",
    "uninstall_success_codes": "0",
    "uninstall_post_action": "0",
    "upgrade_behavior": "1",
    "priority": "5",
    "compatible_os": "",
    "compatible_os_version": "",
    "compatible_architecture": "",
}


def _zip_names(data: bytes) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return sorted(zf.namelist())


def test_upload_a_package_with_its_payload(client: TestClient, runtime: Runtime, alice: Actor) -> None:
    csrf = login(client, "alice")
    listing = client.get("/packages")
    assert 'id="upload-package"' in listing.text
    form = client.get("/packages/new")
    assert form.status_code == 200
    assert 'enctype="multipart/form-data"' in form.text
    assert f'data-max="{1024 * 1024}"' in form.text  # the request body limit, for upload.js
    for field in ("family_name", "version", "install_procedure", "files", "priority", "upgrade_behavior"):
        assert f'<label for="{field}"' in form.text, field  # every field has its label
    mark = factories.audit_mark(runtime.services)
    r = client.post(
        "/packages",
        data={"csrf_token": csrf, **FORM, "download_for_uninstall": "1"},
        files=[
            ("files", ("install.sh", b"#!/bin/sh\necho hi\n", "text/x-sh")),
            ("files", ("uninstall.sh", b"#!/bin/sh\necho bye\n", "text/x-sh")),
        ],
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    package_id = int(r.headers["location"].split("/")[2].split("?")[0])
    got = runtime.services.packages.get(alice, package_id).package
    assert (got.family_name, got.version, got.install_procedure) == ("Firefox", "128.0", "sh install.sh")
    assert (got.install_success_codes, got.upgrade_behavior, got.priority) == ("0,3010", 1, 5)
    assert got.download_for_uninstall is True
    ref = runtime.services.packages.payload(alice, package_id)
    with open(ref.path, "rb") as f:
        assert _zip_names(f.read()) == ["install.sh", "uninstall.sh"]
    [entry] = [a for a in factories.audit_since(runtime.services, mark) if a.action == "package.create"]
    assert (entry.username, entry.via, entry.result) == ("alice", "web", "ok")
    page = client.get(r.headers["location"])
    assert "Package created." in page.text
    assert "sh install.sh" in page.text and got.payload_sha256 in page.text
    assert f'href="/deployments/new?package={package_id}"' in page.text


def test_one_zip_is_stored_as_it_is(client: TestClient, runtime: Runtime, alice: Actor) -> None:
    csrf = login(client, "alice")
    payload = factories.zip_payload(**{"setup.exe": b"MZ", "conf/a.ini": b"[a]"})
    r = client.post(
        "/packages",
        data={"csrf_token": csrf, **FORM},
        files={"files": ("app.zip", payload, "application/zip")},
        follow_redirects=False,
    )
    assert r.status_code == 303
    [p] = runtime.services.packages.find(alice, Query()).items
    with open(runtime.services.packages.payload(alice, p.id).path, "rb") as f:
        assert f.read() == payload


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"family_name": " "}, "family_name", "Enter the package&#39;s name."),
        ({"version": ""}, "version", "Enter its version."),
        ({"install_procedure": ""}, "install_procedure", "Enter the command that installs it."),
        ({"package_version": ""}, "package_version", "Enter the package version"),
        ({"priority": "500"}, "priority", "The priority is a whole number from -100 to 100."),
        ({"priority": "high"}, "priority", "The priority is a whole number from -100 to 100."),
        ({"upgrade_behavior": "7"}, "upgrade_behavior", "Choose one of the options."),
        ({"install_post_action": "x"}, "install_post_action", "Choose one of the options."),
        ({"install_success_codes": "zero"}, "install_success_codes", "must be comma-separated integers"),
    ],
)
def test_bad_package_forms_say_why_next_to_the_field(
    client: TestClient, runtime: Runtime, alice: Actor, fields: dict[str, str], field: str, message: str
) -> None:
    csrf = login(client, "alice")
    r = client.post("/packages", data={"csrf_token": csrf, **FORM, **fields})
    assert r.status_code == 400
    assert f'<p class="error" role="alert" id="{field}-error">' in r.text
    assert message in r.text
    assert f'aria-describedby="{field}-error"' in r.text
    assert runtime.services.packages.find(alice, Query()).total == 0


def test_bad_file_names_and_duplicates_are_errors_of_their_field(
    client: TestClient, runtime: Runtime, alice: Actor
) -> None:
    factories.package(runtime.services, alice, "Firefox", "128.0")
    csrf = login(client, "alice")
    r = client.post(
        "/packages",
        data={"csrf_token": csrf, **FORM, "version": "129.0"},
        files=[("files", ("../evil.sh", b"x", "text/plain")), ("files", ("b.sh", b"y", "text/plain"))],
    )
    assert r.status_code == 400
    assert 'id="files-error"' in r.text and "invalid file name" in r.text
    r = client.post("/packages", data={"csrf_token": csrf, **FORM})
    assert r.status_code == 400
    assert 'id="version-error"' in r.text
    assert "already exists with this version" in r.text
    assert runtime.services.packages.find(alice, Query()).total == 1


def test_an_upload_over_the_body_limit_is_refused_before_core(
    client: TestClient, runtime: Runtime, alice: Actor
) -> None:
    csrf = login(client, "alice")
    r = client.post(
        "/packages",
        data={"csrf_token": csrf, **FORM},
        files={"files": ("big.bin", b"x" * (1024 * 1024 + 1), "application/octet-stream")},
    )
    assert r.status_code == 413
    assert "max_body_bytes" in r.text
    assert runtime.services.packages.find(alice, Query()).total == 0


def test_edit_a_package_and_replace_its_payload(client: TestClient, runtime: Runtime, alice: Actor) -> None:
    p = factories.package(runtime.services, alice, "Tool", "1.0", payload=factories.zip_payload(a=b"1"))
    csrf = login(client, "alice")
    form = client.get(f"/packages/{p.id}/edit")
    assert form.status_code == 200
    assert "install Tool 1.0" in form.text and "readonly" in form.text
    data = {**FORM, "csrf_token": csrf, "version": "1.1", "install_procedure": "sh new.sh"}
    data.pop("family_name")

    def save(name: str, content: bytes) -> PackageInfo:
        r = client.post(
            f"/packages/{p.id}", data=data, files={"files": (name, content)}, follow_redirects=False
        )
        assert r.status_code == 303, r.text
        return runtime.services.packages.get(alice, p.id).package

    got = save("", b"")  # no file chosen: the payload stays
    assert (got.version, got.install_procedure, got.payload_sha256) == ("1.1", "sh new.sh", p.payload_sha256)
    assert save("new.sh", b"echo new").payload_sha256 != p.payload_sha256
    with open(runtime.services.packages.payload(alice, p.id).path, "rb") as f:
        assert _zip_names(f.read()) == ["new.sh"]
    bad = client.post(f"/packages/{p.id}", data={**data, "install_procedure": ""})
    assert bad.status_code == 400 and 'id="install_procedure-error"' in bad.text
    assert runtime.services.packages.get(alice, p.id).package.install_procedure == "sh new.sh"


def test_properties_are_added_replaced_and_deleted(
    client: TestClient, runtime: Runtime, alice: Actor
) -> None:
    p = factories.package(runtime.services, alice, "Tool")
    csrf = login(client, "alice")
    data = {
        "csrf_token": csrf,
        "key": "channel",
        "kind": "str",
        "description": "release channel",
        "possible_values": "stable\r\nbeta\r\n",
        "default_values": "stable",
        "editable": "",
        "multi_value": "",
    }
    r = client.post(f"/packages/{p.id}/properties", data=data, follow_redirects=False)
    assert r.status_code == 303
    [prop] = runtime.services.properties.find(alice, [p.id])
    assert (prop.prop.key, prop.prop.possible_values, prop.prop.default_values) == (
        "channel",
        ["stable", "beta"],
        ["stable"],
    )
    assert prop.prop.editable is False
    r = client.post(
        f"/packages/{p.id}/properties",
        data={
            **data,
            "key": "silent",
            "kind": "bool",
            "possible_values": "true\nfalse",
            "default_values": "TRUE",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    props = {i.prop.key: i.prop for i in runtime.services.properties.find(alice, [p.id])}
    assert props["silent"].default_values == [True]
    bad = client.post(
        f"/packages/{p.id}/properties", data={**data, "kind": "bool", "default_values": "maybe"}
    )
    assert bad.status_code == 400 and 'id="default_values-error"' in bad.text
    bad = client.post(f"/packages/{p.id}/properties", data={**data, "key": ""})
    assert bad.status_code == 400 and 'id="key-error"' in bad.text
    page = client.get(f"/packages/{p.id}")
    assert 'data-key="channel"' in page.text and 'aria-label="Delete property silent"' in page.text
    r = client.post(
        f"/packages/{p.id}/properties/delete",
        data={"csrf_token": csrf, "key": "silent"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert [i.prop.key for i in runtime.services.properties.find(alice, [p.id])] == ["channel"]
    again = client.post(f"/packages/{p.id}/properties/delete", data={"csrf_token": csrf, "key": "silent"})
    assert again.status_code == 404


def test_delete_a_package_needs_force_while_jobs_are_pending(
    client: TestClient, runtime: Runtime, alice: Actor
) -> None:
    cid = factories.computer(runtime.services, alice, "pc1")
    p = factories.package(runtime.services, alice, "Tool")
    factories.deployment(runtime.services, alice, [cid], [p.id])
    csrf = login(client, "alice")
    r = client.post(f"/packages/{p.id}/delete", data={"csrf_token": csrf})
    assert r.status_code == 400
    assert 'id="delete-error"' in r.text
    runtime.services.packages.get(alice, p.id)  # still there
    r = client.post(
        f"/packages/{p.id}/delete", data={"csrf_token": csrf, "force": "1"}, follow_redirects=False
    )
    assert r.status_code == 303
    with pytest.raises(NotFound):
        runtime.services.packages.get(alice, p.id)
    assert "Package deleted." in client.get("/packages?deleted=1").text


def test_the_list_searches_and_pages(client: TestClient, runtime: Runtime, alice: Actor) -> None:
    for n in range(55):
        factories.package(runtime.services, alice, f"pkg{n:02d}", "1.0")
    factories.package(runtime.services, alice, "pkg00", "2.0", description="needle")
    login(client, "alice")
    first = client.get("/packages")
    assert "56 packages, page 1 of 2" in first.text
    assert first.text.count("<tr data-id=") == 50
    second = client.get("/packages?page=2")
    assert second.text.count("<tr data-id=") == 6
    found = client.get("/packages?q=needle")
    assert "1 package" in found.text and ">2.0</a>" in found.text
    part = client.get("/packages?q=pkg0*", headers={"HX-Request": "true"})
    assert part.text.lstrip().startswith('<div id="packages-table">')  # htmx: the table alone
    assert part.text.count("<tr data-id=") == 11
    assert "No package matches." in client.get("/packages?q=nothing-like-it").text


def test_writes_need_the_csrf_token(client: TestClient, runtime: Runtime, alice: Actor) -> None:
    p = factories.package(runtime.services, alice, "Tool")
    login(client, "alice")
    for path in (
        "/packages",
        f"/packages/{p.id}",
        f"/packages/{p.id}/delete",
        f"/packages/{p.id}/properties",
    ):
        r = client.post(path, data={**FORM, "key": "k", "kind": "str", "force": "1"})
        assert r.status_code == 403, path
        assert "security token" in r.text
    assert runtime.services.packages.find(alice, Query()).total == 1
    assert runtime.services.packages.get(alice, p.id).package.install_procedure == "install Tool 1"
    assert runtime.services.properties.find(alice, [p.id]) == []


def test_a_viewer_sees_no_write_action_and_core_refuses_forged_forms(
    client: TestClient, runtime: Runtime, alice: Actor, victor: Actor
) -> None:
    p = factories.package(runtime.services, alice, "Tool")
    csrf = login(client, "victor")
    listing = client.get("/packages")
    assert listing.status_code == 200 and "Tool" in listing.text
    assert 'id="upload-package"' not in listing.text and "New deployment" not in listing.text
    page = client.get(f"/packages/{p.id}")
    assert page.status_code == 200 and "install Tool 1" in page.text
    for marker in (
        "edit-package",
        "deploy-package",
        "property-form",
        "delete-package",
        '<form method="post" action="/packages',
    ):
        assert marker not in page.text, marker
    assert client.get("/packages/new").status_code == 403
    assert client.get(f"/packages/{p.id}/edit").status_code == 403
    mark = factories.audit_mark(runtime.services)
    assert client.post("/packages", data={"csrf_token": csrf, **FORM}).status_code == 403
    r = client.post(f"/packages/{p.id}", data={"csrf_token": csrf, **FORM})
    assert r.status_code == 403 and "lacks permission manage_packages" in r.text
    assert client.post(f"/packages/{p.id}/delete", data={"csrf_token": csrf, "force": "1"}).status_code == 403
    r = client.post(f"/packages/{p.id}/properties", data={"csrf_token": csrf, "key": "k", "kind": "str"})
    assert r.status_code == 403
    assert runtime.services.packages.find(alice, Query()).total == 1
    assert runtime.services.packages.get(alice, p.id).package.install_procedure == "install Tool 1"
    assert runtime.services.properties.find(alice, [p.id]) == []
    denied = {a.action for a in factories.audit_since(runtime.services, mark) if a.result == "denied"}
    assert denied == {"package.create", "package.update", "package.delete", "package_property.put"}


def test_odd_package_urls_are_plain_answers(client: TestClient, alice: Actor) -> None:
    login(client, "alice")
    assert client.get("/packages?page=-1").status_code == 200
    assert client.get("/packages?page=99999999").status_code == 200
    for path in ("/packages/0", "/packages/424242", "/packages/424242/edit"):
        r = client.get(path)
        assert r.status_code == 404, path
        assert "not found" in r.text
