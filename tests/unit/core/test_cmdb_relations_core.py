"""Core's CMDB relations (``CmdbService.relation_type`` and ``relations``) called directly:
relation types by id, constant or added dialog+ value, and the relations an object takes part
in as master or slave, with their phrases, filters (type, record status), order and what is
left out (a side purged, an entry naming other objects, no slave). The i-doit dialect's
``cmdb.objects_by_relation.read`` tests cover the same through JSON-RPC; these are the ones
the mutation subset runs."""

from __future__ import annotations

from typing import Any

import pytest

from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.cmdb.statuses import Op, Status
from fleetdeck.core.errors import NotFound, PermissionDenied, ValidationFailed
from fleetdeck.core.services import Services
from tests import factories

RELATION = "C__CATG__RELATION"
SOFTWARE, BACKUP, USER = 1, 3, 5


def relate(svc: Services, admin: Actor, on: int, data: dict[str, Any]) -> int:
    return svc.cmdb.save(admin, on, RELATION, data)


def test_a_relation_type_is_found_by_id_constant_or_added_value(svc: Services, admin: Actor) -> None:
    assert svc.cmdb.relation_type(SOFTWARE) == SOFTWARE
    assert svc.cmdb.relation_type("C__RELATION_TYPE__BACKUP") == BACKUP
    assert svc.cmdb.relation_type("5") == USER
    assert svc.cmdb.relation_type(52) == 52
    assert svc.cmdb.relation_type(" 4 ") == 4  # not a catalog id as text: found in the dialog table
    refused: list[tuple[int | str, str]] = [
        (36, "unknown relation type 36"),  # the default set has no 36
        (53, "unknown relation type 53"),
        ("53", "unknown relation type '53'"),
        ("C__RELATION_TYPE__NOPE", "unknown relation type 'C__RELATION_TYPE__NOPE'"),
        ("", "unknown relation type ''"),
        (0, "unknown relation type 0"),
    ]
    for ref, message in refused:
        with pytest.raises(ValidationFailed) as err:
            svc.cmdb.relation_type(ref)
        assert (err.value.message, err.value.field) == (message, "relation_type")
    added = svc.cmdb.dialog_change(admin, RELATION, "relation_type", title="Feeds")
    assert added == 53
    assert svc.cmdb.relation_type(53) == 53
    assert svc.cmdb.relation_type("53") == 53
    assert svc.cmdb.relation_type(" 53") == 53
    svc.cmdb.dialog_change(admin, RELATION, "relation_type", item_id=53, delete=True)
    with pytest.raises(ValidationFailed) as gone:
        svc.cmdb.relation_type(53)
    assert gone.value.message == "unknown relation type 53"


def test_an_objects_relations_from_both_sides_with_their_phrases(svc: Services, admin: Actor) -> None:
    server, _ = svc.cmdb.create(admin, "C__OBJTYPE__SERVER", "db01")
    app, _ = svc.cmdb.create(admin, "C__OBJTYPE__APPLICATION", "PostgreSQL")
    person, _ = svc.cmdb.create(admin, "C__OBJTYPE__PERSON", "Jane Doe")
    other, _ = svc.cmdb.create(admin, "C__OBJTYPE__SERVER", "web9")
    runs = relate(svc, admin, server, {"object2": app, "relation_type": SOFTWARE})  # object1: server
    uses = relate(svc, admin, person, {"object1": server, "object2": person, "relation_type": USER})
    backs = relate(svc, admin, other, {"object1": app, "object2": other, "relation_type": BACKUP})
    # stored on the server but between two other objects: not the server's relation
    elsewhere = relate(svc, admin, server, {"object1": app, "object2": person, "relation_type": SOFTWARE})
    relate(svc, admin, server, {"relation_type": SOFTWARE})  # no slave: no relation
    unrelated = relate(svc, admin, other, {"object1": other, "object2": person})

    def info(oid: int) -> Any:
        got = svc.cmdb.get(admin, oid)
        assert got is not None
        return got

    found = svc.cmdb.relations(admin, server)
    assert [r.id for r in found] == [runs, uses]
    run, use = found
    assert (run.status, run.master, run.slave, run.type_id, run.type_const, run.type_title) == (
        Status.NORMAL,
        info(server),
        info(app),
        SOFTWARE,
        "C__RELATION_TYPE__SOFTWARE",
        "Software assignment",
    )
    assert (run.master_phrase, run.slave_phrase) == ("is running", "runs on")
    assert (use.master, use.slave, use.type_id, use.type_const, use.type_title) == (
        info(server),
        info(person),
        USER,
        "C__RELATION_TYPE__USER",
        "Contact assignment",
    )
    assert (use.master_phrase, use.slave_phrase) == ("is used by", "uses")
    # the application: slave of the one stored on the server, master of one stored elsewhere
    of_app = svc.cmdb.relations(admin, app)
    assert [(r.id, r.master.id, r.slave.id) for r in of_app] == [
        (runs, server, app),
        (backs, app, other),
        (elsewhere, app, person),
    ]
    assert (of_app[1].type_id, of_app[1].master_phrase, of_app[1].slave_phrase) == (
        BACKUP,
        "saves",
        "saved by",
    )
    assert [r.id for r in svc.cmdb.relations(admin, person)] == [uses, elsewhere, unrelated]
    assert [r.id for r in svc.cmdb.relations(admin, other)] == [backs, unrelated]
    untyped = svc.cmdb.relations(admin, other)[1]
    assert (
        untyped.type_id,
        untyped.type_const,
        untyped.type_title,
        untyped.master_phrase,
        untyped.slave_phrase,
    ) == (None, "", "", "is related to", "is related to")
    lonely, _ = svc.cmdb.create(admin, "C__OBJTYPE__SERVER", "alone")
    assert svc.cmdb.relations(admin, lonely) == []


