"""License management through the core service: what is stored, who sees license keys, and the
usage rule (``acquire``) that decides which computer gets which license."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.errors import NotFound, PermissionDenied, ValidationFailed
from fleetdeck.core.licenses.service import (
    Assignment,
    Contract,
    License,
    LicenseExhausted,
    LicenseService,
    Pool,
    PoolMember,
    PoolSoftware,
)
from fleetdeck.core.query import Cond, Op, Query

VIEWER = Actor(user_id=None, username="v", role=Role.VIEWER)
OPERATOR = Actor(user_id=None, username="op", role=Role.OPERATOR)
FUTURE = datetime(2999, 1, 1, tzinfo=UTC)


@pytest.fixture
def lic(runtime: Runtime) -> LicenseService:
    return runtime.services.licenses


@pytest.fixture
def pcs(runtime: Runtime, admin: Actor) -> list[int]:
    return [runtime.services.computers.create(admin, f"pc{i}").id for i in range(3)]


def pool_with(lic: LicenseService, admin: Actor, *licenses: License, key_text: str = "") -> None:
    lic.put_contract(admin, Contract("c1"))
    lic.put_pool(admin, Pool("office", "Office", ["Office365"]))
    for one in licenses:
        lic.put_license(admin, one)
        lic.put_pool_member(admin, one.key, "office", key_text)


def audit(runtime: Runtime, admin: Actor, action: str) -> list[tuple[str, str, str, dict[str, object]]]:
    page = runtime.services.audit.find(admin, Query(where=(Cond("action", Op.EQ, action),)))
    return [(e.result, e.object_type, e.object_id, e.detail) for e in reversed(page.items)]


def test_contracts_pools_and_licenses_are_stored_and_listed_by_key(
    lic: LicenseService, admin: Actor, pcs: list[int], runtime: Runtime
) -> None:
    dates = [datetime(2024, 1, d, tzinfo=UTC) for d in (1, 2, 3)]
    lic.put_contract(admin, Contract("  MSDN ", "desc", "notes", "Microsoft", *dates))
    lic.put_contract(admin, Contract("adobe"))
    assert [c.key for c in lic.contracts(VIEWER)] == ["adobe", "msdn"]
    (msdn,) = [c for c in lic.contracts(VIEWER) if c.key == "msdn"]
    assert (msdn.description, msdn.notes, msdn.partner) == ("desc", "notes", "Microsoft")
    assert [d.replace(tzinfo=UTC) for d in (msdn.concluded_at, msdn.notify_at, msdn.expires_at) if d] == dates
    # Putting again updates in place.
    lic.put_contract(admin, Contract("msdn", "new", "n2", "MS"))
    (msdn,) = [c for c in lic.contracts(VIEWER) if c.key == "msdn"]
    assert (msdn.description, msdn.notes, msdn.partner, msdn.expires_at) == ("new", "n2", "MS", None)
    assert len(lic.contracts(VIEWER)) == 2

    lic.put_pool(admin, Pool("Win", "Windows", ["Win10", "win11"]))
    lic.put_pool(admin, Pool("acrobat"))
    assert lic.pools(VIEWER) == [Pool("acrobat", "", []), Pool("win", "Windows", ["win10", "win11"])]
    lic.put_pool(admin, Pool("win", "Windows 11", ["win11"]))
    assert lic.pools(VIEWER)[1] == Pool("win", "Windows 11", ["win11"])

    lic.put_license(admin, License("vol-1", "MSDN", "volume", 5, pcs[0], dates[0]))
    lic.put_license(admin, License("a-retail", "adobe"))
    got = lic.licenses(VIEWER)
    assert [(x.key, x.contract_key, x.kind, x.max_installations, x.bound_computer_id) for x in got] == [
        ("a-retail", "adobe", "retail", 1, None),
        ("vol-1", "msdn", "volume", 5, pcs[0]),
    ]
    assert got[1].expires_at is not None and got[1].expires_at.replace(tzinfo=UTC) == dates[0]
    lic.put_license(admin, License("vol-1", "adobe", "concurrent", 0))
    assert lic.licenses(VIEWER)[1] == License("vol-1", "adobe", "concurrent", 0, None, None)
    assert audit(runtime, admin, "license_contract.put")[0][:3] == ("ok", "license_contract", "msdn")
    assert audit(runtime, admin, "software_license.put")[0][:3] == ("ok", "software_license", "vol-1")
    assert audit(runtime, admin, "license_pool.put")[0][:3] == ("ok", "license_pool", "win")


@pytest.mark.parametrize("key", ["", "Bad Id!", "-leading-dash", "x" * 256, "a/b"])
def test_bad_keys_are_refused(lic: LicenseService, admin: Actor, key: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        lic.put_contract(admin, Contract(key))
    assert err.value.field == "license contract"
    assert key.strip().lower() in err.value.message
    with pytest.raises(ValidationFailed) as err:
        lic.put_pool(admin, Pool(key))
    assert err.value.field == "license pool"
    with pytest.raises(ValidationFailed) as err:
        lic.put_license(admin, License(key, "c1"))
    assert err.value.field == "software license"


def test_keys_allow_the_documented_characters(lic: LicenseService, admin: Actor) -> None:
    key = "0a-b_c.d: e" + "x" * 244  # 255 characters
    lic.put_contract(admin, Contract(key))
    assert [c.key for c in lic.contracts(admin)] == [key]


def test_license_kind_and_installations_are_checked(lic: LicenseService, admin: Actor) -> None:
    lic.put_contract(admin, Contract("c1"))
    with pytest.raises(ValidationFailed) as err:
        lic.put_license(admin, License("l1", "c1", kind="site"))
    assert err.value.field == "kind" and "retail, oem, volume, concurrent" in err.value.message
    with pytest.raises(ValidationFailed) as err:
        lic.put_license(admin, License("l1", "c1", max_installations=-1))
    assert err.value.field == "max_installations"
    with pytest.raises(ValidationFailed) as err:
        lic.put_license(admin, License("l1", "Bad Contract!"))
    assert err.value.field == "license contract"
    with pytest.raises(NotFound) as missing:
        lic.put_license(admin, License("l1", "c2"))
    assert (missing.value.object_type, missing.value.object_id) == ("license contract", "c2")
    for kind in ("retail", "oem", "volume", "concurrent"):
        lic.put_license(admin, License(f"l-{kind}", "c1", kind=kind, max_installations=0))
    assert [x.kind for x in lic.licenses(admin)] == ["concurrent", "oem", "retail", "volume"]


def test_only_license_managers_write(lic: LicenseService, admin: Actor, runtime: Runtime) -> None:
    with pytest.raises(PermissionDenied):
        lic.put_contract(VIEWER, Contract("c1"))
    with pytest.raises(PermissionDenied):
        lic.put_pool(VIEWER, Pool("p1"))
    lic.put_contract(OPERATOR, Contract("c1"))  # operators manage packages, and so licenses
    with pytest.raises(PermissionDenied):
        lic.put_license(VIEWER, License("l1", "c1"))
    assert audit(runtime, admin, "license_contract.put")[0][:3] == ("denied", "license_contract", "c1")
    assert [c.key for c in lic.contracts(VIEWER)] == ["c1"]


def test_license_keys_are_shown_only_to_managers_and_the_computer_using_them(
    lic: LicenseService, admin: Actor, pcs: list[int], runtime: Runtime
) -> None:
    pool_with(lic, admin, License("vol", "c1", "volume", 0), key_text="AAAAA-BBBBB")
    lic.put_license(admin, License("nokey", "c1"))
    lic.put_pool_member(admin, "NOKEY", "OFFICE")
    assert lic.pool_members(admin) == [
        PoolMember("nokey", "office", ""),
        PoolMember("vol", "office", "AAAAA-BBBBB"),
    ]
    assert lic.pool_members(VIEWER) == [PoolMember("nokey", "office", ""), PoolMember("vol", "office", None)]
    # Putting a member again replaces its key text; an empty one removes it.
    lic.put_pool_member(admin, "vol", "office", "ZZZZZ")
    assert lic.pool_members(admin)[1].license_value == "ZZZZZ"
    assert len(lic.pool_members(admin)) == 2
    assert audit(runtime, admin, "license_pool.add_license")[-1] == (
        "ok",
        "license_pool",
        "office",
        {"license": "vol"},
    )

    lic.put_assignment(admin, "vol", "office", pcs[0])  # the pool's key text is copied
    lic.put_assignment(admin, "VOL", "Office", pcs[1], value="OWN-KEY", notes="bought extra")
    assert lic.assignments(admin) == [
        Assignment("vol", "office", pcs[0], "ZZZZZ", ""),
        Assignment("vol", "office", pcs[1], "OWN-KEY", "bought extra"),
    ]
    assert [a.license_value for a in lic.assignments(VIEWER)] == [None, None]
    itself = Actor(user_id=None, username="pc1", role=Role.VIEWER, computer_id=pcs[1])
    assert [a.license_value for a in lic.assignments(itself)] == [None, "OWN-KEY"]
    assert lic.assignments(admin, [pcs[1]]) == [
        Assignment("vol", "office", pcs[1], "OWN-KEY", "bought extra")
    ]
    assert lic.assignments(admin, []) == []
    assert audit(runtime, admin, "license.assign")[0] == (
        "ok",
        "computer",
        str(pcs[0]),
        {"license": "vol", "pool": "office"},
    )
    # Assigning again updates the row instead of adding one.
    lic.put_assignment(admin, "vol", "office", pcs[1], notes="n")
    assert lic.assignments(admin, [pcs[1]]) == [Assignment("vol", "office", pcs[1], "ZZZZZ", "n")]
    lic.put_assignment(admin, "nokey", "office", pcs[2])
    assert lic.assignments(admin, [pcs[2]])[0].license_value == ""


def test_a_computer_holds_two_licenses_of_one_pool_as_two_assignments(
    lic: LicenseService, admin: Actor, pcs: list[int]
) -> None:
    """An assignment is one per (license, pool, computer): assigning a second license of the
    same pool to the same computer adds a row and leaves the first one's key and notes alone."""
    pool_with(lic, admin, License("vol", "c1"), License("oem", "c1"), key_text="POOL-KEY")
    lic.put_assignment(admin, "vol", "office", pcs[0], value="VOL-KEY", notes="first")
    lic.put_assignment(admin, "oem", "office", pcs[0], notes="second")
    assert lic.assignments(admin, [pcs[0]]) == [
        Assignment("oem", "office", pcs[0], "POOL-KEY", "second"),
        Assignment("vol", "office", pcs[0], "VOL-KEY", "first"),
    ]


