"""Core puts: create-or-update decided in one transaction (docs/architecture.md, "One core call
per request element"). A transport that looked first and then created or updated made two core
calls, and a concurrent request could slip in between; each put here creates when absent,
updates when present, is audited as the create or update it turned out to be, and refuses what
the create and update it replaces refused.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import timedelta

import pytest

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from fleetdeck.core.query import Cond, Op, Query
from fleetdeck.core.settings.configs import Config
from tests import factories
from tests.factories import race

DOMAIN = "example.org"


def actions(runtime: Runtime, mark: int, object_type: str) -> list[tuple[str, str]]:
    return [
        (r.action, r.result)
        for r in factories.audit_since(runtime.services, mark)
        if r.object_type == object_type
    ]


@pytest.fixture
def viewer() -> Actor:
    return Actor(user_id=None, username="v", role=Role.VIEWER)


# ------------------------------------------------------------------ computers


def test_computer_put_creates_when_absent_and_updates_when_present(runtime: Runtime, admin: Actor) -> None:
    svc = runtime.services.computers
    mark = factories.audit_mark(runtime.services)
    made = svc.put(admin, "ws-1.example.org", default_domain=DOMAIN, notes="desk 4")
    assert made is not None and made.hostname == "ws-1" and made.fqdn == "ws-1.example.org"
    assert svc.get(admin, made.id).summary.notes == "desk 4"
    again = svc.put(admin, "WS-1.example.org.", default_domain=DOMAIN, notes="desk 5")
    assert again is not None and again.id == made.id
    assert svc.put(admin, "ws-1.example.org", default_domain=DOMAIN, notes=None) is not None  # kept
    assert svc.get(admin, made.id).summary.notes == "desk 5"
    assert [c.id for c in svc.find(admin, Query(limit=None)).items] == [made.id]
    assert actions(runtime, mark, "computer") == [
        ("computer.create", "ok"),
        ("computer.update", "ok"),
        ("computer.update", "ok"),
    ]


def test_computer_put_finds_an_unqualified_computer_by_the_default_domain(
    runtime: Runtime, admin: Actor
) -> None:
    """The name is matched as transports show it (``qualified_name``): a computer whose agent
    reports no qualified FQDN is ``<host>.<default domain>``, and is updated, not duplicated."""
    svc = runtime.services.computers
    plain = svc.create(admin, "kiosk")
    found = svc.put(admin, "kiosk.example.org", default_domain=DOMAIN, notes="lobby")
    assert found is not None and found.id == plain.id
    assert svc.get(admin, plain.id).summary.notes == "lobby"


def test_computer_put_without_create_leaves_a_missing_computer_missing(
    runtime: Runtime, admin: Actor
) -> None:
    svc = runtime.services.computers
    mark = factories.audit_mark(runtime.services)
    assert svc.put(admin, "ghost.example.org", default_domain=DOMAIN, notes="x", create=False) is None
    assert svc.find(admin, Query(limit=None)).items == []
    assert actions(runtime, mark, "computer") == [("computer.update", "ok")]


def test_computer_put_refuses_what_create_and_update_refused(
    runtime: Runtime, admin: Actor, viewer: Actor
) -> None:
    svc = runtime.services.computers
    svc.create(admin, "ws-2", fqdn="ws-2.other.net")  # its qualified name is ws-2.other.net
    mark = factories.audit_mark(runtime.services)
    with pytest.raises(Conflict):  # a new ws-2.example.org would take the host name ws-2
        svc.put(admin, "ws-2.example.org", default_domain=DOMAIN)
    with pytest.raises(ValidationFailed):
        svc.put(admin, "bad\x07.example.org", default_domain=DOMAIN)
    with pytest.raises(PermissionDenied):  # refused before the arguments are judged
        svc.put(viewer, "bad\x07.example.org", default_domain=DOMAIN)
    with pytest.raises(PermissionDenied):
        svc.put(viewer, "ws-2.other.net", default_domain=DOMAIN, notes="x")
    assert [c.hostname for c in svc.find(admin, Query(limit=None)).items] == ["ws-2"]
    assert actions(runtime, mark, "computer") == [
        ("computer.create", "conflict"),
        ("computer.create", "invalid"),
        ("computer.update", "denied"),
        ("computer.update", "denied"),
    ]


def test_concurrent_computer_puts_create_one_computer(runtime: Runtime, admin: Actor) -> None:
    """N puts of one new name at once: one creates, the others update (on PostgreSQL the
    advisory lock makes them wait; without it several would see "absent" and create)."""
    svc = runtime.services.computers
    mark = factories.audit_mark(runtime.services)
    results = race(6, lambda i: svc.put(admin, "new-1.example.org", default_domain=DOMAIN, notes=f"n{i}"))
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert len({r.id for r in results if r is not None and not isinstance(r, BaseException)}) == 1
    found = svc.find(admin, Query(where=(Cond("hostname", Op.EQ, "new-1"),), limit=None)).items
    assert len(found) == 1
    assert (
        sorted(actions(runtime, mark, "computer"))
        == [("computer.create", "ok")] + [("computer.update", "ok")] * 5
    )


# ------------------------------------------------------------------ users


def test_user_put_creates_when_absent_and_keeps_when_present(runtime: Runtime, admin: Actor) -> None:
    svc = runtime.services.users
    mark = factories.audit_mark(runtime.services)
    made = svc.put(admin, "olga", "random-password-1", Role.VIEWER, disabled=True)
    assert made.username == "olga" and made.role is Role.VIEWER and made.disabled
    kept = svc.put(admin, "olga", "another-password-2", Role.ADMIN)  # nothing of it changes
    assert kept.id == made.id and kept.role is Role.VIEWER and kept.disabled
    stored = {u.username: u for u in svc.list_users(admin)}["olga"]
    assert stored.role is Role.VIEWER and stored.disabled and stored.created_at == made.created_at
    assert actions(runtime, mark, "user") == [("user.create", "ok"), ("user.update", "ok")]


def test_user_put_refuses_what_create_refused(runtime: Runtime, admin: Actor, viewer: Actor) -> None:
    svc = runtime.services.users
    svc.put(admin, "Olga", "random-password-1", Role.VIEWER)
    mark = factories.audit_mark(runtime.services)
    with pytest.raises(Conflict):  # the name differs only in case
        svc.put(admin, "olga", "random-password-1", Role.VIEWER)
    with pytest.raises(ValidationFailed):
        svc.put(admin, "-bad name", "random-password-1", Role.VIEWER)
    with pytest.raises(ValidationFailed):
        svc.put(admin, "shorty", "short", Role.VIEWER)
    with pytest.raises(PermissionDenied):  # refused before the arguments are judged
        svc.put(viewer, "-bad name", "short", Role.VIEWER)
    assert sorted(u.username for u in svc.list_users(admin)) == ["Olga", "admin"]
    assert actions(runtime, mark, "user") == [
        ("user.create", "conflict"),
        ("user.create", "invalid"),
        ("user.create", "invalid"),
        ("user.create", "denied"),
    ]


def test_concurrent_user_puts_create_one_account(runtime: Runtime, admin: Actor) -> None:
    """Without the lock, PostgreSQL let several see "absent"; all but one then failed on the
    unique user name instead of finding the account."""
    svc = runtime.services.users
    mark = factories.audit_mark(runtime.services)
    results = race(6, lambda i: svc.put(admin, "pat", f"random-password-{i}", Role.VIEWER, disabled=True))
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert [u.username for u in svc.list_users(admin)].count("pat") == 1
    assert sorted(actions(runtime, mark, "user")) == [("user.create", "ok")] + [("user.update", "ok")] * 5


# ------------------------------------------------------------------ groups


def test_group_put_creates_when_absent_and_updates_when_present(runtime: Runtime, admin: Actor) -> None:
    svc = runtime.services.groups
    mark = factories.audit_mark(runtime.services)
    top = svc.put(admin, "lab", kind="computer", description="the lab")
    assert top is not None and (top.key, top.name, top.kind, top.parent_id) == (
        "lab",
        "lab",
        "computer",
        None,
    )
    sub = svc.put(admin, "lab-a", parent_key="lab", move=True)  # kind: computer when new
    assert sub is not None and sub.parent_id == top.id and sub.kind == "computer"
    moved = svc.put(admin, "lab-a", description="bench", move=True)  # to the root
    assert moved is not None and moved.id == sub.id and moved.parent_id is None
    kept = svc.put(admin, "lab-a", kind="computer")  # no move: the parent stays
    assert kept is not None and kept.parent_id is None and kept.description == "bench"
    assert svc.put(admin, "nothing", create=False) is None
    assert sorted(g.key for g in svc.find(admin, Query(limit=None)).items) == ["lab", "lab-a"]
    assert actions(runtime, mark, "group") == [
        ("group.create", "ok"),
        ("group.create", "ok"),
        ("group.update", "ok"),
        ("group.update", "ok"),
        ("group.update", "ok"),
    ]


def test_a_group_put_is_audited_with_the_groups_id_and_what_it_changed(
    runtime: Runtime, admin: Actor
) -> None:
    svc = runtime.services.groups
    top = svc.put(admin, "lab", kind="computer")
    assert top is not None
    mark = factories.audit_mark(runtime.services)
    sub = svc.put(admin, "lab-a", parent_key="lab", move=True)
    assert sub is not None
    svc.put(admin, "lab-a", description="bench", move=True)  # to the root
    assert [
        (r.action, r.object_id, r.result, r.detail)
        for r in factories.audit_since(runtime.services, mark)
        if r.object_type == "group"
    ] == [
        ("group.create", str(sub.id), "ok", {"name": "lab-a", "parent_id": top.id}),
        ("group.update", str(sub.id), "ok", {"parent_id": [top.id, None], "description": True}),
    ]


def test_group_put_makes_package_groups(runtime: Runtime, admin: Actor) -> None:
    """A package group made by a put is one ``/api/v1/package-groups`` shows; a key taken by a
    group of a kind a put does not address (a report group) is a Conflict, as create says."""
    made = runtime.services.groups.put(admin, "tools", kind="package", description="d")
    assert made is not None and made.kind == "package"
    assert [
        (g.key, g.description) for g in runtime.services.packages.list_groups(admin, all_levels=True)
    ] == [("tools", "d")]
    runtime.services.reports.groups.create(admin, "sales")  # its key: report-sales
    with pytest.raises(Conflict):
        runtime.services.groups.put(admin, "report-sales", kind="computer")


def test_group_put_refuses_what_create_and_update_refused(
    runtime: Runtime, admin: Actor, viewer: Actor
) -> None:
    svc = runtime.services.groups
    svc.put(admin, "lab", kind="computer")
    svc.put(admin, "tools", kind="package")
    mark = factories.audit_mark(runtime.services)
    with pytest.raises(ValidationFailed) as wrong:  # the key names a group of the other kind
        svc.put(admin, "tools", kind="computer")
    assert wrong.value.field == "kind" and wrong.value.detail["kind"] == "package"
    with pytest.raises(NotFound) as parent:  # a parent of another kind is no parent
        svc.put(admin, "lab-b", kind="computer", parent_key="tools", move=True)
    assert parent.value.object_type == "parent group"
    with pytest.raises(ValidationFailed):  # below itself
        svc.put(admin, "lab", parent_key="lab", move=True)
    with pytest.raises(ValidationFailed):
        svc.put(admin, "Bad Key!", kind="computer")
    with pytest.raises(PermissionDenied):
        svc.put(viewer, "lab", description="x")
    assert sorted(g.key for g in svc.find(admin, Query(limit=None)).items) == ["lab"]
    assert svc.find(admin, Query(limit=None)).items[0].description == ""
    assert actions(runtime, mark, "group") == [
        ("group.update", "invalid"),
        ("group.create", "not_found"),
        ("group.update", "invalid"),
        ("group.create", "invalid"),
        ("group.create", "denied"),
    ]


def test_concurrent_group_puts_create_one_group(runtime: Runtime, admin: Actor) -> None:
    svc = runtime.services.groups
    mark = factories.audit_mark(runtime.services)
    results = race(6, lambda i: svc.put(admin, "racers", kind="computer", description=f"d{i}"))
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert [g.key for g in svc.find(admin, Query(limit=None)).items] == ["racers"]
    assert sorted(actions(runtime, mark, "group")) == [("group.create", "ok")] + [("group.update", "ok")] * 5


def test_a_family_joins_and_leaves_a_package_group_in_one_call(runtime: Runtime, admin: Actor) -> None:
    svc = runtime.services.packages
    old = factories.package(runtime.services, admin, "jedit", "1")
    new = factories.package(runtime.services, admin, "jedit", "2")
    other = factories.package(runtime.services, admin, "vim", "9")
    gid = factories.package_group(runtime.services, admin, "tools", [other.id])
    mark = factories.audit_mark(runtime.services)
    assert svc.add_family_to_group(admin, gid, new.family_key) == 2  # the newest package, appended
    assert [p.id for _, p in svc.group_packages(admin, gid)] == [other.id, new.id]
    svc.add_to_group(admin, gid, old.id)
    assert svc.add_family_to_group(admin, gid, new.family_key) == 2  # there already: unchanged
    assert [p.id for _, p in svc.group_packages(admin, gid)] == [other.id, new.id, old.id]
    with pytest.raises(NotFound):
        svc.add_family_to_group(admin, gid, "no-such-family")
    assert sorted(svc.remove_family_from_group(admin, gid, new.family_key)) == sorted([old.id, new.id])
    assert [(n, p.id) for n, p in svc.group_packages(admin, gid)] == [(1, other.id)]
    assert svc.remove_family_from_group(admin, gid, new.family_key) == []
    assert actions(runtime, mark, "group") == [
        ("package_group.add_member", "ok"),
        ("package_group.add_member", "ok"),
        ("package_group.add_member", "ok"),
        ("package_group.add_member", "not_found"),
        ("package_group.remove_member", "ok"),
        ("package_group.remove_member", "ok"),
    ]


# ------------------------------------------------------------------ package properties


def _add_value(value: str) -> Callable[[Config | None], Config | None]:
    """A merge rule: the stored property with one more possible value (absent: created)."""

    def change(current: Config | None) -> Config:
        base = current or Config("lang")
        return dataclasses.replace(base, possible_values=[*base.possible_values, value])

    return change


def test_property_merge_creates_when_absent_and_merges_when_present(runtime: Runtime, admin: Actor) -> None:
    props = runtime.services.properties
    pid = factories.package(runtime.services, admin, "jedit").id
    mark = factories.audit_mark(runtime.services)
    made = props.merge(admin, pid, "lang", _add_value("de"))
    assert made is not None and made.prop.possible_values == ["de"]
    props.merge(admin, pid, "lang", _add_value("en"))
    assert [i.prop.possible_values for i in props.find(admin, [pid])] == [["de", "en"]]
    assert props.merge(admin, pid, "other", lambda current: None) is None  # nothing stored
    assert [i.prop.key for i in props.find(admin, [pid])] == ["lang"]
    rows = [r for r in factories.audit_since(runtime.services, mark) if r.object_type == "package"]
    assert [(r.action, r.result, r.detail.get("merged")) for r in rows] == [
        ("package_property.put", "ok", False),
        ("package_property.put", "ok", True),
        ("package_property.put", "ok", None),
    ]


def test_property_merge_refuses_what_put_refused(runtime: Runtime, admin: Actor, viewer: Actor) -> None:
    props = runtime.services.properties
    pid = factories.package(runtime.services, admin, "jedit").id
    props.put(admin, pid, Config("lang", possible_values=["de"]))
    mark = factories.audit_mark(runtime.services)
    with pytest.raises(PermissionDenied):
        props.merge(viewer, pid, "lang", _add_value("en"))
    with pytest.raises(NotFound):
        props.merge(admin, 987654, "lang", _add_value("en"))
    with pytest.raises(ValidationFailed):  # a bool property with a string default
        props.merge(admin, pid, "lang", lambda c: Config("lang", kind="bool", default_values=["x"]))
    with pytest.raises(ValidationFailed):  # the key names the property
        props.merge(admin, pid, "lang", lambda c: Config("other"))
    assert [i.prop.possible_values for i in props.find(admin, [pid])] == [["de"]]
    assert actions(runtime, mark, "package") == [
        ("package_property.put", "denied"),
        ("package_property.put", "not_found"),
        ("package_property.put", "invalid"),
        ("package_property.put", "invalid"),
    ]


def test_concurrent_property_merges_lose_no_change(runtime: Runtime, admin: Actor) -> None:
    """Each merge adds its own possible value; read-merge-put in separate calls kept only some
    of them (a change made between another request's read and its put was overwritten)."""
    props = runtime.services.properties
    pid = factories.package(runtime.services, admin, "jedit").id
    props.put(admin, pid, Config("lang"))
    results = race(6, lambda i: props.merge(admin, pid, "lang", _add_value(f"v{i}")))
    assert not [r for r in results if isinstance(r, BaseException)], results
    [info] = props.find(admin, [pid])
    assert sorted(info.prop.possible_values) == [f"v{i}" for i in range(6)]


# ------------------------------------------------------------------ config entries and a message


def _motd(text: str) -> list[Config]:
    return [Config("motd.user.message", "str", "shown to users", [text], [text])]


def test_announce_stores_the_entries_and_queues_the_message_in_one_transaction(
    runtime: Runtime, admin: Actor
) -> None:
    svc = runtime.services
    online = factories.computer(svc, admin, "pc-1")
    factories.computer(svc, admin, "pc-2")  # offline: not told
    svc.computers.set_online(online, node_id="n", remote_address="127.0.0.1", agent_version="1")
    mark = factories.audit_mark(svc)
    assert svc.jobs.announce(
        admin, _motd("Back at 18:00"), "Back at 18:00", expires_in=timedelta(minutes=5)
    ) == [online]
    assert [(c.key, c.default_values) for c in svc.configs.entries(admin)] == [
        ("motd.user.message", ["Back at 18:00"])
    ]
    (job,) = svc.jobs.find(admin, Query(limit=None)).items
    assert (job.computer_id, job.spec) == (online, {"action": "message", "message": "Back at 18:00"})
    # again, replacing the text, without a message: nothing queued
    assert svc.jobs.announce(admin, _motd("Closed"), None, expires_in=timedelta(minutes=5)) == []
    assert [c.default_values for c in svc.configs.entries(admin)] == [["Closed"]]
    assert len(svc.jobs.find(admin, Query(limit=None)).items) == 1
    rows = factories.audit_since(svc, mark)
    assert [(r.action, r.object_type, r.result) for r in rows] == [
        ("action.message", "job_batch", "ok"),  # both rows in the one transaction
        ("config.put", "config", "ok"),
        ("config.put", "config", "ok"),
    ]
    assert rows[0].object_id == str(job.batch_id) and rows[1].object_id == "motd.user.message"


def test_announce_refuses_whole(runtime: Runtime, admin: Actor, viewer: Actor) -> None:
    """What the two old calls refused, refused before anything is stored: a caller who may
    change settings but not run commands stored the texts and then failed to tell anyone."""
    svc = runtime.services
    online = factories.computer(svc, admin, "pc-1")
    svc.computers.set_online(online, node_id="n", remote_address="127.0.0.1", agent_version="1")
    mark = factories.audit_mark(svc)
    with pytest.raises(PermissionDenied):
        svc.jobs.announce(viewer, _motd("x"), "x", expires_in=timedelta(minutes=5))
    with pytest.raises(ValidationFailed):  # an empty message
        svc.jobs.announce(admin, _motd("x"), "   ", expires_in=timedelta(minutes=5))
    with pytest.raises(ValidationFailed):  # a bad entry
        svc.jobs.announce(
            admin, [Config("motd", "bool", default_values=["x"])], "x", expires_in=timedelta(minutes=5)
        )
    assert svc.configs.entries(admin) == []
    assert svc.jobs.find(admin, Query(limit=None)).items == []
    assert actions(runtime, mark, "config") == [("config.put", "denied")]


def test_config_merge_creates_when_absent_merges_when_present(
    runtime: Runtime, admin: Actor, viewer: Actor
) -> None:
    configs = runtime.services.configs

    def add(value: str) -> Callable[[Config | None], Config | None]:
        def change(current: Config | None) -> Config:
            base = current or Config("x.opt")
            return dataclasses.replace(base, possible_values=[*base.possible_values, value])

        return change

    mark = factories.audit_mark(runtime.services)
    made = configs.merge(admin, "x.opt", add("a"))
    assert made is not None and made.possible_values == ["a"]
    configs.merge(admin, "x.opt", add("b"))
    assert configs.merge(admin, "y.opt", lambda current: None) is None
    with pytest.raises(PermissionDenied):
        configs.merge(viewer, "x.opt", add("c"))
    with pytest.raises(ValidationFailed):
        configs.merge(admin, "x.opt", lambda current: Config("x.opt", "bool", default_values=["no"]))
    assert [(c.key, c.possible_values) for c in configs.entries(admin)] == [("x.opt", ["a", "b"])]
    assert actions(runtime, mark, "config") == [
        ("config.put", "ok"),
        ("config.put", "ok"),
        ("config.put", "ok"),
        ("config.put", "denied"),
        ("config.put", "invalid"),
    ]
    results = race(6, lambda i: configs.merge(admin, "x.opt", add(f"v{i}")))
    assert not [r for r in results if isinstance(r, BaseException)], results
    [entry] = configs.entries(admin)
    assert sorted(entry.possible_values) == sorted(["a", "b"] + [f"v{i}" for i in range(6)])


def test_config_merge_audits_whether_it_merged_created_or_found_nothing(
    runtime: Runtime, admin: Actor
) -> None:
    """Each ``config.put`` row of a merge details the stored kind and default values and says
    whether an entry was there to merge into; a merge that stores nothing says the entry is
    missing."""
    configs = runtime.services.configs
    mark = factories.audit_mark(runtime.services)
    configs.merge(
        admin, "x.opt", lambda current: Config("x.opt", possible_values=["a"], default_values=["a"])
    )
    configs.merge(
        admin,
        "x.opt",
        lambda current: dataclasses.replace(
            current or Config("x.opt"), default_values=["b"], possible_values=["b"]
        ),
    )
    configs.merge(admin, "y.opt", lambda current: None)
    assert factories.audited(runtime.services, mark) == [
        ("config.put", "config", "x.opt", "ok", {"kind": "str", "default_values": ["a"], "merged": False}),
        ("config.put", "config", "x.opt", "ok", {"kind": "str", "default_values": ["b"], "merged": True}),
        ("config.put", "config", "y.opt", "ok", {"missing": True}),
    ]
