"""Packages: payload zipping and content addressing, validation reasons, groups, deletion."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import select

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.errors import NotFound, PermissionDenied, Reason, ValidationFailed
from fleetdeck.core.packages.entities import DependencyRule, PackageFields, PayloadFile
from fleetdeck.core.packages.payloads import build_zip, is_zip
from fleetdeck.core.query import Cond, Op, Query, SortKey
from fleetdeck.core.services import CoreConfig, Services, build_services
from fleetdeck.settings import Settings
from fleetdeck.storage.tables import PackageGroupMember
from fleetdeck.storage.uow import UnitOfWork
from tests.conftest import SECRET
from tests.factories import audit_mark, audited, zip_payload

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
        assert err.value.detail["reason"] == Reason.REQUIRED_MISSING
    p = svc.packages.create(ADMIN, "Firefox ESR", "115", fields(license_count=-3, line_endings=""))
    assert p.family_key == "firefox-esr" and p.license_count is None and p.line_endings is None
    assert p.package_version == "1" and p.install_success_codes == "0" and p.payload_sha256 is None
    with pytest.raises(ValidationFailed) as err:
        svc.packages.create(ADMIN, "Firefox ESR", "115", fields())
    assert err.value.detail["reason"] == Reason.VERSION_EXISTS
    again = svc.packages.create(ADMIN, "Firefox ESR", "115", fields(), package_version="2")
    assert again.family_id == p.family_id
    with pytest.raises(ValidationFailed) as err:
        svc.packages.create(ADMIN, "X", "1", fields(install_post_action=7))
    assert err.value.detail["reason"] == Reason.INVALID
    with pytest.raises(PermissionDenied):
        svc.packages.create(VIEWER, "Y", "1", fields())
    assert svc.packages.create(OPERATOR, "Y", "1", fields()).created_by == "otto"


def test_a_packages_license_count_is_kept_and_read_back(svc: Services) -> None:
    """A license count given with the package is what every read of the package returns."""
    p = svc.packages.create(ADMIN, "Office", "2024", fields(license_count=25))
    assert p.license_count == 25
    assert svc.packages.get(ADMIN, p.id).package.license_count == 25
    assert [i.license_count for i in svc.packages.find(ADMIN, Query()).items] == [25]
    assert svc.packages.create(ADMIN, "Office", "2025", fields(license_count=0)).license_count == 0


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
    assert err.value.detail["reason"] == Reason.FAMILY_OR_GROUP_REQUIRED
    with pytest.raises(NotFound):  # a computer group is not a package group
        svc.packages.add_to_group(ADMIN, svc.groups.create(ADMIN, "pcs").id, ids[0])


def test_delete_without_force_refuses_pending_jobs_and_dependents(svc: Services) -> None:
    base = svc.packages.create(ADMIN, "Runtime", "1", fields())
    app = svc.packages.create(ADMIN, "App", "1", fields(), depends_on=[base.id])
    assert app.depends_on == (base.id,)
    with pytest.raises(ValidationFailed) as err:
        svc.packages.delete(ADMIN, base.id, force=False)
    assert err.value.detail["reason"] == Reason.HAS_DEPENDENTS
    pc = svc.computers.create(ADMIN, "pc1")
    container = svc.deployments.deploy(ADMIN, "d", computer_ids=[pc.id], package_ids=[app.id])
    with pytest.raises(ValidationFailed) as err:
        svc.packages.delete(ADMIN, app.id, force=False)
    assert err.value.detail["reason"] == Reason.IN_USE_BY_JOBS
    svc.packages.delete(ADMIN, app.id)  # force (the default, as OCO)
    with pytest.raises(ValidationFailed) as err:  # its dependency was deployed with it
        svc.packages.delete(ADMIN, base.id, force=False)
    assert err.value.detail["reason"] == Reason.IN_USE_BY_JOBS
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


# ------------------------------------------------------------------ families, listing, rules


def test_families_are_read_renamed_and_deleted(svc: Services) -> None:
    a = svc.packages.create(ADMIN, "Alpha", "1", fields())
    svc.packages.create(ADMIN, "Beta", "1", fields())
    fam = svc.packages.update_family(OPERATOR, a.family_id, notes="n", icon=b"PNG", license_count=5)
    assert (fam.name, fam.notes, fam.license_count, fam.package_count, fam.key) == (
        "Alpha",
        "n",
        5,
        1,
        "alpha",
    )
    assert fam.icon is None  # listings carry no icons unless asked
    got = svc.packages.get_family(VIEWER, a.family_id)
    assert (got.icon, got.created_by, got.install_count) == (b"PNG", "alice", 0)
    assert [f.icon for f in svc.packages.list_families(VIEWER)] == [None, None]
    assert [f.icon for f in svc.packages.list_families(VIEWER, show_icons=True)] == [b"PNG", None]
    assert svc.packages.update_family(ADMIN, a.family_id, icon=None).license_count == 5  # nothing given: kept
    assert svc.packages.get_family(VIEWER, a.family_id).icon == b"PNG"
    svc.packages.update_family(ADMIN, a.family_id, clear_icon=True, license_count=-1)
    got = svc.packages.get_family(VIEWER, a.family_id)
    assert got.icon is None and got.license_count is None
    assert svc.packages.update_family(ADMIN, a.family_id, license_count=0).license_count == 0
    renamed = svc.packages.update_family(ADMIN, a.family_id, name=" Alpha 2 ")
    assert (renamed.name, renamed.key) == ("Alpha 2", "alpha")  # the key stays
    assert svc.packages.update_family(ADMIN, a.family_id, name="Alpha 2").name == "Alpha 2"
    for name, reason in (("  ", Reason.NAME_EMPTY), ("Beta", Reason.INVALID)):
        with pytest.raises(ValidationFailed) as err:
            svc.packages.update_family(ADMIN, a.family_id, name=name)
        assert err.value.detail == {"field": "name", "reason": reason}
    with pytest.raises(NotFound):
        svc.packages.update_family(ADMIN, 4242, notes="x")
    with pytest.raises(NotFound) as missing:
        svc.packages.get_family(VIEWER, 4242)
    assert missing.value.object_type == "package family"
    with pytest.raises(PermissionDenied):
        svc.packages.update_family(VIEWER, a.family_id, notes="x")
    with pytest.raises(ValidationFailed) as err:
        svc.packages.delete_family(ADMIN, a.family_id)
    assert err.value.detail == {"reason": Reason.HAS_DEPENDENTS}
    svc.packages.delete(ADMIN, a.id)
    with pytest.raises(PermissionDenied):
        svc.packages.delete_family(VIEWER, a.family_id)
    svc.packages.delete_family(ADMIN, a.family_id)
    assert [f.name for f in svc.packages.list_families(VIEWER)] == ["Beta"]
    with pytest.raises(NotFound):
        svc.packages.delete_family(ADMIN, a.family_id)


def test_families_are_listed_by_name(svc: Services) -> None:
    """``list_families`` is sorted by the family's name, not by when it was made."""
    for name in ("Zeta", "Alpha", "Mid"):
        svc.packages.create(ADMIN, name, "1", fields())
    assert [f.name for f in svc.packages.list_families(VIEWER)] == ["Alpha", "Mid", "Zeta"]