def test_unknown_licenses_and_pools_are_not_found(lic: LicenseService, admin: Actor, pcs: list[int]) -> None:
    pool_with(lic, admin, License("vol", "c1"))
    calls = [
        lambda: lic.put_pool_member(admin, "nope", "office"),
        lambda: lic.put_pool_member(admin, "vol", "nope"),
        lambda: lic.put_assignment(admin, "nope", "office", pcs[0]),
        lambda: lic.put_assignment(admin, "vol", "nope", pcs[0]),
        lambda: lic.delete_pool_member(admin, "nope", "office"),
        lambda: lic.delete_pool_member(admin, "vol", "nope"),
        lambda: lic.release(admin, "nope", "office", pcs[0]),
        lambda: lic.release(admin, "vol", "nope", pcs[0]),
        lambda: lic.acquire(admin, pcs[0], "nope"),
        lambda: lic.put_pool_software(admin, PoolSoftware("nope", "Word")),
        lambda: lic.delete_pool_software(admin, PoolSoftware("nope", "Word")),
    ]
    for call in calls:
        with pytest.raises(NotFound) as err:
            call()
        assert err.value.object_id == "nope"
        assert err.value.object_type in {"software license", "license pool"}
    with pytest.raises(NotFound) as err:
        lic.put_pool_member(admin, "nope", "office")
    assert err.value.object_type == "software license"
    with pytest.raises(NotFound) as err:
        lic.put_pool_member(admin, "vol", "nope")
    assert err.value.object_type == "license pool"


