"""Core's CMDB dialog tables called directly: ``CmdbService.dialog_items`` and
``dialog_change`` (adding, renaming and deleting values of dialog+ tables, their ids, audit rows
and refusals), the ``Dialogs`` view of built-in values with stored changes, ``dialog_table``, and
the catalog's small rules (``Attribute.writable``, ``editable_dialog``, ``categories_of``,
``CmdbService.object_types``) and the person categories (``core.cmdb.persons``). The i-doit
dialect's tests cover the same through JSON-RPC; these are the ones the mutation subset runs."""

from __future__ import annotations

from typing import Any

import pytest

from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.cmdb import persons
from fleetdeck.core.cmdb.catalog import WRITABLE_TYPES, Attribute, DialogItem, catalog
from fleetdeck.core.cmdb.service import Dialogs, dialog_table
from fleetdeck.core.cmdb.values import DialogRef, Entry
from fleetdeck.core.errors import Conflict, FleetdeckError, NotFound, PermissionDenied, ValidationFailed
from fleetdeck.core.services import Services
from fleetdeck.storage.tables import CmdbDialogItem, User
from tests import factories

GLOBAL = "C__CATG__GLOBAL"
PURPOSES = [
    DialogItem(1, "Production"),
    DialogItem(2, "Quality Assurance"),
    DialogItem(3, "Test"),
]


def test_a_dialog_tables_values_are_read_in_id_order(svc: Services, admin: Actor) -> None:
    viewer = factories.user(svc, Role.VIEWER)
    assert svc.cmdb.dialog_items(viewer, GLOBAL, "purpose") == PURPOSES
    assert svc.cmdb.dialog_items(admin, GLOBAL, "category") == [
        DialogItem(1, "Other", "C__GLOBAL_CATEGORY__OTHER")
    ]
    assert svc.cmdb.dialog_items(admin, GLOBAL, "tag") == []  # a multiselect's table, empty
    units = svc.cmdb.dialog_items(admin, "C__CATG__FORMFACTOR", "unit")  # a plain dialog
    assert [i.id for i in units] == sorted(i.id for i in units) and len(units) == 6
    relation_types = svc.cmdb.dialog_items(admin, "C__CATG__RELATION", "relation_type")
    assert (len(relation_types), relation_types[0], relation_types[-1].id) == (
        51,
        DialogItem(1, "Software assignment", "C__RELATION_TYPE__SOFTWARE"),
        52,
    )
    for category, attribute, message in [
        (GLOBAL, "title", "General has no dialog attribute 'title'"),
        (GLOBAL, "nope", "General has no dialog attribute 'nope'"),
        ("C__CATG__MODEL", "serial", "Model has no dialog attribute 'serial'"),
    ]:
        with pytest.raises(ValidationFailed) as err:
            svc.cmdb.dialog_items(admin, category, attribute)
        assert (err.value.message, err.value.field) == (message, "property")
    with pytest.raises(NotFound) as missing:
        svc.cmdb.dialog_items(admin, "C__CATG__NOPE", "x")
    assert missing.value.message == "category C__CATG__NOPE not found"
    end_user = Actor(user_id=None, username="eu", role=Role.END_USER)
    with pytest.raises(PermissionDenied) as denied:
        svc.cmdb.dialog_items(end_user, GLOBAL, "purpose")
    assert denied.value.message == "eu (end_user) lacks permission read"