def test_relations_are_filtered_by_type_and_record_status(svc: Services, admin: Actor) -> None:
    server, _ = svc.cmdb.create(admin, "C__OBJTYPE__SERVER", "db01")
    app, _ = svc.cmdb.create(admin, "C__OBJTYPE__APPLICATION", "PostgreSQL")
    person, _ = svc.cmdb.create(admin, "C__OBJTYPE__PERSON", "Jane Doe")
    runs = relate(svc, admin, server, {"object2": app, "relation_type": SOFTWARE})
    uses = relate(svc, admin, server, {"object1": server, "object2": person, "relation_type": USER})
    assert [r.id for r in svc.cmdb.relations(admin, server, "C__RELATION_TYPE__USER")] == [uses]
    assert [r.id for r in svc.cmdb.relations(admin, server, USER)] == [uses]
    assert [r.id for r in svc.cmdb.relations(admin, server, "1")] == [runs]
    assert svc.cmdb.relations(admin, server, BACKUP) == []
    with pytest.raises(ValidationFailed) as bad:
        svc.cmdb.relations(admin, server, "C__NOPE")
    assert (bad.value.message, bad.value.field) == ("unknown relation type 'C__NOPE'", "relation_type")
    svc.cmdb.entry_status(admin, server, RELATION, runs, Op.ARCHIVE)
    assert [r.id for r in svc.cmdb.relations(admin, server)] == [uses]
    archived = svc.cmdb.relations(admin, server, status=Status.ARCHIVED)
    assert [(r.id, r.status) for r in archived] == [(runs, Status.ARCHIVED)]
    every = svc.cmdb.relations(admin, server, status=None)
    assert [(r.id, r.status) for r in every] == [(runs, Status.ARCHIVED), (uses, Status.NORMAL)]
    assert [r.id for r in svc.cmdb.relations(admin, server, SOFTWARE, status=None)] == [runs]
    assert svc.cmdb.relations(admin, app) == []  # its only relation is archived


def test_an_added_relation_type_names_its_phrases_and_a_purged_side_drops_the_relation(
    svc: Services, admin: Actor
) -> None:
    feeds = svc.cmdb.dialog_change(admin, RELATION, "relation_type", title="Feeds")
    server, _ = svc.cmdb.create(admin, "C__OBJTYPE__SERVER", "db01")
    app, _ = svc.cmdb.create(admin, "C__OBJTYPE__APPLICATION", "PostgreSQL")
    cache, _ = svc.cmdb.create(admin, "C__OBJTYPE__APPLICATION", "Redis")
    fed = relate(svc, admin, server, {"object2": app, "relation_type": feeds})
    relate(svc, admin, server, {"object2": cache, "relation_type": SOFTWARE})
    [r, _] = svc.cmdb.relations(admin, server)
    assert (r.id, r.type_id, r.type_const, r.type_title, r.master_phrase, r.slave_phrase) == (
        fed,
        feeds,
        "",
        "Feeds",
        "Feeds",
        "Feeds",
    )
    assert [x.id for x in svc.cmdb.relations(admin, server, feeds)] == [fed]
    svc.cmdb.dialog_change(admin, RELATION, "relation_type", item_id=feeds, title="Supplies")
    renamed = svc.cmdb.relations(admin, server)[0]
    assert (renamed.type_title, renamed.master_phrase, renamed.slave_phrase) == ("Supplies",) * 3
    svc.cmdb.dialog_change(admin, RELATION, "relation_type", item_id=feeds, delete=True)
    dropped = svc.cmdb.relations(admin, server)[0]
    assert (dropped.id, dropped.type_id, dropped.type_title, dropped.master_phrase) == (
        fed,
        feeds,
        "",
        "is related to",
    )
    svc.cmdb.change_status(admin, cache, Op.PURGE)
    assert [x.id for x in svc.cmdb.relations(admin, server)] == [fed]


def test_relations_need_a_reader_and_an_existing_object(svc: Services, admin: Actor) -> None:
    server, _ = svc.cmdb.create(admin, "C__OBJTYPE__SERVER", "db01")
    app, _ = svc.cmdb.create(admin, "C__OBJTYPE__APPLICATION", "PostgreSQL")
    runs = relate(svc, admin, server, {"object2": app, "relation_type": SOFTWARE})
    viewer = factories.user(svc, Role.VIEWER)
    assert [r.id for r in svc.cmdb.relations(viewer, app)] == [runs]
    end_user = Actor(user_id=None, username="eu", role=Role.END_USER)
    with pytest.raises(PermissionDenied) as denied:
        svc.cmdb.relations(end_user, server)
    assert denied.value.message == "eu (end_user) lacks permission read"
    with pytest.raises(NotFound) as missing:
        svc.cmdb.relations(admin, 999_999)
    assert (missing.value.message, missing.value.object_type, missing.value.object_id) == (
        "object 999999 not found",
        "object",
        999_999,
    )