def test_pool_software_is_kept_once_and_validated(
    lic: LicenseService, admin: Actor, runtime: Runtime
) -> None:
    pool_with(lic, admin)
    lic.put_pool(admin, Pool("acrobat"))
    word = PoolSoftware("Office", " Word ", "16.0", "1", "de", "x64")
    lic.put_pool_software(admin, word)
    lic.put_pool_software(admin, word)
    lic.put_pool_software(admin, PoolSoftware("office", "Excel"))
    lic.put_pool_software(admin, PoolSoftware("acrobat", "Reader", "11"))
    assert lic.pool_software(VIEWER) == [
        PoolSoftware("acrobat", "Reader", "11"),
        PoolSoftware("office", "Excel"),
        PoolSoftware("office", "Word", "16.0", "1", "de", "x64"),
    ]
    assert audit(runtime, admin, "license_pool.add_software")[0] == (
        "ok",
        "license_pool",
        "Office",
        {"software": "Word", "version": "16.0"},
    )
    # Deleting matches every field: another version is a different software.
    assert lic.delete_pool_software(admin, PoolSoftware("office", "Word", "15.0", "1", "de", "x64")) == 0
    assert lic.delete_pool_software(admin, PoolSoftware("OFFICE", "Word", "16.0", "1", "de", "x64")) == 1
    assert lic.delete_pool_software(admin, word) == 0
    assert [s.name for s in lic.pool_software(admin)] == ["Reader", "Excel"]
    bad = [
        (PoolSoftware("office", "  "), "name"),
        (PoolSoftware("office", "x" * 256), "name"),
        (PoolSoftware("office", "w", version="v" * 256), "version"),
        (PoolSoftware("office", "w", sub_version="s" * 256), "sub_version"),
        (PoolSoftware("office", "w", language="l" * 65), "language"),
        (PoolSoftware("office", "w", architecture="a" * 33), "architecture"),
        (PoolSoftware("office", "w\x00"), "name"),
        (PoolSoftware("office", "w", version="1\x00"), "version"),
    ]
    for item, field in bad:
        with pytest.raises(ValidationFailed) as err:
            lic.put_pool_software(admin, item)
        assert err.value.field == field
        with pytest.raises(ValidationFailed):
            lic.delete_pool_software(admin, item)
    longest = PoolSoftware("office", "n" * 255, "v" * 255, "s" * 255, "l" * 64, "a" * 32)
    lic.put_pool_software(admin, longest)
    assert longest in lic.pool_software(admin)
    with pytest.raises(PermissionDenied):
        lic.put_pool_software(VIEWER, word)
    with pytest.raises(PermissionDenied):
        lic.delete_pool_software(VIEWER, word)