def test_find_and_list_by_family(svc: Services) -> None:
    old = svc.packages.create(ADMIN, "Tool", "1", fields(description="first"))
    new = svc.packages.create(ADMIN, "Tool", "2", fields())
    other = svc.packages.create(ADMIN, "Other", "1", fields())
    page = svc.packages.find(VIEWER, Query(sort=(SortKey("id", descending=True),)))
    assert [p.id for p in page.items] == [other.id, new.id, old.id] and page.total == 3
    page = svc.packages.find(VIEWER, Query(where=(Cond("family_id", Op.EQ, old.family_id),), limit=1))
    assert len(page.items) == 1 and page.total == 2
    page = svc.packages.find(VIEWER, Query(where=(Cond("description", Op.EQ, "first"),)))
    assert [p.id for p in page.items] == [old.id]
    group = svc.packages.create_group(ADMIN, "G")
    listing = svc.packages.list_packages(VIEWER, family_id=old.family_id)
    assert listing.name == "Tool" and [p.id for p in listing.packages] == [new.id, old.id]  # newest first
    assert [g.id for g in listing.groups] == [group.id]
    with pytest.raises(NotFound):
        svc.packages.list_packages(VIEWER, family_id=4242)
    svc.packages.add_to_group(ADMIN, group.id, other.id)
    both = svc.packages.list_packages(VIEWER, family_id=old.family_id, group_id=group.id)
    assert both.name == "G" and [p.id for p in both.packages] == [other.id]  # the group wins


