"""Every fleetdeck user is a person object: created and removed with the user, titled with
the user's name, its person categories read from the user (read-only, never a password), and
found by the CMDB's list, filter and search."""

from __future__ import annotations

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, Role
from tests.dialects.idoit.conftest import Idoit, counting

PERSON = 53


def _person_of(idoit: Idoit, title: str) -> dict[str, object]:
    rows = idoit.ok("cmdb.objects.read", {"filter": {"type": "C__OBJTYPE__PERSON", "title": title}})
    assert len(rows) == 1, rows
    return dict(rows[0])


def test_a_user_is_a_person_object(idoit: Idoit, runtime: Runtime, admin: Actor) -> None:
    user = runtime.services.users.create(
        admin, "jdoe", "jane-password-1", Role.OPERATOR, full_name="Jane Q Doe", email="jane@example.org"
    )
    person = _person_of(idoit, "Jane Q Doe")
    assert person["type"] == PERSON and person["type_title"] == "Persons"
    oid = person["id"]
    master = idoit.ok("cmdb.category.read", {"objID": oid, "category": "C__CATS__PERSON_MASTER"})
    assert len(master) == 1
    assert (master[0]["first_name"], master[0]["last_name"], master[0]["mail"]) == (
        "Jane Q",
        "Doe",
        "jane@example.org",
    )
    login = idoit.ok("cmdb.category.read", {"objID": oid, "category": "C__CATS__PERSON_LOGIN"})[0]
    assert login["title"] == "jdoe" and not login["user_pass"]
    assert "argon2" not in str(login)
    # the user's data, not a copy: a change of the user shows at once
    runtime.services.users.update(admin, user.id, full_name="Jane Roe", email="roe@example.org")
    assert _person_of(idoit, "Jane Roe")["id"] == oid
    again = idoit.ok("cmdb.category.read", {"objID": oid, "category": "C__CATS__PERSON"})[0]
    assert (again["last_name"], again["mail"]) == ("Roe", "roe@example.org")
    # found by search, and in the contact group
    assert any(h["documentId"] == str(oid) for h in idoit.ok("idoit.search", {"q": "Jane Roe"}))
    # read-only here, with the reason
    for method, params in (
        (
            "cmdb.category.save",
            {"object": oid, "category": "C__CATS__PERSON_MASTER", "data": {"last_name": "X"}},
        ),
        ("cmdb.category.save", {"object": oid, "category": "C__CATG__GLOBAL", "data": {"title": "X"}}),
        ("cmdb.object.update", {"id": oid, "title": "X"}),
        ("cmdb.category.quickpurge", {"object": oid, "category": "C__CATS__PERSON_LOGIN"}),
    ):
        err = idoit.error(method, params)
        assert err["code"] == -32099, (method, err)
    # what is not the user's is editable: the general description, mail addresses
    idoit.ok(
        "cmdb.category.save",
        {"object": oid, "category": "C__CATG__GLOBAL", "data": {"description": "desk 9"}},
    )
    idoit.ok("cmdb.object.archive", {"object": oid})
    idoit.ok("cmdb.object.delete", {"object": oid})
    assert "delete the user" in idoit.error("cmdb.object.purge", {"object": oid})["data"]["error"]
    # removed with the user
    runtime.services.users.delete(admin, user.id)
    assert idoit.ok("cmdb.object.read", {"id": oid}) == []


def test_persons_list_in_a_constant_number_of_queries(idoit: Idoit, runtime: Runtime, admin: Actor) -> None:
    def statements() -> int:
        with counting(runtime.db) as seen:
            rows = idoit.ok(
                "cmdb.objects.read", {"filter": {"type": "C__OBJTYPE__PERSON"}, "categories": True}
            )
        assert all(r["categories"]["C__CATS__PERSON"][0]["title"] for r in rows)
        return len([s for s in seen if s.lstrip().upper().startswith("SELECT") and "cmdb_" in s])

    runtime.services.users.create(admin, "u0", "user-password-00", Role.VIEWER)
    few = statements()
    for n in range(1, 12):
        runtime.services.users.create(admin, f"u{n}", f"user-password-{n:02}", Role.VIEWER)
    assert statements() == few