def test_values_are_added_to_a_dialog_plus_table_with_the_next_id(svc: Services, admin: Actor) -> None:
    operator = factories.user(svc, Role.OPERATOR)
    mark = factories.audit_mark(svc)
    assert svc.cmdb.dialog_change(operator, GLOBAL, "purpose", title=" Staging ") == 4
    assert svc.cmdb.dialog_change(admin, GLOBAL, "purpose", title="Lab", parent="2") == 5
    assert svc.cmdb.dialog_change(admin, GLOBAL, "purpose", title="Spare", parent=1) == 6
    assert svc.cmdb.dialog_change(admin, GLOBAL, "purpose", title="Edge", parent="") == 7
    assert svc.cmdb.dialog_items(admin, GLOBAL, "purpose") == [
        *PURPOSES,
        DialogItem(4, "Staging"),
        DialogItem(5, "Lab", "", 2),
        DialogItem(6, "Spare", "", 1),
        DialogItem(7, "Edge"),
    ]
    assert factories.audited(svc, mark) == [
        (
            "cmdb_dialog.create",
            "cmdb_dialog",
            "4",
            "ok",
            {"table": "isys_purpose", "new": {"title": "Staging"}},
        ),
        ("cmdb_dialog.create", "cmdb_dialog", "5", "ok", {"table": "isys_purpose", "new": {"title": "Lab"}}),
        (
            "cmdb_dialog.create",
            "cmdb_dialog",
            "6",
            "ok",
            {"table": "isys_purpose", "new": {"title": "Spare"}},
        ),
        ("cmdb_dialog.create", "cmdb_dialog", "7", "ok", {"table": "isys_purpose", "new": {"title": "Edge"}}),
    ]
    assert factories.audit_since(svc, mark)[0].username == operator.username
    # an empty table starts at 1; each table counts its own ids
    assert svc.cmdb.dialog_change(admin, GLOBAL, "tag", title="red") == 1
    assert svc.cmdb.dialog_change(admin, GLOBAL, "tag", title="blue") == 2
    assert svc.cmdb.dialog_items(admin, GLOBAL, "tag") == [DialogItem(1, "red"), DialogItem(2, "blue")]
    assert svc.cmdb.dialog_change(admin, "C__CATG__RELATION", "relation_type", title="Feeds") == 53
    # a dialog+ attribute without a named table has a table of its own
    assert svc.cmdb.dialog_change(admin, "C__CATS__FILE", "current_version", title="v1") == 1
    assert svc.cmdb.dialog_items(admin, "C__CATS__FILE", "current_version") == [DialogItem(1, "v1")]
    assert svc.cmdb.dialog_items(admin, "C__CATS__FILE_ACTUAL", "current_version") == []
    assert factories.audit_since(svc, mark)[-1].detail == {
        "table": "C__CATS__FILE.current_version",
        "new": {"title": "v1"},
    }


def test_values_are_renamed_and_deleted_built_in_or_added(svc: Services, admin: Actor) -> None:
    added = svc.cmdb.dialog_change(admin, GLOBAL, "purpose", title="Staging")
    mark = factories.audit_mark(svc)
    assert svc.cmdb.dialog_change(admin, GLOBAL, "purpose", item_id=1, title=" Live ") == 1
    assert svc.cmdb.dialog_change(admin, GLOBAL, "purpose", item_id=3, title="Testing", parent="1") == 3
    assert svc.cmdb.dialog_change(admin, GLOBAL, "purpose", item_id=added, title="Stage") == added
    assert svc.cmdb.dialog_change(admin, GLOBAL, "category", item_id=1, title="Misc") == 1
    assert svc.cmdb.dialog_change(admin, GLOBAL, "purpose", item_id=2, delete=True) == 2
    assert svc.cmdb.dialog_items(admin, GLOBAL, "purpose") == [
        DialogItem(1, "Live"),
        DialogItem(3, "Testing", "", 1),
        DialogItem(added, "Stage"),
    ]
    # a renamed built-in value keeps its constant
    assert svc.cmdb.dialog_items(admin, GLOBAL, "category") == [
        DialogItem(1, "Misc", "C__GLOBAL_CATEGORY__OTHER")
    ]
    # renamed again without a parent: the parent stays
    svc.cmdb.dialog_change(admin, GLOBAL, "purpose", item_id=3, title="QA")
    assert svc.cmdb.dialog_items(admin, GLOBAL, "purpose")[1] == DialogItem(3, "QA", "", 1)
    table = "isys_purpose"
    assert factories.audited(svc, mark) == [
        (
            "cmdb_dialog.update",
            "cmdb_dialog",
            "1",
            "ok",
            {"table": table, "old": {"title": "Production"}, "new": {"title": "Live"}},
        ),
        (
            "cmdb_dialog.update",
            "cmdb_dialog",
            "3",
            "ok",
            {"table": table, "old": {"title": "Test"}, "new": {"title": "Testing"}},
        ),
        (
            "cmdb_dialog.update",
            "cmdb_dialog",
            str(added),
            "ok",
            {"table": table, "old": {"title": "Staging"}, "new": {"title": "Stage"}},
        ),
        (
            "cmdb_dialog.update",
            "cmdb_dialog",
            "1",
            "ok",
            {"table": "isys_catg_global_category", "old": {"title": "Other"}, "new": {"title": "Misc"}},
        ),
        (
            "cmdb_dialog.delete",
            "cmdb_dialog",
            "2",
            "ok",
            {"table": table, "old": {"title": "Quality Assurance"}},
        ),
        (
            "cmdb_dialog.update",
            "cmdb_dialog",
            "3",
            "ok",
            {"table": table, "old": {"title": "Testing"}, "new": {"title": "QA"}},
        ),
    ]
    # a deleted value is gone for good; the ids of deleted values are not given again
    mark = factories.audit_mark(svc)
    for item_id in (2, 99):
        with pytest.raises(NotFound) as missing:
            svc.cmdb.dialog_change(admin, GLOBAL, "purpose", item_id=item_id, title="x")
        assert missing.value.message == f"dialog value {item_id} not found"
    assert svc.cmdb.dialog_change(admin, GLOBAL, "purpose", item_id=added, delete=True) == added
    assert svc.cmdb.dialog_change(admin, GLOBAL, "purpose", title="Next") == added + 1
    assert factories.audited(svc, mark)[:2] == [
        ("cmdb_dialog.update", "cmdb_dialog", "2", "not_found", {"error": "dialog value 2 not found"}),
        ("cmdb_dialog.update", "cmdb_dialog", "99", "not_found", {"error": "dialog value 99 not found"}),
    ]
    assert [i.id for i in svc.cmdb.dialog_items(admin, GLOBAL, "purpose")] == [1, 3, added + 1]