def test_members_sharing_a_sequence_are_ordered_by_package_id(svc: Services, runtime: Runtime) -> None:
    """Two members with the same sequence (rows written by two appends at once, or by hand) are
    listed by package id, and the next renumbering keeps that order: the group's order is the
    same on every read and on both databases."""
    g = svc.packages.create_group(ADMIN, "Tied")
    low, high = (svc.packages.create(ADMIN, f"T{i}", "1", fields()).id for i in range(2))
    last = svc.packages.create(ADMIN, "T2", "1", fields()).id
    with UnitOfWork(runtime.db) as uow:  # the higher id written first, so it is stored first
        uow.session.add(PackageGroupMember(group_id=g.id, package_id=high, sequence=1))
        uow.session.flush()
        uow.session.add(PackageGroupMember(group_id=g.id, package_id=low, sequence=1))
        uow.session.add(PackageGroupMember(group_id=g.id, package_id=last, sequence=2))
    assert [(n, p.id) for n, p in svc.packages.group_packages(VIEWER, g.id)] == [
        (1, low),
        (2, high),
        (3, last),
    ]
    svc.packages.remove_from_group(ADMIN, g.id, last)
    with UnitOfWork(runtime.db, readonly=True) as uow:
        stored = uow.session.execute(
            select(PackageGroupMember.package_id, PackageGroupMember.sequence)
            .where(PackageGroupMember.group_id == g.id)
            .order_by(PackageGroupMember.sequence)
        ).all()
    assert [tuple(r) for r in stored] == [(low, 1), (high, 2)]


def test_package_groups_through_the_package_service(svc: Services) -> None:
    top = svc.packages.create_group(OPERATOR, "Top", description="d")
    assert (top.name, top.description, top.parent_id, top.package_count) == ("Top", "d", None, 0)
    sub = svc.packages.create_group(ADMIN, "Sub", parent_id=top.id, key="sub-key")
    assert sub.key == "sub-key" and sub.parent_id == top.id
    pkg = svc.packages.create(ADMIN, "P", "1", fields())
    svc.packages.add_to_group(ADMIN, sub.id, pkg.id)
    assert svc.packages.get_group(VIEWER, sub.id).package_count == 1
    assert [g.name for g in svc.packages.list_groups(VIEWER)] == ["Top"]
    assert [g.name for g in svc.packages.list_groups(VIEWER, parent_id=top.id)] == ["Sub"]
    assert [g.name for g in svc.packages.list_groups(VIEWER, all_levels=True)] == ["Sub", "Top"]
    listing = svc.packages.list_packages(VIEWER, group_id=top.id)
    assert [g.name for g in listing.groups] == ["Sub"] and listing.packages == []
    updated = svc.packages.update_group(ADMIN, sub.id, name="Sub 2", description="e", move=True)
    assert (updated.name, updated.description, updated.parent_id) == ("Sub 2", "e", None)
    assert svc.packages.update_group(ADMIN, sub.id, parent_id=top.id, move=True).parent_id == top.id
    computers = svc.groups.create(ADMIN, "computers")
    for call in (
        lambda: svc.packages.get_group(VIEWER, computers.id),
        lambda: svc.packages.update_group(ADMIN, computers.id, name="x"),
        lambda: svc.packages.delete_group(ADMIN, computers.id),
        lambda: svc.packages.group_packages(VIEWER, computers.id),
        lambda: svc.packages.list_packages(VIEWER, group_id=computers.id),
        lambda: svc.packages.remove_from_group(ADMIN, computers.id, pkg.id),
        lambda: svc.packages.move_in_group(ADMIN, computers.id, pkg.id, 1),
    ):
        with pytest.raises(NotFound) as err:
            call()
        assert err.value.object_type == "package group"
    for call in (
        lambda: svc.packages.create_group(VIEWER, "x"),
        lambda: svc.packages.update_group(VIEWER, top.id, name="x"),
        lambda: svc.packages.delete_group(VIEWER, sub.id),
    ):
        with pytest.raises(PermissionDenied):
            call()
    svc.packages.delete_group(ADMIN, sub.id)
    assert [g.name for g in svc.packages.list_groups(VIEWER, all_levels=True)] == ["Top"]
    assert svc.groups.get(ADMIN, computers.id).name == "computers"  # computer groups untouched


