"""Computers named by display name (``core.computers.by_name``), called directly: comments (the
6-250 character rule at both ends, author and time, the audit row, what a user's groups reach,
unknown and ambiguous names), the newest comment per computer, and the removal of offline
computers (all or none, online ones refused by name, the hub told). The remotepc dialect's
tests do the same through HTTP; these are the ones the mutation subset runs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from fleetdeck.core.authz import Actor, Role, system_actor
from fleetdeck.core.computers.by_name import CommentInfo
from fleetdeck.core.enrollment.service import agent_actor
from fleetdeck.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from fleetdeck.core.query import Query
from fleetdeck.core.services import CoreConfig, Services, build_services
from fleetdeck.protocol import messages as m
from fleetdeck.runtime import Runtime
from fleetdeck.settings import Settings
from fleetdeck.storage.tables import ComputerComment
from fleetdeck.storage.uow import UnitOfWork
from tests import factories
from tests.conftest import SECRET
from tests.factories import ManualClock, RecordingNotifier
from tests.unit.core.conftest import T0

ADMIN = system_actor("test")


@pytest.fixture
def notifier() -> RecordingNotifier:
    return RecordingNotifier()


@pytest.fixture
def svc(runtime: Runtime, settings: Settings, clock: ManualClock, notifier: RecordingNotifier) -> Services:
    """Core's services on the test clock, telling ``notifier`` what the hub would hear."""
    return build_services(
        runtime.db,
        SECRET,
        CoreConfig(payload_dir=settings.data_dir / "payloads"),
        clock=clock,
        notifier=notifier,
    )


def comments(runtime: Runtime) -> int:
    with UnitOfWork(runtime.db, readonly=True) as uow:
        return uow.session.scalar(select(func.count()).select_from(ComputerComment)) or 0


def ids(svc: Services) -> list[int]:
    return sorted(c.id for c in svc.computers.find(ADMIN, Query(limit=None)).items)


def named(svc: Services, cid: int, hostname: str) -> None:
    """The computer's agent reports ``hostname``: names need not be unique, so two may share one."""
    inv = m.Inventory(hostname=hostname)
    svc.computers.record_inventory(agent_actor(cid, hostname, "127.0.0.1"), cid, inv, m.inventory_digest(inv))


def branch_operator(svc: Services) -> Actor:
    """An operator in a user group that reaches no computer (no rule group or tag allows it)."""
    factories.user(svc, Role.ADMIN)  # an enabled admin must remain when groups are set
    svc.users.create(ADMIN, "branch-op", factories.PASSWORD, Role.OPERATOR, groups=["branch"])
    actor, _ = svc.users.session_login("branch-op", factories.PASSWORD, "127.0.0.1", "test")
    return actor


# ------------------------------------------------------------------ comments


def test_a_comment_is_kept_with_its_author_and_time_and_audited(
    svc: Services, runtime: Runtime, clock: ManualClock
) -> None:
    op = factories.user(svc, Role.OPERATOR, "op")
    pc = factories.computer(svc, ADMIN, "pc1")
    named(svc, factories.computer(svc, ADMIN, "other"), "PC1")  # names are exact: another computer
    clock.now = T0 + timedelta(minutes=7)
    mark = factories.audit_mark(svc)
    got = svc.by_name.comment(op, "pc1", "disk replaced")
    assert got == CommentInfo(got.id, pc, "disk replaced", "op", T0 + timedelta(minutes=7))
    assert factories.audited(svc, mark) == [
        ("computer.comment", "computer", str(pc), "ok", {"comment_id": got.id, "length": 13})
    ]
    with UnitOfWork(runtime.db, readonly=True) as uow:
        row = uow.session.get(ComputerComment, got.id)
        assert row is not None
        assert (row.computer_id, row.text, row.author, row.user_id, row.created_at) == (
            pc,
            "disk replaced",
            "op",
            op.user_id,
            T0 + timedelta(minutes=7),
        )


