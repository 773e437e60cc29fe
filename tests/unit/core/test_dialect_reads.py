"""Reads of core that only the dialects called (opsi's host list and group objects, host logins
that check their key on every request, product groups, a user looked up by name), called
directly: each answers what was written, and a secret only to those who may see it. Through
HTTP the dialect tests cover them; these are the ones the mutation subset runs (docs/testing.md,
"Mutation testing": these functions had no test there)."""

from __future__ import annotations

import pytest

from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.errors import ValidationFailed
from fleetdeck.core.query import Cond, Op, Query
from fleetdeck.core.services import Services
from tests import factories


def test_host_records_show_what_was_recorded_and_secrets_only_to_computer_managers(
    svc: Services, admin: Actor
) -> None:
    record = {
        "description": "front desk",
        "inventory_number": "INV-7",
        "mac": "00:11:22:33:44:55",
        "ip": "192.0.2.5",
        "one_time_password": "otp-secret",
        "host_key": "a" * 32,
    }
    pc = svc.computers.put(admin, "desk.example.org", default_domain="example.org", record=record)
    assert pc is not None
    plain = svc.computers.put(admin, "bare.example.org", default_domain="example.org")
    assert plain is not None
    agent = factories.computer(svc, admin, "agent", macs=["00:aa:bb:cc:dd:ee"])

    records = svc.computers.host_records(admin)
    assert set(records) == {pc.id, plain.id, agent}
    desk = records[pc.id]
    assert (desk.computer_id, desk.enrolled, desk.description, desk.inventory_number) == (
        pc.id,
        False,
        "front desk",
        "INV-7",
    )
    assert (desk.mac, desk.ip, desk.one_time_password, desk.host_key) == (
        "00:11:22:33:44:55",
        "192.0.2.5",
        "otp-secret",
        "a" * 32,
    )
    bare = records[plain.id]
    assert bare.one_time_password is None and bare.host_key and len(bare.host_key) == 32  # a random one
    assert svc.computers.host_records(admin) == records  # the second time from the remembered plaintexts

    viewer = factories.user(svc, Role.VIEWER)
    seen = svc.computers.host_records(viewer, [pc.id])
    assert list(seen) == [pc.id]
    assert (seen[pc.id].description, seen[pc.id].one_time_password, seen[pc.id].host_key) == (
        "front desk",
        None,
        None,
    )
    assert svc.computers.host_records(admin, []) == {}


def test_only_a_description_may_hold_line_breaks_and_tabs(svc: Services, admin: Actor) -> None:
    """A host record's description is free text over several lines; the other text fields are
    one line: a line break there is refused naming the field, and nothing is written."""
    text = "front desk\r\nsecond floor\tleft"
    pc = svc.computers.put(
        admin, "desk.example.org", default_domain="example.org", record={"description": text}
    )
    assert pc is not None
    assert svc.computers.host_records(admin, [pc.id])[pc.id].description == text
    for field in ("inventory_number", "mac", "ip", "host_key"):
        with pytest.raises(ValidationFailed) as err:
            svc.computers.put(admin, "desk.example.org", default_domain="example.org", record={field: "a\nb"})
        assert (err.value.field, err.value.message) == (field, f"{field} must not contain control characters")
    record = svc.computers.host_records(admin, [pc.id])[pc.id]
    assert (record.inventory_number, record.mac, record.ip) == ("", "", "")


def test_a_host_key_is_current_until_it_changes(svc: Services, admin: Actor) -> None:
    pc = svc.computers.put(
        admin, "desk.example.org", default_domain="example.org", record={"host_key": "b" * 32}
    )
    assert pc is not None
    assert svc.enrollment.host_key_current(pc.id, "b" * 32) is True
    assert svc.enrollment.host_key_current(pc.id, "c" * 32) is False
    assert svc.enrollment.host_key_current(10**6, "b" * 32) is False
    svc.computers.put(admin, "desk.example.org", default_domain="example.org", record={"host_key": "c" * 32})
    assert svc.enrollment.host_key_current(pc.id, "b" * 32) is False
    assert svc.enrollment.host_key_current(pc.id, "c" * 32) is True
    svc.computers.put(admin, "desk.example.org", default_domain="example.org", record={"host_key": ""})
    assert svc.enrollment.host_key_current(pc.id, "c" * 32) is False
    assert svc.enrollment.host_key_current(pc.id, "") is False


def test_group_memberships_list_every_group_with_its_members_in_order(svc: Services, admin: Actor) -> None:
    a, b, c = (factories.computer(svc, admin, n) for n in ("a", "b", "c"))
    g1 = factories.group(svc, admin, "g1", [c, a])
    g2 = factories.group(svc, admin, "g2", [b])
    factories.group(svc, admin, "empty")
    assert svc.groups.memberships(factories.user(svc, Role.VIEWER)) == {g1: [a, c], g2: [b]}


def test_group_memberships_come_in_group_order(svc: Services, admin: Actor) -> None:
    """The memberships are listed group by group in id order, each group's members ascending,
    even when a later group holds the lowest computer: the result reads the same on every
    call and database."""
    a, b, c = (factories.computer(svc, admin, n) for n in ("a", "b", "c"))
    g1 = factories.group(svc, admin, "g1", [c])
    g2 = factories.group(svc, admin, "g2", [b, a])
    g3 = factories.group(svc, admin, "g3", [c, b])
    assert list(svc.groups.memberships(admin).items()) == [(g1, [c]), (g2, [a, b]), (g3, [b, c])]


def test_package_groups_are_found_by_their_fields_at_every_level(svc: Services, admin: Actor) -> None:
    top = svc.packages.create_group(admin, "Office").id
    sub = svc.packages.create_group(admin, "Office Tools", parent_id=top).id
    svc.packages.create_group(admin, "Games")
    found = svc.packages.find_groups(admin, Query(where=(Cond("name", Op.LIKE, "office*"),)))
    assert sorted(g.id for g in found) == sorted([top, sub])
    assert [g.name for g in svc.packages.find_groups(admin, Query())] == ["Games", "Office", "Office Tools"]


def test_a_user_is_looked_up_by_exact_name(svc: Services, admin: Actor) -> None:
    made = svc.users.create(admin, "Carol", "carol-password", Role.OPERATOR, full_name="Carol C")
    found = svc.users.get_by_name("Carol")
    assert found is not None and (found.id, found.role, found.full_name) == (
        made.id,
        Role.OPERATOR,
        "Carol C",
    )
    assert svc.users.get_by_name("carol") is None
    assert svc.users.get_by_name("nobody") is None