def test_group_members_move_and_announce(svc: Services) -> None:
    changed: list[int] = []
    svc.packages.group_hooks.append(lambda s, gid: changed.append(gid))
    g = svc.packages.create_group(ADMIN, "G")
    ids = [svc.packages.create(ADMIN, f"P{i}", "1", fields()).id for i in range(3)]
    for i in ids:
        svc.packages.add_to_group(ADMIN, g.id, i)
    assert changed == [g.id] * 3
    svc.packages.add_to_group(ADMIN, g.id, ids[0])  # a member already: nothing changes
    assert len(changed) == 3
    svc.packages.move_in_group(ADMIN, g.id, ids[0], 99)  # beyond the end: last
    assert [p.id for _, p in svc.packages.group_packages(VIEWER, g.id)] == [ids[1], ids[2], ids[0]]
    svc.packages.move_in_group(ADMIN, g.id, ids[0], 2)
    assert [(n, p.id) for n, p in svc.packages.group_packages(VIEWER, g.id)] == [
        (1, ids[1]),
        (2, ids[0]),
        (3, ids[2]),
    ]
    with pytest.raises(ValidationFailed) as err:
        svc.packages.move_in_group(ADMIN, g.id, ids[0], 0)
    assert err.value.detail == {"field": "sequence", "reason": Reason.INVALID}
    outsider = svc.packages.create(ADMIN, "Q", "1", fields()).id
    with pytest.raises(NotFound):
        svc.packages.move_in_group(ADMIN, g.id, outsider, 1)
    before = len(changed)
    svc.packages.remove_from_group(ADMIN, g.id, outsider)  # not a member: nothing to do
    assert len(changed) == before
    svc.packages.remove_from_group(ADMIN, g.id, ids[1])
    assert [(n, p.id) for n, p in svc.packages.group_packages(VIEWER, g.id)] == [(1, ids[0]), (2, ids[2])]
    assert changed[-1] == g.id and len(changed) == before + 1
    with pytest.raises(NotFound):
        svc.packages.add_to_group(ADMIN, g.id, 4242)
    entries = svc.audit.find(ADMIN, Query(where=(Cond("action", Op.EQ, "package_group.move_member"),)))
    assert entries.items[-1].detail == {"package_id": ids[0], "sequence": 99}