def test_delete_by_kind_and_members(
    lic: LicenseService, admin: Actor, pcs: list[int], runtime: Runtime
) -> None:
    pool_with(lic, admin, License("a", "c1", max_installations=0), License("b", "c1"), key_text="K")
    lic.put_contract(admin, Contract("c2"))
    lic.acquire(admin, pcs[0], "office")
    assert lic.delete_pool_member(admin, "B", "Office") == 1
    assert lic.delete_pool_member(admin, "b", "office") == 0
    assert [m.license_key for m in lic.pool_members(admin)] == ["a"]
    with pytest.raises(PermissionDenied):
        lic.delete_pool_member(VIEWER, "a", "office")
    assert lic.delete(admin, "license", ["B", "nope"]) == 1
    assert [x.key for x in lic.licenses(admin)] == ["a"]
    assert audit(runtime, admin, "license_license.delete")[0] == (
        "ok",
        "license_license",
        "b,nope",
        {"deleted": ["b"]},
    )
    assert lic.delete(admin, "contract", ["c2"]) == 1
    assert [c.key for c in lic.contracts(admin)] == ["c1"]
    assert lic.delete(admin, "pool", ["office"]) == 1
    assert lic.pools(admin) == [] and lic.assignments(admin) == []  # assignments go with the pool
    assert lic.delete(admin, "contract", ["c1"]) == 1
    assert lic.licenses(admin) == []  # licenses go with their contract
    with pytest.raises(PermissionDenied):
        lic.delete(VIEWER, "contract", ["c1"])


def test_acquire_reuses_skips_expired_bound_and_full_licenses(
    lic: LicenseService, admin: Actor, pcs: list[int], runtime: Runtime
) -> None:
    past = datetime.now(UTC) - timedelta(minutes=1)
    pool_with(
        lic,
        admin,
        License("a-expired", "c1", max_installations=0, expires_at=past),
        License("b-bound", "c1", "oem", 1, bound_computer_id=pcs[1]),
        License("c-single", "c1", max_installations=1, expires_at=FUTURE),
        License("d-double", "c1", "volume", 2),
        key_text="KEY",
    )
    first = lic.acquire(admin, pcs[0], "Office")
    assert first == Assignment("c-single", "office", pcs[0], "KEY")
    assert lic.acquire(admin, pcs[0], "office") == first  # a computer keeps its license
    assert audit(runtime, admin, "license.acquire")[1][3] == {
        "pool": "office",
        "license": "c-single",
        "reused": True,
    }
    # The OEM license bound to pc1 goes to pc1 first, before any free license.
    assert lic.acquire(admin, pcs[1], "office").license_key == "b-bound"
    assert lic.acquire(admin, pcs[2], "office").license_key == "d-double"
    fourth = runtime.services.computers.create(admin, "pc3").id
    assert lic.acquire(admin, fourth, "office").license_key == "d-double"
    fifth = runtime.services.computers.create(admin, "pc4").id
    with pytest.raises(LicenseExhausted) as err:
        lic.acquire(admin, fifth, "office")
    assert err.value.detail == {"pool": "office"}
    assert "no license left in pool 'office'" in err.value.message
    assert audit(runtime, admin, "license.acquire")[-1][0] == "conflict"
    # Releasing one makes room again.
    assert lic.release(admin, "D-DOUBLE", "office", pcs[2]) == 1
    assert lic.release(admin, "d-double", "office", pcs[2]) == 0
    assert lic.acquire(admin, fifth, "office").license_key == "d-double"


