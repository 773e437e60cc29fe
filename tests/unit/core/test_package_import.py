"""Importing a whole package (``PackageService.import_package``, what opsi's ``.opsi`` archives
become), called directly: a new package with its properties, rules and payload; the same
version imported again replaces all of it; rules on products not here are reported, and the
limits of an import are refused in words. The opsi dialect tests import real archives through
HTTP; these are the ones the mutation subset runs (docs/testing.md, "Mutation testing")."""

from __future__ import annotations

import pytest

from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.errors import PermissionDenied, ValidationFailed
from fleetdeck.core.packages.entities import DependencyRule, ImportedDependency, PackageFields, PackageImport
from fleetdeck.core.packages.imports import MAX_DEPENDENCIES, MAX_PROPERTIES
from fleetdeck.core.services import Services
from fleetdeck.core.settings.configs import Config
from tests import factories


def _imp(**kw: object) -> PackageImport:
    base: dict[str, object] = {
        "family_key": "tool",
        "name": "Tool",
        "version": "1.0",
        "package_version": "1",
        "fields": PackageFields(install_procedure="setup.exe /S"),
        "source": "tool_1.0-1.opsi",
    }
    base.update(kw)
    return PackageImport(**base)  # type: ignore[arg-type]


def _props(svc: Services, admin: Actor, package_id: int) -> list[Config]:
    return [p.prop for p in svc.properties.find(admin, [package_id])]


def test_an_imported_package_has_its_fields_properties_rules_and_payload_and_is_audited(
    svc: Services, admin: Actor
) -> None:
    base = factories.package(svc, admin, "base")
    zipped = factories.zip_payload(**{"setup.exe": b"MZ"})
    mark = factories.audit_mark(svc)
    result = svc.packages.import_package(
        admin,
        _imp(
            properties=(Config("lang", "str", "language", ["de", "en"], ["en"]), Config("silent", "bool")),
            dependencies=(
                ImportedDependency("base", required_status=None, required_action="setup"),
                ImportedDependency("absent-one"),
                ImportedDependency("absent-one", action="uninstall"),
            ),
            payload=zipped,
        ),
    )
    pkg = result.package
    assert (result.replaced, result.unresolved) == (False, ("absent-one",))
    assert (pkg.family_key, pkg.family_name, pkg.version, pkg.package_version) == ("tool", "Tool", "1.0", "1")
    assert pkg.install_procedure == "setup.exe /S" and pkg.payload_sha256 and pkg.payload_size
    assert pkg.dependency_rules == (
        DependencyRule(
            base.id, "setup", required_action="setup", required_status=None, requirement_type="before"
        ),
    )
    assert [(c.key, c.kind, c.possible_values, c.default_values) for c in _props(svc, admin, pkg.id)] == [
        ("lang", "str", ["de", "en"], ["en"]),
        ("silent", "bool", [], []),
    ]
    [row] = [r for r in factories.audit_since(svc, mark) if r.action == "package.import"]
    assert (row.object_type, row.object_id, row.result) == ("package", str(pkg.id), "ok")
    assert row.detail == {
        "family": "tool",
        "version": "1.0",
        "package_version": "1",
        "source": "tool_1.0-1.opsi",
        "replaced": False,
        "properties": 2,
        "dependencies": 1,
        "unresolved": ["absent-one"],
        "payload": pkg.payload_sha256,
        "server_files": None,  # none in this package: nothing kept, nothing left unrun
        "not_run": [],
    }


