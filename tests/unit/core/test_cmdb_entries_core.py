"""Core's CMDB category entries (``core.cmdb.service``) called directly: categories by constant
and by id, saving entries (created, updated, single- and multi-value), the normal form every
attribute type's value is stored in and the refusals of ill-typed values, dialog and dialog+
values, linked objects, reading entries back resolved, each save with its audit row. The i-doit
dialect's ``cmdb.category.*`` tests cover the same through JSON-RPC; these are the ones the
mutation subset runs."""

from __future__ import annotations

from typing import Any

import pytest

from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.cmdb.statuses import Op, Status
from fleetdeck.core.cmdb.values import DialogRef, Entry, ObjectRef
from fleetdeck.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from fleetdeck.core.query import Query, SortKey
from fleetdeck.core.services import Services
from tests import factories
from tests.factories import ManualClock, cmdb_entries
from tests.unit.core.conftest import T0

BUILDING, SERVER = 3, 5
CPU, MODEL, CONTACT, LOCATION, IP = (
    "C__CATG__CPU",
    "C__CATG__MODEL",
    "C__CATG__CONTACT",
    "C__CATG__LOCATION",
    "C__CATG__IP",
)
GHZ = DialogRef(3, "GHz", "C__FREQUENCY_UNIT__GHZ")


def titles(svc: Services, actor: Actor, const: str, attribute: str) -> list[tuple[int, str]]:
    return [(i.id, i.title) for i in svc.cmdb.dialog_items(actor, const, attribute)]


def test_categories_are_found_by_constant_and_by_kind_and_id(svc: Services) -> None:
    cpu = svc.cmdb.category(CPU)
    assert (cpu.id, cpu.const, cpu.title, cpu.kind, cpu.multi_value) == (4, CPU, "CPU", "g", True)
    assert svc.cmdb.category_by_id("g", 4) is cpu
    person = svc.cmdb.category_by_id("s", 48)
    assert (person.const, person.kind) == ("C__CATS__PERSON", "s")
    assert svc.cmdb.category_by_id("g", 1).const == "C__CATG__GLOBAL"
    assert svc.cmdb.category_by_id("s", 1).const == "C__CATS__ENCLOSURE"
    with pytest.raises(NotFound) as err:
        svc.cmdb.category("C__CATG__NOPE")
    assert (err.value.message, err.value.object_type, err.value.object_id) == (
        "category C__CATG__NOPE not found",
        "category",
        "C__CATG__NOPE",
    )
    for kind, number, shown in (("g", 999, "g999"), ("s", 4242, "s4242"), ("x", 4, "x4")):
        with pytest.raises(NotFound) as by_id:
            svc.cmdb.category_by_id(kind, number)
        assert (by_id.value.message, by_id.value.object_id) == (f"category {shown} not found", shown)


