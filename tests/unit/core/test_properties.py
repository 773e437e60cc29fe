"""Package properties (opsi's ProductProperty and ProductPropertyState) through core, and the
effective values a computer's package job carries."""

from __future__ import annotations

import pytest

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.errors import NotFound, PermissionDenied, ValidationFailed
from fleetdeck.core.packages.entities import PackageFields
from fleetdeck.core.packages.properties import PropertyInfo, PropertyService, PropertyValue, effective_values
from fleetdeck.core.query import Cond, Op, Query
from fleetdeck.core.settings.configs import Config
from fleetdeck.storage.uow import UnitOfWork

VIEWER = Actor(user_id=None, username="v", role=Role.VIEWER)
OPERATOR = Actor(user_id=None, username="op", role=Role.OPERATOR)


@pytest.fixture
def props(runtime: Runtime) -> PropertyService:
    return runtime.services.properties


def package(runtime: Runtime, admin: Actor, family: str, version: str = "1") -> tuple[int, int]:
    info = runtime.services.packages.create(admin, family, version, PackageFields(install_procedure="x"))
    return info.id, info.family_id


def audit(runtime: Runtime, admin: Actor, action: str) -> list[tuple[str, str, dict[str, object]]]:
    page = runtime.services.audit.find(admin, Query(where=(Cond("action", Op.EQ, action),)))
    return [(e.result, e.object_id, e.detail) for e in reversed(page.items)]


def test_properties_are_defined_per_package(props: PropertyService, admin: Actor, runtime: Runtime) -> None:
    p1, _ = package(runtime, admin, "app", "1")
    p2, _ = package(runtime, admin, "app", "2")
    lang = Config("lang", "str", "UI language", ["de", "en"], ["en"], editable=False, multi_value=True)
    assert props.put(admin, p2, lang) == PropertyInfo(p2, lang)
    props.put(admin, p1, Config("silent", "bool", default_values=[True]))
    props.put(OPERATOR, p1, Config("a-first"))  # operators manage packages
    assert [(i.package_id, i.prop.key) for i in props.find(VIEWER)] == [
        (p1, "a-first"),
        (p1, "silent"),
        (p2, "lang"),
    ]
    assert props.find(VIEWER, [p2]) == [PropertyInfo(p2, lang)]
    assert props.find(VIEWER, []) == []
    assert audit(runtime, admin, "package_property.put")[0] == (
        "ok",
        str(p2),
        {"key": "lang", "default_values": ["en"]},
    )
    changed = Config("lang", "str", "", ["fr"], ["fr"], editable=True, multi_value=False)
    props.put(admin, p2, changed)
    assert props.find(VIEWER, [p2]) == [PropertyInfo(p2, changed)]
    assert props.delete(admin, p2, "lang") is True
    assert props.delete(admin, p2, "lang") is False
    assert props.find(VIEWER, [p2]) == []
    assert audit(runtime, admin, "package_property.delete")[0] == ("ok", str(p2), {"key": "lang"})


def test_bad_properties_are_refused(props: PropertyService, admin: Actor, runtime: Runtime) -> None:
    pid, _ = package(runtime, admin, "app")
    with pytest.raises(ValidationFailed) as err:
        props.put(admin, pid, Config("k" * 129))
    assert err.value.field == "key"
    assert props.put(admin, pid, Config("k" * 128)).prop.key == "k" * 128
    with pytest.raises(ValidationFailed) as err:
        props.put(admin, pid, Config("k", "bool", default_values=["yes"]))
    assert err.value.field == "default_values"
    with pytest.raises(NotFound) as missing:
        props.put(admin, 4242, Config("k"))
    assert (missing.value.object_type, missing.value.object_id) == ("package", 4242)
    with pytest.raises(PermissionDenied):
        props.put(VIEWER, pid, Config("k"))
    with pytest.raises(PermissionDenied):
        props.delete(VIEWER, pid, "k")
    assert [i.prop.key for i in props.find(admin)] == ["k" * 128]