def test_unlimited_and_just_expiring_licenses(lic: LicenseService, admin: Actor, pcs: list[int]) -> None:
    now = datetime.now(UTC)
    pool_with(lic, admin, License("a-now", "c1", max_installations=0, expires_at=now))
    with pytest.raises(LicenseExhausted):
        lic.acquire(admin, pcs[0], "office")  # expiring at the moment means expired
    lic.put_license(admin, License("b-unlimited", "c1", "concurrent", 0, expires_at=FUTURE))
    lic.put_pool_member(admin, "b-unlimited", "office")
    assert {lic.acquire(admin, pc, "office").license_key for pc in pcs} == {"b-unlimited"}
    assert lic.acquire(admin, pcs[0], "office").license_value == ""


def test_a_computer_acquires_and_releases_only_its_own_licenses(
    lic: LicenseService, admin: Actor, pcs: list[int]
) -> None:
    pool_with(lic, admin, License("vol", "c1", "volume", 0), key_text="SECRET")
    itself = Actor(user_id=None, username="pc0", role=Role.VIEWER, computer_id=pcs[0])
    got = lic.acquire(itself, pcs[0], "office")
    assert got.license_value == "SECRET"  # the computer using the license may see its key
    assert lic.acquire(itself, pcs[0], "office").license_value == "SECRET"
    with pytest.raises(PermissionDenied):
        lic.acquire(itself, pcs[1], "office")
    lic.acquire(admin, pcs[1], "office")
    with pytest.raises(PermissionDenied):
        lic.acquire(VIEWER, pcs[1], "office")
    with pytest.raises(PermissionDenied):
        lic.release(itself, "vol", "office", pcs[1])
    with pytest.raises(PermissionDenied):
        lic.release(VIEWER, "vol", "office", pcs[1])
    assert lic.release(itself, "vol", "office", pcs[0]) == 1
    viewer_pc = Actor(user_id=None, username="pc1", role=Role.VIEWER, computer_id=pcs[1])
    assert lic.acquire(viewer_pc, pcs[1], "office").license_value == "SECRET"
    assert lic.acquire(OPERATOR, pcs[2], "office").license_value == "SECRET"


def test_every_listing_filters_by_its_query(lic: LicenseService, admin: Actor) -> None:
    """Each read applies its query's conditions in SQL (the opsi dialect's ``*_getObjects``
    filters arrive as one): only the matching rows come back, in the read's own order."""
    lic.put_contract(admin, Contract("msdn", partner="Microsoft"))
    lic.put_contract(admin, Contract("adobe", partner="Adobe"))
    lic.put_pool(admin, Pool("office", "Office"))
    lic.put_pool(admin, Pool("win", "Windows"))
    lic.put_license(admin, License("a-1", "adobe"))
    lic.put_license(admin, License("m-1", "msdn", "volume", 5))
    lic.put_license(admin, License("m-2", "msdn"))
    lic.put_pool_member(admin, "m-1", "win", "")
    lic.put_pool_member(admin, "a-1", "office", "")
    lic.put_pool_software(admin, PoolSoftware("win", "Windows 11"))
    lic.put_pool_software(admin, PoolSoftware("office", "Word"))

    def where(field: str, value: object) -> Query:
        return Query(where=(Cond(field, Op.EQ, value),))

    assert [c.key for c in lic.contracts(VIEWER, where("partner", "Microsoft"))] == ["msdn"]
    assert [p.key for p in lic.pools(VIEWER, where("description", "Office"))] == ["office"]
    assert [x.key for x in lic.licenses(VIEWER, where("contract_key", "msdn"))] == ["m-1", "m-2"]
    assert [x.key for x in lic.licenses(VIEWER, where("kind", "volume"))] == ["m-1"]
    assert [(m.license_key, m.pool_key) for m in lic.pool_members(VIEWER, where("pool_key", "win"))] == [
        ("m-1", "win")
    ]
    assert lic.pool_software(VIEWER, where("name", "Word")) == [PoolSoftware("office", "Word")]