def test_the_same_version_imported_again_replaces_the_package(svc: Services, admin: Actor) -> None:
    factories.package(svc, admin, "base")
    first = svc.packages.import_package(
        admin,
        _imp(
            properties=(Config("lang", "str"),),
            dependencies=(ImportedDependency("base"),),
            payload=factories.zip_payload(a=b"1"),
        ),
    ).package
    mark = factories.audit_mark(svc)
    again = svc.packages.import_package(
        admin,
        _imp(
            name="Tool Renamed",
            fields=PackageFields(install_procedure="setup2.exe", description="second"),
            properties=(Config("mode", "str"),),
            payload=factories.zip_payload(b=b"2"),
        ),
    )
    pkg = again.package
    assert again.replaced and pkg.id == first.id and pkg.family_id == first.family_id
    assert (pkg.install_procedure, pkg.description, pkg.family_name) == (
        "setup2.exe",
        "second",
        "Tool Renamed",
    )
    assert pkg.payload_sha256 and pkg.payload_sha256 != first.payload_sha256
    assert pkg.dependency_rules == () and pkg.depends_on == ()
    assert [c.key for c in _props(svc, admin, pkg.id)] == ["mode"]
    [row] = [r for r in factories.audit_since(svc, mark) if r.action == "package.import"]
    assert (row.detail["replaced"], row.detail["payload"]) == (True, pkg.payload_sha256)
    without = svc.packages.import_package(admin, _imp()).package  # no payload: none kept
    assert (without.payload_sha256, without.payload_size) == (None, None)
    other = factories.package(svc, admin, "Taken")
    assert other.family_name == "Taken"
    with pytest.raises(ValidationFailed) as err:
        svc.packages.import_package(admin, _imp(name="Taken"))
    assert (err.value.field, err.value.message) == ("name", "a family named 'Taken' exists")
    assert svc.packages.get(admin, pkg.id).package.family_name == "Tool"  # as the last import named it


def test_an_import_is_refused_in_words_when_it_cannot_be_stored(svc: Services, admin: Actor) -> None:
    too_many_props = tuple(Config(f"p{i}") for i in range(MAX_PROPERTIES + 1))
    too_many_deps = tuple(ImportedDependency(f"d{i}") for i in range(MAX_DEPENDENCIES + 1))
    cases = [
        (_imp(properties=too_many_props), "properties", f"more than {MAX_PROPERTIES} properties"),
        (_imp(dependencies=too_many_deps), "dependencies", f"more than {MAX_DEPENDENCIES} dependencies"),
        (_imp(properties=(Config("a"), Config("a"))), "properties", "a property is defined twice"),
    ]
    for imp, field, message in cases:
        with pytest.raises(ValidationFailed) as err:
            svc.packages.import_package(admin, imp)
        assert (err.value.field, err.value.message) == (field, message)
    svc.packages.import_package(admin, _imp())
    with pytest.raises(ValidationFailed) as err:
        svc.packages.import_package(admin, _imp(version="2.0", dependencies=(ImportedDependency("tool"),)))
    assert (err.value.field, err.value.message) == (
        "dependencies",
        "a package cannot depend on its own product",
    )


def test_a_rule_names_the_newest_package_of_its_product(svc: Services, admin: Actor) -> None:
    old = factories.package(svc, admin, "base", "1")
    new = factories.package(svc, admin, "base", "2")
    assert new.id > old.id
    pkg = svc.packages.import_package(admin, _imp(dependencies=(ImportedDependency("base"),))).package
    assert [r.requires_id for r in pkg.dependency_rules] == [new.id]
    assert pkg.depends_on == (new.id,)


def test_a_caller_who_may_not_import_is_refused_before_the_archive_is_read(
    svc: Services, admin: Actor
) -> None:
    viewer = factories.user(svc, Role.VIEWER)
    read: list[bool] = []

    def reader() -> PackageImport:
        read.append(True)
        return _imp()

    mark = factories.audit_mark(svc)
    with pytest.raises(PermissionDenied):
        svc.packages.import_package(viewer, reader)
    assert read == []
    [row] = [r for r in factories.audit_since(svc, mark) if r.action == "package.import"]
    assert row.result == "denied"
    assert svc.packages.import_package(admin, reader).package.family_key == "tool" and read == [True]


def test_the_result_names_what_the_import_keeps_but_never_runs(svc: Services, admin: Actor) -> None:
    """What the archive brings that fleetdeck does not run (opsi's preinst, SERVER_DATA) comes
    back in the result, with why, for the caller to tell (import_package 215 dropped it), and
    its names in the audit record."""
    not_run = (("OPSI/postinst", "runs no package code"), ("SERVER_DATA (1 files)", "kept only"))
    mark = factories.audit_mark(svc)
    result = svc.packages.import_package(admin, _imp(not_run=not_run))
    assert result.not_run == not_run
    [row] = [r for r in factories.audit_since(svc, mark) if r.action == "package.import"]
    assert row.detail["not_run"] == ["OPSI/postinst", "SERVER_DATA (1 files)"]
    assert svc.packages.import_package(admin, _imp()).not_run == ()  # again, with nothing of the kind