def test_a_multi_value_entry_is_stored_normalized_read_resolved_and_audited(
    svc: Services, admin: Actor, clock: ManualClock
) -> None:
    oid, _ = svc.cmdb.create(admin, SERVER, "srv")
    operator = factories.user(svc, Role.OPERATOR)
    clock.now = T0.replace(hour=10)
    mark = factories.audit_mark(svc)
    eid = svc.cmdb.save(
        operator,
        oid,
        CPU,
        {
            "title": "Xeon",
            "manufacturer": "intel",
            "type": " Gold 6230 ",
            "frequency": "2.1",
            "frequency_unit": 3,
            "cores": "20",
            "description": 5,
        },
    )
    stored = {
        "title": "Xeon",
        "manufacturer": 2,
        "type": 16,
        "frequency": 2.1,
        "frequency_unit": 3,
        "cores": 20,
        "description": "5",
    }
    assert factories.audited(svc, mark) == [
        (
            "cmdb_entry.save",
            "cmdb_entry",
            str(eid),
            "ok",
            {"object_id": oid, "category": CPU, "entries": [{"entry": eid, "new": stored}]},
        )
    ]
    (entry,) = cmdb_entries(svc, admin, oid, CPU)
    assert entry == Entry(
        eid,
        oid,
        CPU,
        Status.NORMAL,
        {
            "title": "Xeon",
            "manufacturer": DialogRef(2, "Intel", ""),
            "type": DialogRef(16, "Gold 6230", ""),
            "frequency": 2.1,
            "frequency_unit": GHZ,
            "cores": 20,
            "description": "5",
        },
    )
    assert type(entry.values["cores"]) is int and entry.inventory is False
    assert titles(svc, admin, CPU, "type")[-2:] == [(15, "Itanium"), (16, "Gold 6230")]
    got = svc.cmdb.get(admin, oid)
    assert got is not None and (got.updated_at, got.updated_by) == (clock.now, operator.username)

    # with its id, the entry is updated: only the values given, the rest kept
    clock.now = T0.replace(hour=11)
    mark = factories.audit_mark(svc)
    assert svc.cmdb.save(admin, oid, CPU, {"cores": 24, "title": None}, eid) == eid
    assert factories.audited(svc, mark) == [
        (
            "cmdb_entry.save",
            "cmdb_entry",
            str(eid),
            "ok",
            {
                "object_id": oid,
                "category": CPU,
                "entries": [
                    {"entry": eid, "old": {"cores": 20, "title": "Xeon"}, "new": {"cores": 24, "title": None}}
                ],
            },
        )
    ]
    (entry,) = cmdb_entries(svc, admin, oid, CPU)
    assert entry.values == {
        "title": None,
        "manufacturer": DialogRef(2, "Intel", ""),
        "type": DialogRef(16, "Gold 6230", ""),
        "frequency": 2.1,
        "frequency_unit": GHZ,
        "cores": 24,
        "description": "5",
    }
    # without an id, a multi-value category gets a new entry each time, read in id order
    second = svc.cmdb.save(admin, oid, CPU, {"title": "Epyc"})
    third = svc.cmdb.save(admin, oid, CPU, {"title": "Epyc"}, always_new=True)
    assert eid < second < third
    assert [(e.id, e.values["title"], e.values["cores"]) for e in cmdb_entries(svc, admin, oid, CPU)] == [
        (eid, None, 24),
        (second, "Epyc", None),
        (third, "Epyc", None),
    ]


def test_an_entry_id_must_name_an_entry_of_that_object_and_category(svc: Services, admin: Actor) -> None:
    oid, _ = svc.cmdb.create(admin, SERVER, "srv")
    other, _ = svc.cmdb.create(admin, SERVER, "other")
    mine = svc.cmdb.save(admin, oid, CPU, {"title": "a"})
    theirs = svc.cmdb.save(admin, other, CPU, {"title": "b"})
    memory = svc.cmdb.save(admin, oid, "C__CATG__MEMORY", {"capacity": 8})
    mark = factories.audit_mark(svc)
    for entry_id in (theirs, memory, 999_999):
        with pytest.raises(NotFound) as err:
            svc.cmdb.save(admin, oid, CPU, {"title": "x"}, entry_id)
        assert (err.value.message, err.value.object_type, err.value.object_id) == (
            f"entry {entry_id} not found",
            "entry",
            entry_id,
        )
    assert factories.audited(svc, mark) == [
        ("cmdb_entry.save", "cmdb_entry", "", "not_found", {"error": f"entry {i} not found"})
        for i in (theirs, memory, 999_999)
    ]
    assert [(e.id, e.values["title"]) for e in cmdb_entries(svc, admin, oid, CPU)] == [(mine, "a")]
    assert [(e.id, e.values["title"]) for e in cmdb_entries(svc, admin, other, CPU)] == [(theirs, "b")]
    with pytest.raises(NotFound) as missing:
        svc.cmdb.save(admin, 999_999, CPU, {"title": "x"})
    assert missing.value.message == "object 999999 not found"
    with pytest.raises(NotFound) as unknown:
        svc.cmdb.save(admin, oid, "C__CATG__NOPE", {"title": "x"})
    assert unknown.value.message == "category C__CATG__NOPE not found"


