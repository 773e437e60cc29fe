"""Core's CMDB search (``CmdbService.search``) called directly: hits in titles (stored objects'
and computers' host names), in stored entries' text values and in computers' installed
software, each hit's fields, their order, what is left out (objects and entries not in the
normal record status, values that are no text) and the limit. The i-doit dialect's
``idoit.search`` tests cover the same through JSON-RPC; these are the ones the mutation subset
runs."""

from __future__ import annotations

import pytest

from fleetdeck.core.authz import Actor, Role, system_actor
from fleetdeck.core.cmdb.statuses import Op
from fleetdeck.core.cmdb.values import SearchHit
from fleetdeck.core.enrollment.service import agent_actor
from fleetdeck.core.errors import PermissionDenied, ValidationFailed
from fleetdeck.core.services import Services
from fleetdeck.protocol import messages as m
from fleetdeck.runtime import Runtime
from fleetdeck.storage.tables import CmdbEntry
from fleetdeck.storage.uow import UnitOfWork
from tests import factories
from tests.unit.core.conftest import T0

GLOBAL = "C__CATG__GLOBAL"
MODEL = "C__CATG__MODEL"
CONTACT = "C__CATG__CONTACT"
ACCOUNTING = "C__CATG__ACCOUNTING"
APPLICATION = "C__CATG__APPLICATION"


def with_software(svc: Services, hostname: str, names: list[str]) -> int:
    """A computer whose agent reported ``names`` as installed software; returns its object."""
    cid = factories.computer(svc, system_actor("test"), hostname)
    inv = m.Inventory(hostname=hostname, software=[m.Software(n, "1.0") for n in names])
    svc.computers.record_inventory(agent_actor(cid, hostname, "127.0.0.1"), cid, inv, m.inventory_digest(inv))
    oid = svc.cmdb.object_of_computer(system_actor("test"), cid)
    assert oid is not None
    return oid


def test_titles_entries_and_software_are_found_in_that_order(svc: Services, admin: Actor) -> None:
    hq, _ = svc.cmdb.create(admin, "C__OBJTYPE__BUILDING", "Alpha HQ")
    depot, _ = svc.cmdb.create(admin, "C__OBJTYPE__BUILDING", "Depot")
    server, _ = svc.cmdb.create(admin, "C__OBJTYPE__SERVER", "ALPHASRV")
    pc = with_software(svc, "pc-1", ["AlphaEdit", "Zeta", "alphabet soup"])
    other_pc = with_software(svc, "pc-alpha", ["Beta"])
    svc.cmdb.save(admin, depot, MODEL, {"serial": "SN-ALPHA-1", "firmware": "alpha 2", "productid": "P1"})
    svc.cmdb.save(admin, hq, CONTACT, {"description": "call Alphonse"})  # "Alphonse" holds no "alpha"
    svc.cmdb.save(admin, hq, ACCOUNTING, {"inventory_no": "alpha-7", "price": 12.5})
    hits = svc.cmdb.search(admin, " ALPHA ")
    assert hits == [
        SearchHit(hq, "Building", "General", "Title", "Alpha HQ", 2, GLOBAL),
        SearchHit(server, "Server", "General", "Title", "ALPHASRV", 2, GLOBAL),
        SearchHit(other_pc, "Client", "General", "Title", "pc-alpha", 2, GLOBAL),
        SearchHit(depot, "Building", "Model", "Serial number", "SN-ALPHA-1", 2, MODEL),
        SearchHit(depot, "Building", "Model", "Firmware", "alpha 2", 2, MODEL),
        SearchHit(hq, "Building", "Accounting", "Inventory number", "alpha-7", 2, ACCOUNTING),
        SearchHit(pc, "Client", "Software assignment", "Application", "AlphaEdit", 2, APPLICATION),
        SearchHit(pc, "Client", "Software assignment", "Application", "alphabet soup", 2, APPLICATION),
    ]
    assert svc.cmdb.search(admin, "alphon") == [
        SearchHit(hq, "Building", "Contact assignment", "Description", "call Alphonse", 2, CONTACT)
    ]
    # a number stored in an entry is no text: its digits find nothing
    assert svc.cmdb.search(admin, "12.5") == []
    assert svc.cmdb.search(admin, "zeta") == [
        SearchHit(pc, "Client", "Software assignment", "Application", "Zeta", 2, APPLICATION)
    ]
    assert svc.cmdb.search(admin, "nothing like it") == []