def test_a_comment_has_6_to_250_characters(svc: Services, runtime: Runtime) -> None:
    factories.computer(svc, ADMIN, "pc1")
    assert len(svc.by_name.comment(ADMIN, "pc1", "x" * 6).text) == 6
    assert len(svc.by_name.comment(ADMIN, "pc1", "y" * 250).text) == 250
    assert svc.by_name.comment(ADMIN, "pc1", "  ab  ").text == "  ab  "  # six with the spaces
    mark = factories.audit_mark(svc)
    for text in ("x" * 5, "z" * 251, "a"):
        with pytest.raises(ValidationFailed) as err:
            svc.by_name.comment(ADMIN, "pc1", text)
        assert (err.value.message, err.value.detail) == (
            "a comment has 6-250 characters",
            {"field": "comment", "reason": "invalid"},
        )
    for text in ("", "      ", "\n\t"):
        with pytest.raises(ValidationFailed) as empty:
            svc.by_name.comment(ADMIN, "pc1", text)
        assert (empty.value.message, empty.value.detail) == (
            "the comment is empty",
            {"field": "comment", "reason": "required_missing"},
        )
    assert factories.audited(svc, mark) == []  # refused before anything was opened
    assert comments(runtime) == 3


def test_only_who_manages_computers_comments_and_only_on_computers_they_reach(
    svc: Services, runtime: Runtime
) -> None:
    factories.computer(svc, ADMIN, "pc1")
    viewer = factories.user(svc, Role.VIEWER, "vic")
    mark = factories.audit_mark(svc)
    with pytest.raises(PermissionDenied) as err:
        svc.by_name.comment(viewer, "pc1", "looks fine")
    assert err.value.message == "vic (viewer) lacks permission manage_computers"
    assert factories.audited(svc, mark) == [
        (
            "computer.comment",
            "computer",
            "",
            "denied",
            {"error": "vic (viewer) lacks permission manage_computers"},
        )
    ]
    # an operator in a user group that reaches no computer: the computer is "not found"
    branch_op = branch_operator(svc)
    with pytest.raises(NotFound) as hidden:
        svc.by_name.comment(branch_op, "pc1", "looks fine")
    assert hidden.value.message == "computer pc1 not found"
    assert comments(runtime) == 0


def test_an_unknown_or_ambiguous_name_is_refused(svc: Services, runtime: Runtime) -> None:
    factories.computer(svc, ADMIN, "twin")
    named(svc, factories.computer(svc, ADMIN, "twin-2"), "twin")
    mark = factories.audit_mark(svc)
    with pytest.raises(NotFound) as err:
        svc.by_name.comment(ADMIN, "nope", "some text")
    assert (err.value.message, err.value.object_id) == ("computer nope not found", "nope")
    with pytest.raises(ValidationFailed) as amb:
        svc.by_name.comment(ADMIN, "twin", "some text")
    assert (amb.value.message, amb.value.detail) == (
        "several computers are named 'twin'",
        {"field": "computer_names", "reason": "ambiguous_name", "names": ["twin"]},
    )
    assert [(a, t, o, r) for a, t, o, r, _ in factories.audited(svc, mark)] == [
        ("computer.comment", "computer", "", "not_found"),
        ("computer.comment", "computer", "", "invalid"),
    ]
    assert comments(runtime) == 0


def test_the_newest_comment_of_each_computer_is_read(svc: Services, clock: ManualClock) -> None:
    a = factories.computer(svc, ADMIN, "a")
    b = factories.computer(svc, ADMIN, "b")
    c = factories.computer(svc, ADMIN, "c")
    svc.by_name.comment(ADMIN, "a", "first of a")
    clock.now = T0 + timedelta(hours=1)
    newest_b = svc.by_name.comment(ADMIN, "b", "only one of b")
    clock.now = T0 + timedelta(hours=2)
    newest_a = svc.by_name.comment(ADMIN, "a", "second of a")
    viewer = factories.user(svc, Role.VIEWER)
    got = svc.by_name.latest_comments(viewer, [c, b, a, a])
    assert got == {
        a: CommentInfo(newest_a.id, a, "second of a", ADMIN.username, T0 + timedelta(hours=2)),
        b: CommentInfo(newest_b.id, b, "only one of b", ADMIN.username, T0 + timedelta(hours=1)),
    }
    assert svc.by_name.latest_comments(viewer, [b]) == {b: got[b]}
    assert svc.by_name.latest_comments(viewer, [c, 10**9]) == {}
    assert svc.by_name.latest_comments(viewer, []) == {}