def test_dependency_rules_are_checked_and_replaced(svc: Services) -> None:
    app = svc.packages.create(ADMIN, "App", "1", fields()).id
    runtime = svc.packages.create(ADMIN, "Runtime", "1", fields()).id
    docs = svc.packages.create(ADMIN, "Docs", "1", fields()).id
    rules = (
        DependencyRule(runtime),
        DependencyRule(
            docs,
            action="uninstall",
            required_action="uninstall",
            required_status=None,
            requirement_type="after",
        ),
        DependencyRule(
            docs,
            required_status="installed",
            requirement_type="",
            required_version="2.0",
            required_package_version="3",
        ),
    )
    info = svc.packages.set_dependency_rules(OPERATOR, app, rules)
    assert set(info.dependency_rules) == set(rules)
    # Setup rules that want the other package installed before (or in any order) install it first.
    assert info.depends_on == (runtime, docs)
    entries = svc.audit.find(ADMIN, Query(where=(Cond("action", Op.EQ, "package.set_dependencies"),)))
    assert entries.items[0].detail == {"rules": 3}
    # set_dependencies replaces the plain rules and keeps the others.
    info = svc.packages.set_dependencies(ADMIN, app, [docs, docs])
    assert info.depends_on == (docs,)  # the versioned rule for docs stays, runtime's plain rule went
    kinds = {(r.requires_id, r.action, r.requirement_type) for r in info.dependency_rules}
    assert (runtime, "setup", "before") not in kinds and (docs, "uninstall", "after") in kinds
    assert svc.audit.find(ADMIN, Query()).items[0].detail == {"requires": [docs]}
    assert svc.packages.set_dependency_rules(ADMIN, app, []).dependency_rules == ()
    info = svc.packages.set_dependencies(ADMIN, app, [runtime, docs])
    assert info.depends_on == (runtime, docs)
    with pytest.raises(NotFound):
        svc.packages.set_dependencies(ADMIN, 4242, [runtime])
    with pytest.raises(NotFound) as missing:
        svc.packages.set_dependencies(ADMIN, app, [runtime, 4243, 4242])
    assert missing.value.object_id == 4242
    with pytest.raises(ValidationFailed) as err:
        svc.packages.set_dependencies(ADMIN, app, [app])
    assert err.value.detail == {"field": "depends_on", "reason": Reason.INVALID}
    with pytest.raises(PermissionDenied):
        svc.packages.set_dependencies(VIEWER, app, [])
    with pytest.raises(PermissionDenied):
        svc.packages.set_dependency_rules(VIEWER, app, [])
    with pytest.raises(NotFound):
        svc.packages.set_dependency_rules(ADMIN, 4242, [])
    with pytest.raises(NotFound) as missing:
        svc.packages.set_dependency_rules(ADMIN, app, [DependencyRule(4243), DependencyRule(4242)])
    assert missing.value.object_id == 4242
    assert svc.packages.get(VIEWER, app).package.depends_on == (runtime, docs)


@pytest.mark.parametrize(
    ("rule", "problem"),
    [
        (
            DependencyRule(0, action="install"),
            "action must be one of setup, uninstall, update, always, once, custom",
        ),
        (DependencyRule(0, required_action="setup "), "required_action must be one of"),
        (
            DependencyRule(0, required_status="present"),
            "required_status must be one of installed, not_installed",
        ),
        (DependencyRule(0, required_action="setup", required_status="installed"), "give either"),
        (DependencyRule(0, required_action=None, required_status=None), "give either"),
        (DependencyRule(0, requirement_type="first"), "requirement_type must be before, after or empty"),
        (DependencyRule(0, required_version=""), "required_version must be 1 to 255 characters"),
        (DependencyRule(0, required_version="v" * 256), "required_version must be 1 to 255 characters"),
        (DependencyRule(0, required_package_version=""), "required_package_version must be 1 to 64"),
        (DependencyRule(0, required_package_version="p" * 65), "required_package_version must be 1 to 64"),
    ],
)
def test_bad_dependency_rules(svc: Services, rule: DependencyRule, problem: str) -> None:
    app = svc.packages.create(ADMIN, "App", "1", fields()).id
    other = svc.packages.create(ADMIN, "Other", "1", fields()).id
    bad = DependencyRule(
        other,
        rule.action,
        rule.required_action,
        rule.required_status,
        rule.requirement_type,
        rule.required_version,
        rule.required_package_version,
    )
    with pytest.raises(ValidationFailed) as err:
        svc.packages.set_dependency_rules(ADMIN, app, [bad])
    assert problem in err.value.message
    assert err.value.detail == {"field": "dependencies", "reason": Reason.INVALID}