def test_changing_a_dialog_table_is_refused_with_the_reason_and_writes_nothing(
    svc: Services, admin: Actor
) -> None:
    viewer = factories.user(svc, Role.VIEWER)
    mark = factories.audit_mark(svc)
    with pytest.raises(PermissionDenied) as denied:
        svc.cmdb.dialog_change(viewer, GLOBAL, "purpose", title="x")
    assert denied.value.message == f"{viewer.username} (viewer) lacks permission manage_computers"
    with pytest.raises(PermissionDenied):
        svc.cmdb.dialog_change(viewer, GLOBAL, "purpose", item_id=1, delete=True)
    refusals: list[tuple[dict[str, Any], type[FleetdeckError], str, str]] = [
        ({"title": "mm"}, Conflict, "the values of Dimension unit (Form factor) are fixed", "property"),
        ({"title": ""}, ValidationFailed, "value must not be empty", "value"),
        ({"title": "  "}, ValidationFailed, "value must not be empty", "value"),
        ({"item_id": 1, "title": None}, ValidationFailed, "value must not be empty", "value"),
        ({"title": "x", "parent": "one"}, ValidationFailed, "unknown parent 'one'", "parent"),
        ({"title": "x", "parent": True}, ValidationFailed, "unknown parent True", "parent"),
    ]
    for kwargs, kind, message, field in refusals:
        category, attribute = ("C__CATG__FORMFACTOR", "unit") if kind is Conflict else (GLOBAL, "purpose")
        with pytest.raises(kind) as err:
            svc.cmdb.dialog_change(admin, category, attribute, **kwargs)
        assert (err.value.message, err.value.detail) == (message, {"field": field})
    with pytest.raises(Conflict) as fixed:
        svc.cmdb.dialog_change(admin, "C__CATG__FORMFACTOR", "unit", item_id=1, delete=True)
    assert fixed.value.message == "the values of Dimension unit (Form factor) are fixed"
    with pytest.raises(ValidationFailed) as not_dialog:
        svc.cmdb.dialog_change(admin, GLOBAL, "title", title="x")
    assert (not_dialog.value.message, not_dialog.value.field) == (
        "General has no dialog attribute 'title'",
        "property",
    )
    assert [(r[0], r[2], r[3]) for r in factories.audited(svc, mark)] == [
        ("cmdb_dialog.create", "", "denied"),
        ("cmdb_dialog.delete", "1", "denied"),
        ("cmdb_dialog.create", "", "conflict"),
        ("cmdb_dialog.create", "", "invalid"),
        ("cmdb_dialog.create", "", "invalid"),
        ("cmdb_dialog.update", "1", "invalid"),
        ("cmdb_dialog.create", "", "invalid"),
        ("cmdb_dialog.create", "", "invalid"),
        ("cmdb_dialog.delete", "1", "conflict"),
    ]
    assert svc.cmdb.dialog_items(admin, GLOBAL, "purpose") == PURPOSES
    assert len(svc.cmdb.dialog_items(admin, "C__CATG__FORMFACTOR", "unit")) == 6
    assert svc.cmdb.dialog_change(admin, GLOBAL, "purpose", title="first") == 4