def test_a_single_value_category_keeps_one_entry(svc: Services, admin: Actor) -> None:
    oid, _ = svc.cmdb.create(admin, SERVER, "srv")
    other, _ = svc.cmdb.create(admin, SERVER, "other")
    first = svc.cmdb.save(admin, oid, MODEL, {"serial": "A"})
    mark = factories.audit_mark(svc)
    assert svc.cmdb.save(admin, oid, MODEL, {"firmware": "2"}) == first
    assert factories.audited(svc, mark) == [
        (
            "cmdb_entry.save",
            "cmdb_entry",
            str(first),
            "ok",
            {
                "object_id": oid,
                "category": MODEL,
                "entries": [{"entry": first, "old": {"firmware": None}, "new": {"firmware": "2"}}],
            },
        )
    ]
    assert cmdb_entries(svc, admin, oid, MODEL) == [
        Entry(
            first,
            oid,
            MODEL,
            Status.NORMAL,
            {
                "manufacturer": None,
                "title": None,
                "productid": None,
                "service_tag": None,
                "serial": "A",
                "firmware": "2",
                "description": None,
            },
        )
    ]
    # the deprecated create form: a new entry, refused when the object has its one entry
    mark = factories.audit_mark(svc)
    with pytest.raises(Conflict) as err:
        svc.cmdb.save(admin, oid, MODEL, {"serial": "B"}, always_new=True)
    assert (err.value.message, err.value.detail) == (
        f"Model holds one entry and object {oid} has it",
        {"category": MODEL},
    )
    assert factories.audited(svc, mark) == [
        (
            "cmdb_entry.save",
            "cmdb_entry",
            "",
            "conflict",
            {"error": f"Model holds one entry and object {oid} has it"},
        )
    ]
    assert [e.values["serial"] for e in cmdb_entries(svc, admin, oid, MODEL)] == ["A"]
    fresh = svc.cmdb.save(admin, other, MODEL, {"serial": "C"}, always_new=True)
    assert fresh > first
    assert [(e.id, e.values["serial"]) for e in cmdb_entries(svc, admin, other, MODEL)] == [(fresh, "C")]
    # an object created with several rows of a single-value category gets one entry
    made, created = svc.cmdb.create(
        admin, SERVER, "made", categories={MODEL: [{"serial": "X"}, {"firmware": "9"}], CPU: [{}, {}]}
    )
    (one,) = set(created[MODEL])
    assert created[MODEL] == [one, one] and len(set(created[CPU])) == 2
    assert [
        (e.id, e.values["serial"], e.values["firmware"]) for e in cmdb_entries(svc, admin, made, MODEL)
    ] == [(one, "X", "9")]


ACCEPTED: list[tuple[str, str, Any, Any]] = [
    (CPU, "title", 5, "5"),
    (CPU, "title", 1.5, "1.5"),
    (CPU, "title", "", None),
    (CPU, "title", None, None),
    (CPU, "cores", "20", 20),
    (CPU, "cores", " 7 ", 7),
    (CPU, "cores", 3.0, 3),
    (CPU, "cores", "1e1", 10),
    (CPU, "cores", -2, -2),
    (CPU, "cores", 0, 0),
    (CPU, "frequency", "2.5", 2.5),
    (CPU, "frequency", 3, 3.0),
    (CPU, "frequency", 0, 0.0),
    (CPU, "description", "", None),
    (CPU, "frequency_unit", "ghz", 3),
    (CPU, "frequency_unit", " MHz ", 2),
    (CPU, "frequency_unit", "4", 4),
    (CPU, "frequency_unit", 1, 1),
    (CPU, "manufacturer", "AMD", 1),
    (CPU, "manufacturer", 4, 4),
    (CPU, "manufacturer", " 3 ", 3),
    (CONTACT, "primary", "1", 1),
    (CONTACT, "primary", 0, 0),
    (CONTACT, "primary", 7, 7),
    (CONTACT, "contact", "12", 12),
    ("C__CATG__SLA", "monday_time", "60", 60),
    ("C__CATG__ACCOUNTING", "price", "9.99", 9.99),
    ("C__CATG__ACCOUNTING", "acquirementdate", "2026-01-02", "2026-01-02"),
    ("C__CATG__LOGBOOK", "comment", 12, "12"),
]


