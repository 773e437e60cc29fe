"""Packages: payload zipping and content addressing, validation reasons, groups, deletion."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.errors import NotFound, PermissionDenied, ValidationFailed
from fleetdeck.core.packages.entities import PackageFields, PayloadFile
from fleetdeck.core.packages.payloads import build_zip, is_zip
from fleetdeck.core.services import CoreConfig, Services, build_services
from fleetdeck.settings import Settings
from tests.conftest import SECRET
from tests.factories import zip_payload

ADMIN = Actor(user_id=None, username="alice", role=Role.ADMIN, via="test")
VIEWER = Actor(user_id=None, username="vic", role=Role.VIEWER, via="test")
OPERATOR = Actor(user_id=None, username="otto", role=Role.OPERATOR, via="test")


@pytest.fixture
def svc(runtime: Runtime, settings: Settings) -> Services:
    return build_services(runtime.db, SECRET, CoreConfig(payload_dir=settings.data_dir / "payloads"))


def fields(**kw: object) -> PackageFields:
    kw.setdefault("install_procedure", "sh install.sh")
    return PackageFields(**kw)  # type: ignore[arg-type]


def names(path: str) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def test_files_are_zipped_by_name_and_a_single_zip_is_kept_as_is() -> None:
    several = build_zip([PayloadFile("install.sh", b"echo hi\n"), PayloadFile("data/a.txt", b"a")])
    assert several is not None and is_zip(several)
    with zipfile.ZipFile(io.BytesIO(several)) as zf:
        assert sorted(zf.namelist()) == ["data/a.txt", "install.sh"]
    one_file = build_zip([PayloadFile("setup.exe", b"MZ...")])
    assert one_file is not None and is_zip(one_file)
    original = zip_payload(**{"x.txt": b"x"})
    assert build_zip([PayloadFile("given.zip", original)]) == original
    assert build_zip([PayloadFile("", b"x"), PayloadFile("empty", b"")]) is None
    with pytest.raises(ValidationFailed):
        build_zip([PayloadFile("../evil", b"x"), PayloadFile("b", b"y")])


def test_payload_is_content_addressed_shared_and_deleted_with_the_last_package(
    svc: Services, settings: Settings
) -> None:
    files = [PayloadFile("p.zip", zip_payload(**{"install.sh": b"true"}))]
    a = svc.packages.create(ADMIN, "Tool", "1.0", fields(), files=files)
    b = svc.packages.create(ADMIN, "Tool", "1.1", fields(), files=files)
    assert a.payload_sha256 == b.payload_sha256 and a.payload_size == len(files[0].content)
    sha = a.payload_sha256
    assert sha is not None
    path = settings.data_dir / "payloads" / sha[:2] / f"{sha}.zip"
    assert path.read_bytes() == files[0].content
    assert svc.packages.payload(ADMIN, a.id).path == str(path)
    svc.packages.delete(ADMIN, a.id)
    assert path.exists()  # b still uses it
    svc.packages.delete(ADMIN, b.id)
    assert not path.exists()
    assert not list(Path(path.parent).glob(".upload-*"))


def test_create_validation_reasons_and_family_creation(svc: Services) -> None:
    for family, version, proc in (("", "1", "x"), ("F", "", "x"), ("F", "1", "")):
        with pytest.raises(ValidationFailed) as err:
            svc.packages.create(ADMIN, family, version, PackageFields(install_procedure=proc))
        assert err.value.detail["reason"] == "please_fill_required_fields"
    p = svc.packages.create(ADMIN, "Firefox ESR", "115", fields(license_count=-3, line_endings=""))
    assert p.family_key == "firefox-esr" and p.license_count is None and p.line_endings is None
    assert p.package_version == "1" and p.install_success_codes == "0" and p.payload_sha256 is None
    with pytest.raises(ValidationFailed) as err:
        svc.packages.create(ADMIN, "Firefox ESR", "115", fields())
    assert err.value.detail["reason"] == "package_exists_with_version"
    again = svc.packages.create(ADMIN, "Firefox ESR", "115", fields(), package_version="2")
    assert again.family_id == p.family_id
    with pytest.raises(ValidationFailed) as err:
        svc.packages.create(ADMIN, "X", "1", fields(install_post_action=7))
    assert err.value.detail["reason"] == "invalid_input"
    with pytest.raises(PermissionDenied):
        svc.packages.create(VIEWER, "Y", "1", fields())
    assert svc.packages.create(OPERATOR, "Y", "1", fields()).created_by == "otto"


def test_families_list_counts(svc: Services) -> None:
    a = svc.packages.create(ADMIN, "A", "1", fields())
    svc.packages.create(ADMIN, "A", "2", fields())
    pc = svc.computers.create(ADMIN, "pc1")
    svc.packages.assign_installation(ADMIN, pc.id, a.id)
    fams = {f.name: f for f in svc.packages.list_families(ADMIN)}
    assert fams["A"].package_count == 2 and fams["A"].install_count == 1
    assert fams["A"].newest_package_created is not None
    detail = svc.packages.get(ADMIN, a.id)
    assert [i.hostname for i in detail.installations] == ["pc1"]
    assert svc.packages.list_installations(ADMIN, computer_id=pc.id)[0].package_id == a.id


def test_package_group_sequences_stay_dense(svc: Services) -> None:
    g = svc.packages.create_group(ADMIN, "Base")
    ids = [svc.packages.create(ADMIN, f"P{i}", "1", fields()).id for i in range(4)]
    assert [svc.packages.add_to_group(ADMIN, g.id, i) for i in ids] == [1, 2, 3, 4]
    assert svc.packages.add_to_group(ADMIN, g.id, ids[0]) == 1  # already a member
    svc.packages.remove_from_group(ADMIN, g.id, ids[1])
    assert [(seq, p.id) for seq, p in svc.packages.group_packages(ADMIN, g.id)] == [
        (1, ids[0]),
        (2, ids[2]),
        (3, ids[3]),
    ]
    svc.packages.move_in_group(ADMIN, g.id, ids[3], 1)
    listing = svc.packages.list_packages(ADMIN, group_id=g.id)
    assert [p.id for p in listing.packages] == [ids[3], ids[0], ids[2]] and listing.name == "Base"
    assert svc.packages.get(ADMIN, ids[0]).groups[0].sequence == 2
    with pytest.raises(ValidationFailed) as err:
        svc.packages.list_packages(ADMIN)
    assert err.value.detail["reason"] == "package_family_or_group_required"
    with pytest.raises(NotFound):  # a computer group is not a package group
        svc.packages.add_to_group(ADMIN, svc.groups.create(ADMIN, "pcs").id, ids[0])


def test_delete_without_force_refuses_pending_jobs_and_dependents(svc: Services) -> None:
    base = svc.packages.create(ADMIN, "Runtime", "1", fields())
    app = svc.packages.create(ADMIN, "App", "1", fields(), depends_on=[base.id])
    assert app.depends_on == (base.id,)
    with pytest.raises(ValidationFailed) as err:
        svc.packages.delete(ADMIN, base.id, force=False)
    assert err.value.detail["reason"] == "delete_failed_dependent_packages"
    pc = svc.computers.create(ADMIN, "pc1")
    container = svc.deployments.deploy(ADMIN, "d", computer_ids=[pc.id], package_ids=[app.id])
    with pytest.raises(ValidationFailed) as err:
        svc.packages.delete(ADMIN, app.id, force=False)
    assert err.value.detail["reason"] == "delete_failed_active_jobs"
    svc.packages.delete(ADMIN, app.id)  # force (the default, as OCO)
    with pytest.raises(ValidationFailed) as err:  # its dependency was deployed with it
        svc.packages.delete(ADMIN, base.id, force=False)
    assert err.value.detail["reason"] == "delete_failed_active_jobs"
    svc.deployments.remove_container(ADMIN, container.id)
    svc.packages.delete(ADMIN, base.id, force=False)
    with pytest.raises(NotFound):
        svc.packages.get(ADMIN, base.id)


def test_agents_get_a_payload_only_while_they_have_a_pending_job(svc: Services) -> None:
    p = svc.packages.create(ADMIN, "Tool", "1", fields(), files=[PayloadFile("a.sh", b"true")])
    pc = svc.computers.create(ADMIN, "pc1")
    other = svc.computers.create(ADMIN, "pc2")
    svc.deployments.deploy(ADMIN, "d", computer_ids=[pc.id], package_ids=[p.id])
    ref = svc.packages.payload_for_agent(pc.id, p.id)
    assert ref.sha256 == p.payload_sha256 and Path(ref.path).is_file()
    with pytest.raises(PermissionDenied):
        svc.packages.payload_for_agent(other.id, p.id)
    with pytest.raises(NotFound):
        svc.packages.payload_for_agent(pc.id, 999)


def test_update_replaces_the_payload_and_collects_the_old_file(svc: Services, settings: Settings) -> None:
    p = svc.packages.create(ADMIN, "Tool", "1", fields(), files=[PayloadFile("a.sh", b"one")])
    old = Path(svc.packages.payload(ADMIN, p.id).path)
    q = svc.packages.update(
        ADMIN, p.id, PackageFields(description="new"), files=[PayloadFile("a.sh", b"two")]
    )
    assert q.description == "new" and q.payload_sha256 != p.payload_sha256
    assert not old.exists() and Path(svc.packages.payload(ADMIN, p.id).path).exists()
    assert names(svc.packages.payload(ADMIN, p.id).path) == {"a.sh": b"two"}


def test_a_failed_create_leaves_no_payload_file(svc: Services, settings: Settings) -> None:
    with pytest.raises(NotFound):  # unknown dependency: checked after the payload was written
        svc.packages.create(ADMIN, "Tool", "1", fields(), files=[PayloadFile("a", b"x")], depends_on=[999])
    assert not [p for p in (settings.data_dir / "payloads").rglob("*") if p.is_file()]