def test_values_per_computer_and_family(props: PropertyService, admin: Actor, runtime: Runtime) -> None:
    pcs = [runtime.services.computers.create(admin, f"pc{i}").id for i in range(2)]
    _, fam_b = package(runtime, admin, "b")
    _, fam_a = package(runtime, admin, "a")
    props.set_value(admin, fam_b, "lang", pcs[0], ["de"])
    props.set_value(admin, fam_a, "silent", pcs[1], [False])
    props.set_value(admin, fam_a, "debug", pcs[0], [])
    assert props.values(VIEWER) == [
        PropertyValue(fam_b, "lang", pcs[0], ["de"]),
        PropertyValue(fam_a, "debug", pcs[0], []),
        PropertyValue(fam_a, "silent", pcs[1], [False]),
    ]
    assert props.values(VIEWER, [pcs[1]]) == [PropertyValue(fam_a, "silent", pcs[1], [False])]
    assert props.values(VIEWER, []) == []
    props.set_value(admin, fam_b, "lang", pcs[0], ["en", "de"])  # replaces
    assert props.values(VIEWER, [pcs[0]]) == [  # by family ("b" was created first), then key
        PropertyValue(fam_b, "lang", pcs[0], ["en", "de"]),
        PropertyValue(fam_a, "debug", pcs[0], []),
    ]
    assert len(props.values(VIEWER)) == 3
    assert audit(runtime, admin, "package_property.set_value")[0] == (
        "ok",
        str(pcs[0]),
        {"family_id": fam_b, "key": "lang", "values": ["de"]},
    )
    props.clear_value(admin, fam_b, "lang", pcs[0])
    props.clear_value(admin, fam_b, "lang", pcs[1])  # nothing there: fine
    assert [(v.key, v.computer_id) for v in props.values(VIEWER)] == [("debug", pcs[0]), ("silent", pcs[1])]
    assert audit(runtime, admin, "package_property.clear_value")[0] == (
        "ok",
        str(pcs[0]),
        {"family_id": fam_b, "key": "lang"},
    )
    with pytest.raises(ValidationFailed) as err:
        props.set_value(admin, fam_a, "debug", pcs[0], "on")  # type: ignore[arg-type]
    assert err.value.field == "values"


def test_a_computer_sets_only_its_own_values(props: PropertyService, admin: Actor, runtime: Runtime) -> None:
    pcs = [runtime.services.computers.create(admin, f"pc{i}").id for i in range(2)]
    _, fam = package(runtime, admin, "a")
    itself = Actor(user_id=None, username="pc0", role=Role.VIEWER, computer_id=pcs[0])
    props.set_value(itself, fam, "k", pcs[0], ["mine"])
    for actor in (itself, VIEWER):
        with pytest.raises(PermissionDenied):
            props.set_value(actor, fam, "k", pcs[1], ["theirs"])
    props.set_value(OPERATOR, fam, "k", pcs[1], ["set by an operator"])
    with pytest.raises(PermissionDenied):
        props.clear_value(itself, fam, "k", pcs[0])  # clearing is for package managers
    assert [v.values for v in props.values(admin)] == [["mine"], ["set by an operator"]]


def test_effective_values_are_defaults_overridden_by_the_family_value(
    props: PropertyService, admin: Actor, runtime: Runtime
) -> None:
    pcs = [runtime.services.computers.create(admin, f"pc{i}").id for i in range(2)]
    v1, fam = package(runtime, admin, "app", "1")
    v2, _ = package(runtime, admin, "app", "2")
    bare, _ = package(runtime, admin, "bare")
    props.put(admin, v1, Config("lang", default_values=["en"]))
    props.put(admin, v1, Config("silent", "bool", default_values=[True]))
    props.put(admin, v2, Config("lang", default_values=["fr"]))
    # A computer's value holds for the whole family, so for every version of it.
    props.set_value(admin, fam, "lang", pcs[0], ["de"])
    props.set_value(admin, fam, "other", pcs[1], ["x"])  # not a property of these packages
    with UnitOfWork(runtime.db, readonly=True) as uow:
        got = effective_values(
            uow.session, [(v1, pcs[0]), (v1, pcs[1]), (v2, pcs[0]), (v2, pcs[1]), (bare, pcs[0])]
        )
        assert got == {
            (v1, pcs[0]): {"lang": ["de"], "silent": [True]},
            (v1, pcs[1]): {"lang": ["en"], "silent": [True]},
            (v2, pcs[0]): {"lang": ["de"]},
            (v2, pcs[1]): {"lang": ["fr"]},
        }
        assert effective_values(uow.session, []) == {}
        assert effective_values(uow.session, [(bare, pcs[0])]) == {}