@pytest.mark.parametrize(("const", "key", "value", "stored"), ACCEPTED)
def test_values_are_stored_in_their_normal_form(
    svc: Services, admin: Actor, const: str, key: str, value: Any, stored: Any
) -> None:
    oid, _ = svc.cmdb.create(admin, SERVER, "srv")
    mark = factories.audit_mark(svc)
    eid = svc.cmdb.save(admin, oid, const, {key: value})
    ((_, _, _, result, detail),) = factories.audited(svc, mark)
    assert (result, detail["entries"]) == ("ok", [{"entry": eid, "new": {key: stored}}])
    (entry,) = cmdb_entries(svc, admin, oid, const)
    shown = entry.values[key]
    raw = shown.id if isinstance(shown, DialogRef) else shown
    assert raw == stored and type(raw) is type(stored)


REFUSED: list[tuple[str, str, Any, str]] = [
    (CPU, "title", True, "True is not a valid value of 'title' (text)"),
    (CPU, "title", {"a": 1}, "{'a': 1} is not a valid value of 'title' (text)"),
    (CPU, "title", ["x"], "['x'] is not a valid value of 'title' (text)"),
    (CPU, "cores", "many", "'many' is not a valid value of 'cores' (int)"),
    (CPU, "cores", 1.5, "1.5 is not a valid value of 'cores' (int)"),
    (CPU, "cores", "1.5", "'1.5' is not a valid value of 'cores' (int)"),
    (CPU, "cores", True, "True is not a valid value of 'cores' (int)"),
    (CPU, "cores", False, "False is not a valid value of 'cores' (int)"),
    (CPU, "cores", [1], "[1] is not a valid value of 'cores' (int)"),
    (CPU, "cores", {"n": 1}, "{'n': 1} is not a valid value of 'cores' (int)"),
    (CPU, "cores", float("inf"), "inf is not a valid value of 'cores' (int)"),
    (CPU, "cores", "nan", "'nan' is not a valid value of 'cores' (int)"),
    (CPU, "cores", object, "<class 'object'> is not a valid value of 'cores' (int)"),
    (CPU, "frequency", "fast", "'fast' is not a valid value of 'frequency' (float)"),
    (CPU, "frequency", float("-inf"), "-inf is not a valid value of 'frequency' (float)"),
    (CPU, "frequency", float("nan"), "nan is not a valid value of 'frequency' (float)"),
    (CPU, "frequency", True, "True is not a valid value of 'frequency' (float)"),
    (CPU, "frequency", [2.0], "[2.0] is not a valid value of 'frequency' (float)"),
    (CPU, "frequency_unit", "Parsec", "'Parsec' is not a valid value of 'frequency_unit' (dialog)"),
    (CPU, "frequency_unit", 99, "99 is not a valid value of 'frequency_unit' (dialog)"),
    (CPU, "frequency_unit", 0, "0 is not a valid value of 'frequency_unit' (dialog)"),
    (CPU, "frequency_unit", [3], "[3] is not a valid value of 'frequency_unit' (dialog)"),
    (CPU, "frequency_unit", " ", "' ' is not a valid value of 'frequency_unit' (dialog)"),
    (CPU, "frequency_unit", True, "True is not a valid value of 'frequency_unit' (dialog)"),
    (CPU, "manufacturer", 99, "99 is not a valid value of 'manufacturer' (dialog_plus)"),
    (CPU, "manufacturer", 2.0, "2.0 is not a valid value of 'manufacturer' (dialog_plus)"),
    (CPU, "manufacturer", ["AMD"], "['AMD'] is not a valid value of 'manufacturer' (dialog_plus)"),
    (CONTACT, "primary", "Yes", "'Yes' is not a valid value of 'primary' (dialog)"),
    (LOCATION, "parent", 0, "0 is not a valid value of 'parent' (object_browser)"),
    (LOCATION, "parent", -1, "-1 is not a valid value of 'parent' (object_browser)"),
    (LOCATION, "parent", "x", "'x' is not a valid value of 'parent' (object_browser)"),
    (LOCATION, "parent", True, "True is not a valid value of 'parent' (object_browser)"),
    (LOCATION, "parent", "X1", "'X1' is not a valid value of 'parent' (object_browser)"),
    (LOCATION, "parent", "1-", "'1-' is not a valid value of 'parent' (object_browser)"),
    (LOCATION, "parent", "--1", "'--1' is not a valid value of 'parent' (object_browser)"),
    (LOCATION, "parent", "²", "'²' is not a valid value of 'parent' (object_browser)"),
    (CPU, "frequency_unit", "--3", "'--3' is not a valid value of 'frequency_unit' (dialog)"),
    (LOCATION, "parent", 1.0, "1.0 is not a valid value of 'parent' (object_browser)"),
    (LOCATION, "parent", [1, 0], "[1, 0] is not a valid value of 'parent' (object_browser)"),
    (IP, "dns_domain", [9], "[9] is not a valid value of 'dns_domain' (multiselect)"),
    (IP, "dns_domain", ["a", ""], "['a', ''] is not a valid value of 'dns_domain' (multiselect)"),
    (IP, "dns_domain", {"a": 1}, "{'a': 1} is not a valid value of 'dns_domain' (multiselect)"),
]