def test_only_normal_objects_and_entries_are_found(svc: Services, admin: Actor) -> None:
    kept, _ = svc.cmdb.create(admin, "C__OBJTYPE__BUILDING", "omega kept")
    archived, _ = svc.cmdb.create(admin, "C__OBJTYPE__BUILDING", "omega archived")
    svc.cmdb.save(admin, archived, MODEL, {"serial": "omega-1"})
    first = svc.cmdb.save(admin, kept, CONTACT, {"description": "omega one"})
    svc.cmdb.save(admin, kept, CONTACT, {"description": "omega two"})
    pc = with_software(svc, "pc-9", ["Omega Tool"])
    svc.cmdb.change_status(admin, archived, Op.ARCHIVE)
    svc.cmdb.entry_status(admin, kept, CONTACT, first, Op.ARCHIVE)
    assert svc.cmdb.search(admin, "omega") == [
        SearchHit(kept, "Building", "General", "Title", "omega kept", 2, GLOBAL),
        SearchHit(kept, "Building", "Contact assignment", "Description", "omega two", 2, CONTACT),
        SearchHit(pc, "Client", "Software assignment", "Application", "Omega Tool", 2, APPLICATION),
    ]
    svc.cmdb.change_status(admin, pc, Op.ARCHIVE)
    assert [h.object_id for h in svc.cmdb.search(admin, "omega")] == [kept, kept]


def test_the_limit_applies_to_each_kind_and_to_all_hits(svc: Services, admin: Actor) -> None:
    titled = [svc.cmdb.create(admin, "C__OBJTYPE__BUILDING", f"kappa {n}")[0] for n in range(3)]
    plain, _ = svc.cmdb.create(admin, "C__OBJTYPE__BUILDING", "plain")
    entries = [svc.cmdb.save(admin, plain, CONTACT, {"description": f"kappa note {n}"}) for n in range(3)]
    assert len(entries) == 3
    pc = with_software(svc, "pc-k", ["kappa-a", "kappa-b", "kappa-c"])
    everything = svc.cmdb.search(admin, "kappa")
    assert [(h.object_id, h.value) for h in everything] == [
        *((oid, f"kappa {n}") for n, oid in enumerate(titled)),
        *((plain, f"kappa note {n}") for n in range(3)),
        (pc, "kappa-a"),
        (pc, "kappa-b"),
        (pc, "kappa-c"),
    ]
    assert svc.cmdb.search(admin, "kappa", limit=9) == everything
    assert svc.cmdb.search(admin, "kappa", limit=8) == everything[:8]
    assert [h.value for h in svc.cmdb.search(admin, "kappa", limit=2)] == ["kappa 0", "kappa 1"]
    assert [h.value for h in svc.cmdb.search(admin, "kappa note", limit=2)] == [
        "kappa note 0",
        "kappa note 1",
    ]
    assert [h.value for h in svc.cmdb.search(admin, "kappa-", limit=2)] == ["kappa-a", "kappa-b"]
    assert svc.cmdb.search(admin, "kappa", limit=0) == []


def test_a_value_is_found_behind_entries_that_match_only_in_a_key(svc: Services, admin: Actor) -> None:
    """Fewer hits than the limit means there are no more: two contact entries match "descr"
    only in their key ("description"), the third in its value. Read with the limit as a SQL
    limit, the first two used it up and the search answered nothing (a bug until 4 December
    2026); candidates are now read in batches until enough of them really match."""
    hq, _ = svc.cmdb.create(admin, "C__OBJTYPE__BUILDING", "HQ")
    for n in range(2):
        svc.cmdb.save(admin, hq, CONTACT, {"description": f"plain {n}"})
    svc.cmdb.save(admin, hq, CONTACT, {"description": "see the descr sheet"})
    assert svc.cmdb.search(admin, "descr") == [
        SearchHit(hq, "Building", "Contact assignment", "Description", "see the descr sheet", 2, CONTACT)
    ]
    assert svc.cmdb.search(admin, "descr", limit=2) == svc.cmdb.search(admin, "descr")


def test_searching_needs_text_and_a_reader(svc: Services, admin: Actor) -> None:
    svc.cmdb.create(admin, "C__OBJTYPE__BUILDING", "HQ")
    for text in ("", "   "):
        with pytest.raises(ValidationFailed) as err:
            svc.cmdb.search(admin, text)
        assert (err.value.message, err.value.field) == ("the search text must not be empty", "q")
    with pytest.raises(ValidationFailed) as long:
        svc.cmdb.search(admin, "x" * 1001)
    assert (long.value.message, long.value.field) == ("the search text must be at most 1000 characters", "q")
    assert svc.cmdb.search(admin, " " + "x" * 1000 + " ") == []
    viewer = factories.user(svc, Role.VIEWER)
    assert [h.value for h in svc.cmdb.search(viewer, "hq")] == ["HQ"]
    end_user = Actor(user_id=None, username="eu", role=Role.END_USER)
    with pytest.raises(PermissionDenied) as denied:
        svc.cmdb.search(end_user, "")
    assert denied.value.message == "eu (end_user) lacks permission read"