def test_dependency_rule_limits_and_duplicates(svc: Services) -> None:
    app = svc.packages.create(ADMIN, "App", "1", fields()).id
    other = svc.packages.create(ADMIN, "Other", "1", fields()).id
    longest = DependencyRule(other, required_version="v" * 255, required_package_version="p" * 64)
    assert svc.packages.set_dependency_rules(ADMIN, app, [longest]).dependency_rules == (longest,)
    for rules in (
        [DependencyRule(app)],
        [DependencyRule(other), DependencyRule(other, required_action="setup", required_status=None)],
    ):
        with pytest.raises(ValidationFailed) as err:
            svc.packages.set_dependency_rules(ADMIN, app, rules)
        assert err.value.detail == {"field": "dependencies", "reason": Reason.INVALID}
    two_problems = DependencyRule(other, action="x", requirement_type="y")
    with pytest.raises(ValidationFailed) as err:
        svc.packages.set_dependency_rules(ADMIN, app, [two_problems])
    assert err.value.message.count("; ") == 1
    allowed = DependencyRule(
        other, action="once", required_action="custom", required_status=None, requirement_type="after"
    )
    assert svc.packages.set_dependency_rules(ADMIN, app, [allowed]).dependency_rules == (allowed,)


def test_assigning_an_unknown_package_is_refused_naming_it_and_audited(svc: Services) -> None:
    """Recording an installation of a package that does not exist is NotFound naming the
    package's id, in the refusal and in its audit row."""
    pc = svc.computers.create(ADMIN, "pc1").id
    mark = audit_mark(svc)
    with pytest.raises(NotFound) as err:
        svc.packages.assign_installation(ADMIN, pc, 4242)
    assert (err.value.message, err.value.object_type, err.value.object_id, err.value.detail) == (
        "package 4242 not found",
        "package",
        4242,
        {"object_type": "package", "object_id": 4242},
    )
    assert audited(svc, mark) == [
        ("installation.assign", "computer", str(pc), "not_found", {"error": "package 4242 not found"})
    ]
    assert svc.packages.list_installations(ADMIN) == []


def test_installation_records(svc: Services) -> None:
    seen: list[set[int]] = []
    svc.packages.installation_hooks.append(lambda s, ids: seen.append(set(ids)))
    pc = svc.computers.create(ADMIN, "pc1").id
    pkg = svc.packages.create(ADMIN, "Tool", "1", fields())
    got = svc.packages.assign_installation(OPERATOR, pc, pkg.id)
    assert (got.computer_id, got.hostname, got.package_id, got.family_id, got.family_name, got.version) == (
        pc,
        "pc1",
        pkg.id,
        pkg.family_id,
        "Tool",
        "1",
    )
    assert (got.procedure, got.job_id) == ("", None) and seen == [{pc}]
    assert svc.packages.assign_installation(ADMIN, pc, pkg.id).id == got.id  # recorded once
    assert [i.id for i in svc.packages.list_installations(VIEWER, package_id=pkg.id)] == [got.id]
    assert svc.packages.list_installations(VIEWER, computer_id=pc + 1) == []
    with pytest.raises(NotFound) as err:
        svc.packages.assign_installation(ADMIN, 4242, pkg.id)
    assert err.value.object_type == "computer"
    with pytest.raises(NotFound) as err:
        svc.packages.assign_installation(ADMIN, pc, 4242)
    assert err.value.object_type == "package"
    with pytest.raises(PermissionDenied):
        svc.packages.assign_installation(VIEWER, pc, pkg.id)
    with pytest.raises(PermissionDenied):
        svc.packages.remove_installation(VIEWER, got.id)
    svc.packages.remove_installation(ADMIN, got.id)
    assert svc.packages.list_installations(VIEWER) == [] and seen[-1] == {pc}
    entries = svc.audit.find(ADMIN, Query(where=(Cond("action", Op.EQ, "installation.remove"),)))
    assert entries.items[0].detail == {"computer_id": pc, "package_id": pkg.id}
    with pytest.raises(NotFound):
        svc.packages.remove_installation(ADMIN, got.id)