@pytest.mark.parametrize(("const", "key", "value", "message"), REFUSED)
def test_ill_typed_values_are_refused_and_nothing_is_written(
    svc: Services, admin: Actor, const: str, key: str, value: Any, message: str
) -> None:
    oid, _ = svc.cmdb.create(admin, SERVER, "srv")
    before = titles(svc, admin, IP, "dns_domain")
    mark = factories.audit_mark(svc)
    # a valid value and a new dialog+ value before the bad one: all refused together
    with pytest.raises(ValidationFailed) as err:
        svc.cmdb.save(admin, oid, const, {"description": "kept?", key: value})
    assert (err.value.message, err.value.field) == (message, key)
    assert factories.audited(svc, mark) == [
        ("cmdb_entry.save", "cmdb_entry", "", "invalid", {"error": message})
    ]
    assert cmdb_entries(svc, admin, oid, const, None) == []
    assert titles(svc, admin, IP, "dns_domain") == before


def test_unknown_read_only_and_unstored_attributes_are_refused(svc: Services, admin: Actor) -> None:
    oid, _ = svc.cmdb.create(admin, SERVER, "srv")
    cpu_types = titles(svc, admin, CPU, "type")
    cases: list[tuple[str, Any, str, str]] = [
        (CPU, {"unknown": "x"}, "CPU has no attribute 'unknown'", "unknown"),
        (CPU, {"type": "New type", "id": 1}, "CPU has no attribute 'id'", "id"),
        (
            "C__CATG__IDENTIFIER",
            {"last_edited": "2026-01-01"},
            "attribute 'last_edited' of Data Source cannot be written",
            "last_edited",
        ),
        (
            CONTACT,
            {"contact_list": "x"},
            "attribute 'contact_list' of Contact assignment cannot be written",
            "contact_list",
        ),
        (
            CONTACT,
            {"primary_contact": 1},
            "attribute 'primary_contact' of Contact assignment cannot be written",
            "primary_contact",
        ),
        (
            "C__CATG__PASSWD",
            {"password": "s3cret"},
            "attribute 'password' of Passwords cannot be written",
            "password",
        ),
        (LOCATION, {"parent": 424_242}, "object 424242 does not exist", "object"),
        (LOCATION, {"parent": str(oid + 7)}, f"object {oid + 7} does not exist", "object"),
        ("C__CATG__AUDIT", {"involved": [oid, 999_998, 999_997]}, "object 999997 does not exist", "object"),
        (CPU, "x", "data must be an object of attribute values", "data"),
        (CPU, [("title", "x")], "data must be an object of attribute values", "data"),
    ]
    for const, data, message, field in cases:
        with pytest.raises(ValidationFailed) as err:
            svc.cmdb.save(admin, oid, const, data)
        assert (err.value.message, err.value.field) == (message, field)
        assert cmdb_entries(svc, admin, oid, const, None) == []
    assert titles(svc, admin, CPU, "type") == cpu_types
    got = svc.cmdb.get(admin, oid)
    assert got is not None and got.updated_at is None