def _change(table: str, item_id: int, title: str, *, deleted: bool = False, parent: int | None = None) -> Any:
    return CmdbDialogItem(
        table_name=table, item_id=item_id, title=title, const="", parent_item_id=parent, deleted=deleted
    )


def test_the_dialogs_view_merges_built_in_values_and_changes() -> None:
    dialogs = Dialogs(
        [
            _change("isys_purpose", 1, "Live"),
            _change("isys_purpose", 2, "", deleted=True),
            _change("isys_purpose", 9, "Lab", parent=3),
            _change("isys_purpose", 7, "Gone", deleted=True),
            _change("custom", 4, "Four"),
        ]
    )
    assert dialogs.items("isys_purpose") == [
        DialogItem(1, "Live"),
        DialogItem(3, "Test"),
        DialogItem(9, "Lab", "", 3),
    ]
    assert dialogs.items("custom") == [DialogItem(4, "Four")]
    assert dialogs.items("nothing") == []
    assert dialogs.get("isys_purpose", 1) == DialogItem(1, "Live")
    assert dialogs.get("isys_purpose", 2) is None
    assert dialogs.get("isys_purpose", 3) == DialogItem(3, "Test")
    assert dialogs.get("isys_purpose", 7) is None
    assert dialogs.get("isys_purpose", 8) is None
    assert dialogs.get("isys_purpose", 9) == DialogItem(9, "Lab", "", 3)
    assert dialogs.get("isys_catg_global_category", 1) == DialogItem(1, "Other", "C__GLOBAL_CATEGORY__OTHER")
    assert dialogs.get("nothing", 1) is None
    assert dialogs.by_title("isys_purpose", " LIVE ") == DialogItem(1, "Live")
    assert dialogs.by_title("isys_purpose", "test") == DialogItem(3, "Test")
    assert dialogs.by_title("isys_purpose", "Production") is None  # renamed
    assert dialogs.by_title("isys_purpose", "Quality Assurance") is None  # deleted
    assert dialogs.by_title("isys_purpose", "Gone") is None
    assert dialogs.by_title("isys_purpose", "La") is None
    assert dialogs.by_title("nothing", "x") is None
    # the next id is above every id ever used, deleted ones included
    assert dialogs.next_id("isys_purpose") == 10
    assert dialogs.next_id("custom") == 5
    assert dialogs.next_id("nothing") == 1
    assert dialogs.next_id("isys_catg_global_category") == 2
    assert Dialogs([_change("t", 3, "a"), _change("t", 3, "b")]).items("t") == [DialogItem(3, "b")]
    same_title = Dialogs([_change("t", 2, "Dup"), _change("t", 1, "dup")])
    assert same_title.by_title("t", "DUP") == DialogItem(1, "dup")  # the lowest id first


def test_dialog_table_is_the_named_one_or_the_attributes_own() -> None:
    cats = catalog().categories
    general, relation, file = cats[GLOBAL], cats["C__CATG__RELATION"], cats["C__CATS__FILE"]
    assert dialog_table(general, general.attributes["purpose"]) == "isys_purpose"
    assert dialog_table(relation, relation.attributes["relation_type"]) == "isys_relation_type"
    assert dialog_table(file, file.attributes["current_version"]) == "C__CATS__FILE.current_version"