def test_stored_values_the_catalog_no_longer_knows(svc: Services, admin: Actor, runtime: Runtime) -> None:
    hq, _ = svc.cmdb.create(admin, "C__OBJTYPE__BUILDING", "HQ")
    with UnitOfWork(runtime.db) as uow:
        for category, data in [
            ("C__CATG__GONE", {"serial": "sigma-1"}),  # a category no longer in the catalog
            (MODEL, {"legacy_key": "sigma-2", "serial": 5}),  # an attribute no longer in it
        ]:
            uow.session.add(CmdbEntry(object_id=hq, category=category, status=2, data=data, created_at=T0))
    assert svc.cmdb.search(admin, "SIGMA") == [
        SearchHit(hq, "Building", "Model", "legacy_key", "sigma-2", 2, MODEL)
    ]


def test_like_wildcards_in_the_text_are_plain_characters(svc: Services, admin: Actor) -> None:
    """``_`` and ``%`` in the search text match only themselves (they were LIKE wildcards: "pc_1"
    found "pc-1"), in titles, entries and software alike."""
    hq, _ = svc.cmdb.create(admin, "C__OBJTYPE__BUILDING", "pc_1 room")
    svc.cmdb.create(admin, "C__OBJTYPE__BUILDING", "pc-1 room")
    svc.cmdb.save(admin, hq, CONTACT, {"description": "100% done"})
    svc.cmdb.save(admin, hq, CONTACT, {"description": "1000 done"})
    pc = with_software(svc, "pc-w", ["a_b", "axb"])
    assert [(h.object_id, h.value) for h in svc.cmdb.search(admin, "pc_1")] == [(hq, "pc_1 room")]
    assert [(h.object_id, h.value) for h in svc.cmdb.search(admin, "0% d")] == [(hq, "100% done")]
    assert [(h.object_id, h.value) for h in svc.cmdb.search(admin, "a_b")] == [(pc, "a_b")]
    assert [h.value for h in svc.cmdb.search(admin, "\\")] == []


def test_accented_and_quoted_text_is_found_in_any_case(svc: Services, admin: Actor) -> None:
    """Text beyond ASCII and quotes: an entry's JSON text escapes them ("Caf\\u00e9") and
    SQLite's ``lower()`` folds ASCII only, so the database narrows by the plain part of the
    text and the match itself is made on the values, case-insensitively (Unicode's folding)."""
    hq, _ = svc.cmdb.create(admin, "C__OBJTYPE__BUILDING", "CAFÉ MÜLLER")
    svc.cmdb.save(admin, hq, CONTACT, {"description": 'Café Müller says "hi"'})
    pc = with_software(svc, "pc-u", ["Über Tool"])
    assert [(h.category_title, h.value) for h in svc.cmdb.search(admin, "café")] == [
        ("General", "CAFÉ MÜLLER"),
        ("Contact assignment", 'Café Müller says "hi"'),
    ]
    assert [h.value for h in svc.cmdb.search(admin, '"HI"')] == ['Café Müller says "hi"']
    assert [(h.object_id, h.value) for h in svc.cmdb.search(admin, "über")] == [(pc, "Über Tool")]
    assert [h.value for h in svc.cmdb.search(admin, "ü")] == [
        "CAFÉ MÜLLER",
        'Café Müller says "hi"',
        "Über Tool",
    ]
    assert svc.cmdb.search(admin, "ö") == []


def test_a_search_reads_its_candidates_in_bounded_batches(
    svc: Services, admin: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Candidates come in batches up to ``SEARCH_SCAN_ROWS`` of each kind: rows that match only
    in a key are skipped batch after batch until real hits are found, and a search stops there
    (its time is bounded whatever the CMDB's size)."""
    from fleetdeck.core.cmdb import service as cmdb_service

    monkeypatch.setattr(cmdb_service, "_SEARCH_BATCH", 2)
    monkeypatch.setattr(cmdb_service, "SEARCH_SCAN_ROWS", 5)
    hq, _ = svc.cmdb.create(admin, "C__OBJTYPE__BUILDING", "HQ")
    for n in range(3):
        svc.cmdb.save(admin, hq, CONTACT, {"description": f"plain {n}"})
    found = svc.cmdb.save(admin, hq, CONTACT, {"description": "the descr sheet"})
    assert [h.value for h in svc.cmdb.search(admin, "descr", limit=1)] == ["the descr sheet"]
    for n in range(2):
        svc.cmdb.save(admin, hq, CONTACT, {"description": f"descr {n}"})
    # six candidates (every contact entry has the key "description"); the sixth is past the cap
    assert [h.value for h in svc.cmdb.search(admin, "descr")] == ["the descr sheet", "descr 0"]
    assert found