def test_dialog_plus_and_multiselect_values_are_added_found_and_shown(svc: Services, admin: Actor) -> None:
    oid, _ = svc.cmdb.create(admin, SERVER, "srv")
    mark = factories.audit_mark(svc)
    first = svc.cmdb.save(admin, oid, IP, {"dns_domain": ["a.example", " B.example "]})
    second = svc.cmdb.save(admin, oid, IP, {"dns_domain": ["b.EXAMPLE", 1, "c.example"]})
    third = svc.cmdb.save(admin, oid, IP, {"dns_domain": "a.example"})
    fourth = svc.cmdb.save(admin, oid, IP, {"dns_domain": "3"})
    assert [r[4]["entries"][0]["new"] for r in factories.audited(svc, mark)] == [
        {"dns_domain": [1, 2]},
        {"dns_domain": [2, 1, 3]},
        {"dns_domain": [1]},
        {"dns_domain": [3]},
    ]
    assert titles(svc, admin, IP, "dns_domain") == [(1, "a.example"), (2, "B.example"), (3, "c.example")]
    a, b, c = DialogRef(1, "a.example"), DialogRef(2, "B.example"), DialogRef(3, "c.example")
    assert [(e.id, e.values["dns_domain"]) for e in cmdb_entries(svc, admin, oid, IP)] == [
        (first, [a, b]),
        (second, [b, a, c]),
        (third, [a]),
        (fourth, [c]),
    ]
    # a deleted value no longer shows: a multiselect drops it, a dialog+ shows its bare id
    cpu = svc.cmdb.save(admin, oid, CPU, {"type": "Gold"})
    (entry,) = cmdb_entries(svc, admin, oid, CPU)
    assert entry.values["type"] == DialogRef(16, "Gold")
    svc.cmdb.dialog_change(admin, IP, "dns_domain", item_id=1, delete=True)
    svc.cmdb.dialog_change(admin, CPU, "type", item_id=16, delete=True)
    assert [e.values["dns_domain"] for e in cmdb_entries(svc, admin, oid, IP)] == [[b], [b, c], [], [c]]
    (entry,) = cmdb_entries(svc, admin, oid, CPU)
    assert (entry.id, entry.values["type"]) == (cpu, DialogRef(16, ""))
    # and cannot be chosen again by id; its title makes a new value
    with pytest.raises(ValidationFailed) as err:
        svc.cmdb.save(admin, oid, IP, {"dns_domain": [1]})
    assert err.value.message == "[1] is not a valid value of 'dns_domain' (multiselect)"
    svc.cmdb.save(admin, oid, IP, {"dns_domain": ["a.example"]})
    assert titles(svc, admin, IP, "dns_domain") == [(2, "B.example"), (3, "c.example"), (4, "a.example")]


def test_a_dialog_plus_without_a_table_of_its_own_gets_one(svc: Services, admin: Actor) -> None:
    oid, _ = svc.cmdb.create(admin, "C__OBJTYPE__FILE", "manual.pdf")
    first = svc.cmdb.save(admin, oid, "C__CATS__FILE", {"current_version": "v1", "file_category": "Docs"})
    assert titles(svc, admin, "C__CATS__FILE", "current_version") == [(1, "v1")]
    svc.cmdb.save(admin, oid, "C__CATS__FILE", {"current_version": "V1"}, first)
    (entry,) = cmdb_entries(svc, admin, oid, "C__CATS__FILE")
    assert (entry.id, entry.values["current_version"]) == (first, DialogRef(1, "v1"))
    assert entry.values["file_category"].title == "Docs"
    assert svc.cmdb.save(admin, oid, "C__CATS__FILE", {"current_version": "v2"}, first) == first
    (entry,) = cmdb_entries(svc, admin, oid, "C__CATS__FILE")
    assert entry.values["current_version"] == DialogRef(2, "v2")


def test_yes_no_and_tableless_dialogs_are_shown_by_number(svc: Services, admin: Actor) -> None:
    oid, _ = svc.cmdb.create(admin, SERVER, "srv")
    ids = [svc.cmdb.save(admin, oid, CONTACT, {"primary": v, "role": "Supplier"}) for v in (1, 0, 7)]
    assert [
        (e.id, e.values["primary"], e.values["role"]) for e in cmdb_entries(svc, admin, oid, CONTACT)
    ] == [
        (ids[0], DialogRef(1, "Yes"), DialogRef(3, "Supplier", "C__CONTACT_TYPE__SUPPLIER")),
        (ids[1], DialogRef(0, "No"), DialogRef(3, "Supplier", "C__CONTACT_TYPE__SUPPLIER")),
        (ids[2], DialogRef(7, ""), DialogRef(3, "Supplier", "C__CONTACT_TYPE__SUPPLIER")),
    ]
    (entry,) = cmdb_entries(svc, admin, oid, CONTACT)[:1]
    assert list(entry.values) == ["contact", "contact_object", "primary", "role", "description"]
    # a dialog with a table of its own shows the table's title, also for 0 and 1
    svc.cmdb.save(admin, oid, LOCATION, {"option": 1, "insertion": 0})
    (location,) = cmdb_entries(svc, admin, oid, LOCATION)
    assert (location.values["option"], location.values["insertion"]) == (
        DialogRef(1, "Yes"),
        DialogRef(0, "No"),
    )
    svc.cmdb.save(admin, oid, "C__CATG__FORMFACTOR", {"unit": 1})
    (form,) = cmdb_entries(svc, admin, oid, "C__CATG__FORMFACTOR")
    assert form.values["unit"] == DialogRef(1, "mm", "C__DEPTH_UNIT__MM")