def test_latest_comments_keep_to_what_the_reader_may_see(svc: Services) -> None:
    mine = factories.computer(svc, ADMIN, "mine")
    other = factories.computer(svc, ADMIN, "other")
    svc.by_name.comment(ADMIN, "mine", "comment on mine")
    svc.by_name.comment(ADMIN, "other", "comment on other")
    ada = svc.people.create(
        ADMIN, first_name="Ada", last_name="L", email="ada@example.org", password="Good-pass-12"
    )
    svc.people.assign(ADMIN, "ada@example.org", ["mine"])
    end_user = Actor(user_id=ada.user_id, username="ada@example.org", role=Role.END_USER)
    assert list(svc.by_name.latest_comments(end_user, [mine, other])) == [mine]
    branch_op = branch_operator(svc)
    assert svc.by_name.latest_comments(branch_op, [mine, other]) == {}
    assert sorted(svc.by_name.latest_comments(ADMIN, [mine, other])) == sorted([mine, other])
    nobody = Actor(user_id=None, username="x", role=Role.END_USER)
    with pytest.raises(PermissionDenied):
        svc.by_name.latest_comments(nobody, [])  # refused before it even looks at the ids


# ------------------------------------------------------------------ removal


def test_offline_computers_are_removed_by_name_audited_and_the_hub_told(
    svc: Services, notifier: RecordingNotifier
) -> None:
    one = factories.computer(svc, ADMIN, "one")
    two = factories.computer(svc, ADMIN, "two")
    keep = factories.computer(svc, ADMIN, "keep")
    uids = {c.id: c.uid for c in svc.computers.find(ADMIN, Query(limit=None)).items}
    op = factories.user(svc, Role.OPERATOR)
    mark = factories.audit_mark(svc)
    assert svc.by_name.remove_offline(op, ["two", "one", "two"]) == sorted([one, two])
    assert ids(svc) == [keep]
    assert notifier.deleted == sorted([one, two])
    [(action, kind, object_id, result, detail)] = factories.audited(svc, mark)
    assert (action, kind, result) == ("computer.remove", "computer", "ok")
    assert sorted(int(i) for i in object_id.split(",")) == sorted([one, two])
    assert detail == {"hostnames": ["one", "two"], "uids": sorted([uids[one], uids[two]])}


def test_an_online_computer_refuses_the_whole_removal(svc: Services, notifier: RecordingNotifier) -> None:
    a = factories.computer(svc, ADMIN, "a")
    b = factories.computer(svc, ADMIN, "b")
    c = factories.computer(svc, ADMIN, "c")
    svc.computers.set_online(c, node_id="n1", remote_address="127.0.0.1", agent_version="1")
    svc.computers.set_online(b, node_id="n1", remote_address="127.0.0.1", agent_version="1")
    mark = factories.audit_mark(svc)
    with pytest.raises(Conflict) as err:
        svc.by_name.remove_offline(ADMIN, ["c", "a", "b"])
    assert (err.value.message, err.value.detail) == (
        "b is online; only offline computers can be removed",
        {"field": "computer_names", "reason": "online", "names": ["b", "c"]},
    )
    assert factories.audited(svc, mark) == [
        (
            "computer.remove",
            "computer",
            "",
            "conflict",
            {"error": "b is online; only offline computers can be removed"},
        )
    ]
    assert ids(svc) == sorted([a, b, c])
    assert notifier.deleted == []


def test_a_removal_needs_names_known_ones_and_the_permission(
    svc: Services, notifier: RecordingNotifier
) -> None:
    a = factories.computer(svc, ADMIN, "a")
    with pytest.raises(ValidationFailed) as err:
        svc.by_name.remove_offline(ADMIN, [])
    assert (err.value.message, err.value.detail) == (
        "name the computers",
        {"field": "computer_names", "reason": "required_missing"},
    )
    with pytest.raises(NotFound, match=r"^computer ghost not found$"):
        svc.by_name.remove_offline(ADMIN, ["a", "ghost"])
    with pytest.raises(ValidationFailed, match=r"^computer names must not be empty$"):
        svc.by_name.remove_offline(ADMIN, ["a", " "])
    viewer = factories.user(svc, Role.VIEWER, "vic")
    mark = factories.audit_mark(svc)
    with pytest.raises(PermissionDenied, match=r"^vic \(viewer\) lacks permission manage_computers$"):
        svc.by_name.remove_offline(viewer, ["a"])
    assert [(r[0], r[3]) for r in factories.audited(svc, mark)] == [("computer.remove", "denied")]
    assert ids(svc) == [a]
    assert notifier.deleted == []