def test_which_attributes_are_writable_and_which_dialogs_editable() -> None:
    for t in sorted(WRITABLE_TYPES):
        assert Attribute("k", t, "K").writable, t
        assert not Attribute("k", t, "K", readonly=True).writable, t
        assert not Attribute("k", t, "K", virtual=True).writable, t
    assert {
        "text",
        "commentary",
        "textarea",
        "date",
        "datetime",
        "int",
        "timeperiod",
        "float",
        "double",
        "money",
        "dialog",
        "dialog_plus",
        "object_browser",
        "multiselect",
    } == WRITABLE_TYPES
    for t in ("virtual", "dialog_list", "upload", "password", ""):
        assert not Attribute("k", t, "K").writable, t
    editable = {
        t for t in (*WRITABLE_TYPES, "dialog_list", "upload") if Attribute("k", t, "K").editable_dialog
    }
    assert editable == {"dialog_plus", "multiselect"}
    general = catalog().categories[GLOBAL].attributes
    assert [k for k, a in general.items() if a.writable] == [
        "title",
        "purpose",
        "category",
        "sysid",
        "tag",
        "description",
    ]
    assert [k for k, a in general.items() if a.editable_dialog] == ["purpose", "category", "tag"]


def test_an_object_types_categories_are_its_global_then_specific_ones(svc: Services) -> None:
    cat = catalog()
    assert [c.const for c in cat.categories_of("C__OBJTYPE__BUILDING")] == [
        "C__CATG__GLOBAL",
        "C__CATG__EMERGENCY_PLAN",
        "C__CATG__FILE",
        "C__CATG__CONTACT",
        "C__CATG__LOGBOOK",
        "C__CATG__LOCATION",
        "C__CATG__IMAGE",
        "C__CATG__OVERVIEW",
        "C__CATG__OBJECT",
        "C__CATG__ACCOUNTING",
        "C__CATG__IT_SERVICE",
        "C__CATG__RELATION",
        "C__CATG__PLANNING",
        "C__CATG__VIRTUAL_AUTH",
        "C__CATG__ADDRESS",
    ]
    person = [(c.const, c.kind) for c in cat.categories_of("C__OBJTYPE__PERSON")]
    assert person[0] == (GLOBAL, "g") and person[-1] == ("C__CATS__PERSON", "s")
    assert [k for _, k in person] == ["g"] * (len(person) - 1) + ["s"]
    assert cat.categories_of("C__OBJTYPE__NOPE") == []
    assert cat.categories_of("") == []
    types = svc.cmdb.object_types()
    assert [t.id for t in types] == sorted(cat.types_by_id)
    assert len(types) == len(cat.types_by_id) and len({t.id for t in types}) == len(types)
    assert (types[0].id, types[0].const) == (1, "C__OBJTYPE__SERVICE")
    assert types[2].const == "C__OBJTYPE__BUILDING"


def _user(full_name: str, *, email: str = "", disabled: bool = False) -> User:
    return User(username="jdoe", full_name=full_name, email=email, disabled=disabled, password_hash="x")


def test_a_persons_categories_come_from_the_user() -> None:
    jane = _user("Jane  van Doe", email="jane@example.org")
    assert persons.render(persons.PERSON, 40, jane) == Entry(
        40,
        40,
        persons.PERSON,
        2,
        {"title": "Jane  van Doe", "first_name": "Jane van", "last_name": "Doe", "mail": "jane@example.org"},
        inventory=True,
    )
    master = persons.render(persons.PERSON_MASTER, 41, _user("Cher"))
    assert (master.id, master.object_id, master.category, master.status, master.inventory) == (
        41,
        41,
        persons.PERSON_MASTER,
        2,
        True,
    )
    assert master.values == {"title": "Cher", "first_name": None, "last_name": "Cher", "mail": None}
    nameless = persons.render(persons.PERSON, 42, _user("  "))
    assert nameless.values == {"title": "  ", "first_name": None, "last_name": None, "mail": None}
    unnamed = persons.render(persons.PERSON, 42, _user(""))
    assert unnamed.values == {"title": "jdoe", "first_name": None, "last_name": None, "mail": None}
    login = persons.render(persons.PERSON_LOGIN, 43, _user("Jane Doe", disabled=True))
    assert login == Entry(
        43,
        43,
        persons.PERSON_LOGIN,
        2,
        {"disabled_login": DialogRef(1, "Yes"), "title": "jdoe", "user_pass": None, "description": None},
        inventory=True,
    )
    enabled = persons.render(persons.PERSON_LOGIN, 43, _user("Jane Doe"))
    assert enabled.values["disabled_login"] == DialogRef(0, "No")
    assert {
        "C__CATS__PERSON",
        "C__CATS__PERSON_MASTER",
        "C__CATS__PERSON_LOGIN",
    } == persons.PERSON_CATEGORIES