def test_linked_objects_are_shown_with_their_title_and_type(svc: Services, admin: Actor) -> None:
    oid, _ = svc.cmdb.create(admin, SERVER, "srv")
    room, _ = svc.cmdb.create(admin, BUILDING, "Room 1", sysid="R-1")
    pc = factories.computer(svc, admin, "pc-7")
    pc_obj = svc.cmdb.object_of_computer(admin, pc)
    assert pc_obj is not None
    svc.cmdb.save(admin, oid, LOCATION, {"parent": str(room)})
    audit = svc.cmdb.save(admin, oid, "C__CATG__AUDIT", {"involved": [pc_obj, str(room)], "title": "a"})
    empty = svc.cmdb.save(admin, oid, "C__CATG__AUDIT", {"title": "none"})
    (location,) = cmdb_entries(svc, admin, oid, LOCATION)
    room_ref = ObjectRef(room, "Room 1", "R-1", "C__OBJTYPE__BUILDING", "Building")
    pc_ref = ObjectRef(pc_obj, "pc-7", f"SYSID_{pc_obj}", "C__OBJTYPE__CLIENT", "Client")
    assert location.values["parent"] == room_ref
    assert [(e.id, e.values["involved"]) for e in cmdb_entries(svc, admin, oid, "C__CATG__AUDIT")] == [
        (audit, [pc_ref, room_ref]),
        (empty, None),
    ]
    # the first object of all (id 1) is linked like any other
    (first,) = svc.cmdb.find(admin, Query(sort=(SortKey("id"),), limit=1))
    lowest = svc.cmdb.save(admin, room, LOCATION, {"parent": first.id})
    (entry,) = cmdb_entries(svc, admin, room, LOCATION)
    assert (entry.id, entry.values["parent"].id, entry.values["parent"].title) == (
        lowest,
        first.id,
        first.title,
    )
    # both categories of both objects in one read
    both = svc.cmdb.entries(admin, [oid, room], [LOCATION, "C__CATG__AUDIT"])
    assert both[oid][LOCATION] == [location]
    assert both[room] == {LOCATION: cmdb_entries(svc, admin, room, LOCATION), "C__CATG__AUDIT": []}
    # a purged object stays linked by its id, without a title
    svc.cmdb.change_status(admin, room, Op.PURGE)
    (location,) = cmdb_entries(svc, admin, oid, LOCATION)
    assert location.values["parent"] == ObjectRef(room, "")
    assert cmdb_entries(svc, admin, oid, "C__CATG__AUDIT")[0].values["involved"] == [
        pc_ref,
        ObjectRef(room, ""),
    ]


def test_entries_reads_objects_categories_and_statuses_as_asked(svc: Services, admin: Actor) -> None:
    a, _ = svc.cmdb.create(admin, BUILDING, "a")
    b, _ = svc.cmdb.create(admin, BUILDING, "b")
    kept = svc.cmdb.save(admin, a, CONTACT, {"contact": 1})
    gone = svc.cmdb.save(admin, a, CONTACT, {"contact": 2})
    svc.cmdb.entry_status(admin, a, CONTACT, gone, Op.ARCHIVE)
    out = svc.cmdb.entries(admin, [b, 999_999, b, a], [CONTACT])
    assert list(out) == [b, 999_999, a]
    assert out[b] == {CONTACT: []} and out[999_999] == {}
    assert [e.id for e in out[a][CONTACT]] == [kept]
    assert [(e.id, e.status) for e in cmdb_entries(svc, admin, a, CONTACT, None)] == [
        (kept, Status.NORMAL),
        (gone, Status.ARCHIVED),
    ]
    assert [(e.id, e.status) for e in cmdb_entries(svc, admin, a, CONTACT, Status.ARCHIVED)] == [
        (gone, Status.ARCHIVED)
    ]
    assert cmdb_entries(svc, admin, a, CONTACT, Status.DELETED) == []
    # every category of the object's type that has attributes, the general one first
    everything = svc.cmdb.entries(admin, [a], None)[a]
    assert list(everything) == [
        "C__CATG__GLOBAL",
        "C__CATG__EMERGENCY_PLAN",
        "C__CATG__FILE",
        "C__CATG__CONTACT",
        "C__CATG__LOGBOOK",
        "C__CATG__LOCATION",
        "C__CATG__IMAGE",
        "C__CATG__OBJECT",
        "C__CATG__ACCOUNTING",
        "C__CATG__IT_SERVICE",
        "C__CATG__RELATION",
        "C__CATG__ADDRESS",
    ]
    assert [e.id for e in everything[CONTACT]] == [kept]
    assert [e.id for e in everything["C__CATG__GLOBAL"]] == [a]
    assert everything[LOCATION] == []
    assert svc.cmdb.entries(admin, [], None) == {}
    assert svc.cmdb.entries(admin, [999_999], None) == {999_999: {}}
    with pytest.raises(NotFound) as err:
        svc.cmdb.entries(admin, [a], [CONTACT, "C__CATG__NOPE"])
    assert err.value.message == "category C__CATG__NOPE not found"
    viewer = factories.user(svc, Role.VIEWER)
    assert [e.id for e in cmdb_entries(svc, viewer, a, CONTACT)] == [kept]
    end_user = Actor(user_id=None, username="eu", role=Role.END_USER)
    with pytest.raises(PermissionDenied):
        svc.cmdb.entries(end_user, [a], [CONTACT])


def test_saving_needs_the_right_to_manage_and_a_refusal_writes_nothing(svc: Services, admin: Actor) -> None:
    oid, _ = svc.cmdb.create(admin, SERVER, "srv")
    viewer = factories.user(svc, Role.VIEWER)
    mark = factories.audit_mark(svc)
    with pytest.raises(PermissionDenied):
        svc.cmdb.save(viewer, oid, CPU, {"type": "Brand new"})
    assert [(r[0], r[1], r[3]) for r in factories.audited(svc, mark)] == [
        ("cmdb_entry.save", "cmdb_entry", "denied")
    ]
    assert cmdb_entries(svc, admin, oid, CPU) == []
    assert (16, "Brand new") not in titles(svc, admin, CPU, "type")
    operator = factories.user(svc, Role.OPERATOR)
    eid = svc.cmdb.save(operator, oid, CPU, {"type": "Brand new"})
    assert [(e.id, e.values["type"]) for e in cmdb_entries(svc, viewer, oid, CPU)] == [
        (eid, DialogRef(16, "Brand new"))
    ]


def test_only_dialog_attributes_have_dialog_values(svc: Services, admin: Actor) -> None:
    for const, attribute in ((CPU, "cores"), (CPU, "nope"), (CONTACT, "contact_list"), (LOCATION, "parent")):
        with pytest.raises(ValidationFailed) as err:
            svc.cmdb.dialog_items(admin, const, attribute)
        title = svc.cmdb.category(const).title
        assert (err.value.message, err.value.field) == (
            f"{title} has no dialog attribute {attribute!r}",
            "property",
        )
    assert [i.title for i in svc.cmdb.dialog_items(admin, CPU, "frequency_unit")] == [
        "KHz",
        "MHz",
        "GHz",
        "THz",
    ]
    assert [i.id for i in svc.cmdb.dialog_items(admin, CPU, "manufacturer")] == [1, 2, 3, 4]
    assert svc.cmdb.dialog_items(admin, IP, "dns_domain") == []
    with pytest.raises(NotFound) as unknown:
        svc.cmdb.dialog_items(admin, "C__CATG__NOPE", "x")
    assert unknown.value.message == "category C__CATG__NOPE not found"
