"""Every validation rule and limit of RemotePC's API, with its English text and status."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.query import Query
from tests import factories
from tests.dialects.remotepc import world
from tests.dialects.remotepc.conftest import RemotePc

GOOD_USER = {"firstname": "Ann", "lastname": "Lee", "username": "ann@example.org", "password": "secret1"}
PASSWORD_CHARS = "Password can contain A-Z, a-z, 0-9 and ~`!@#$%^&*()-_+={}|[];\\'\"<>,.?/"


@pytest.mark.parametrize(
    ("change", "texts"),
    [
        ({"firstname": ""}, ["First name cannot be blank"]),
        ({"firstname": "  "}, ["First name cannot be blank"]),
        ({"firstname": "Ann1"}, ["First name can contain a-z, A-Z and space"]),
        ({"lastname": None}, ["Last name cannot be blank"]),
        ({"lastname": "O'Neil"}, ["Last name can contain a-z, A-Z and space"]),
        ({"username": ""}, ["Username/Email cannot be blank"]),
        ({"username": "ann"}, ["Enter a valid Username/Email"]),
        ({"username": "ann@@x"}, ["Enter a valid Username/Email"]),
        ({"password": ""}, ["Password cannot be blank"]),
        ({"password": "abc12"}, ["Password should be between 6 - 20 characters"]),
        ({"password": "a" * 21}, ["Password should be between 6 - 20 characters"]),
        ({"password": "secret 1"}, [PASSWORD_CHARS]),
        ({"password": "sécret1"}, [PASSWORD_CHARS]),
        ({"password": "a:b"}, [PASSWORD_CHARS, "Password should be between 6 - 20 characters"]),
        ({"status_2FA": 2}, ["Invalid two factor status"]),
        ({"status_2FA": "on"}, ["Invalid two factor status"]),
        (
            {"firstname": "", "lastname": "", "username": "", "password": "", "status_2FA": 5},
            [
                "First name cannot be blank",
                "Last name cannot be blank",
                "Username/Email cannot be blank",
                "Password cannot be blank",
                "Invalid two factor status",
            ],
        ),
    ],
)
def test_create_user_rules(rpc: RemotePc, change: dict[str, Any], texts: list[str]) -> None:
    body = {**GOOD_USER, **change}
    assert rpc.error(rpc.post("user/create", body)) == texts


def test_create_user_edges_pass(rpc: RemotePc, runtime: Runtime, admin: Actor) -> None:
    rpc.ok(rpc.post("user/create", {**GOOD_USER, "password": "~`!@#$", "status_2FA": 1}))
    rpc.ok(rpc.post("user/create", {**GOOD_USER, "username": "b@example.org", "password": "A" * 20}))
    page = runtime.services.people.find(admin, 10, 0)
    assert [(u.email, u.two_factor) for u in page.items] == [
        ("ann@example.org", True),
        ("b@example.org", False),
    ]
    # the end user logs in with the e-mail address and that password
    actor = runtime.services.users.authenticate_password("ann@example.org", "~`!@#$", "127.0.0.1", "test")
    assert actor.role.value == "end_user"


def test_email_taken_by_an_admin_account(rpc: RemotePc, runtime: Runtime) -> None:
    factories.user(runtime.services, Role.ADMIN, "boss@example.org")
    r = rpc.post("user/create", {**GOOD_USER, "username": "Boss@Example.org"})
    assert rpc.error(r) == ["Email in use with other Admin"]


def test_invite_rules(rpc: RemotePc) -> None:
    assert rpc.error(rpc.post("user/invite", {"email": []})) == ["Username/Email cannot be blank"]
    assert rpc.error(rpc.post("user/invite", {})) == ["Username/Email cannot be blank"]
    assert rpc.error(rpc.post("user/invite", {"email": ["a@b"], "status_2FA": 3})) == [
        "Invalid two factor status"
    ]
    assert rpc.error(rpc.post("user/invite", {"email": [1]})) == ["Invalid parameters"]
    sso = rpc.error(rpc.post("user/invite", {"email": ["a@b"], "sso_flag": 1}))
    assert sso[0].startswith("SSO must be configured on the Administrator account first")


def test_invite_without_mail_server_is_a_clear_failure(rpc: RemotePc) -> None:
    texts = rpc.error(rpc.post("user/invite", {"email": ["a@example.org"]}), 500)
    assert texts[0] == "FAILED"
    assert "smtp.host" in texts[1]


def test_delete_needs_its_lists(rpc: RemotePc) -> None:
    assert rpc.error(rpc.post("user/delete", {})) == ["Invalid parameters"]
    assert rpc.error(rpc.post("user/delete", {"sub_ids": "x", "invited_ids": 5})) == ["Invalid parameters"]
    assert rpc.ok(rpc.post("user/delete", {"sub_ids": [], "invited_ids": []})) == {
        "active_user_delete_status": {},
        "invited_user_delete_status": {},
    }


def test_delete_is_per_address_and_never_removes_an_admin(
    rpc: RemotePc, runtime: Runtime, admin: Actor
) -> None:
    world.end_user(runtime, admin, "ann@example.org")
    message = rpc.ok(
        rpc.post("user/delete", {"sub_ids": ["ann@example.org", "admin"], "invited_ids": ["x@y"]})
    )
    assert message == {
        "active_user_delete_status": {"ann@example.org": "SUCCESS", "admin": "FAILED"},
        "invited_user_delete_status": {"x@y": "FAILED"},
    }
    assert runtime.services.users.get_by_name("admin") is not None
    assert runtime.services.users.get_by_name("ann@example.org") is None


@pytest.mark.parametrize("path", ["user/list", "computer/list"])
def test_pagination(rpc: RemotePc, runtime: Runtime, admin: Actor, path: str) -> None:
    for k in range(5):
        world.end_user(runtime, admin, f"u{k}@example.org")
        factories.computer(runtime.services, admin, f"pc-{k}")
    key = "users" if path == "user/list" else "devices"
    first = rpc.ok(rpc.get(path, {"pageIndex": 1, "recordPerPage": 2}))
    assert first["pagination"] == {
        "records_per_page": 2,
        "total_records": 5,
        "total_page_count": 3,
        "current_page_index": 1,
    }
    last = rpc.ok(rpc.get(path, body={"pageIndex": 3, "recordPerPage": 2}))  # as a GET body
    assert len(first[key]) == 2
    assert len(last[key]) == 1
    assert last["pagination"]["current_page_index"] == 3
    whole = rpc.ok(rpc.get(path))
    assert whole["pagination"]["records_per_page"] == 500
    assert len(whole[key]) == 5
    for index in (0, -1, 4, "x", 1.5):
        assert rpc.error(rpc.get(path, body={"pageIndex": index, "recordPerPage": 2})) == [
            "Invalid page index"
        ]
    assert rpc.error(rpc.get(path, {"pageIndex": "abc"})) == ["Invalid page index"]
    for size in (0, 501, "many"):
        assert rpc.error(rpc.get(path, {"recordPerPage": size})) == ["Invalid parameters"]
    assert rpc.ok(rpc.get(path, {"recordPerPage": 500}))["pagination"]["records_per_page"] == 500


def test_empty_lists_have_page_one(rpc: RemotePc) -> None:
    message = rpc.ok(rpc.get("computer/list"))
    assert message["devices"] == []
    assert message["pagination"]["total_page_count"] == 0
    assert rpc.error(rpc.get("computer/list", {"pageIndex": 2})) == ["Invalid page index"]


@pytest.mark.parametrize("path", ["computer/assign", "computer/unassign"])
def test_assignment_rules(rpc: RemotePc, runtime: Runtime, admin: Actor, path: str) -> None:
    world.build(runtime, admin)
    world.twins(runtime, admin, "Twin")
    u = "shane@myworld"
    cases: list[tuple[dict[str, Any], int, list[str]]] = [
        ({"computer_names": ["Computer A"]}, 400, ["Username is required"]),
        ({"username": " ", "computer_names": ["Computer A"]}, 400, ["Username is required"]),
        ({"username": u}, 400, ["Computer names are not found in the request"]),
        ({"username": u, "computer_names": []}, 400, ["Computer names are not found in the request"]),
        ({"username": u, "computer_names": 7}, 400, ["Computer names are not found in the request"]),
        ({"username": u, "computer_names": [""]}, 400, ["Computer name can not be blank"]),
        ({"username": "nobody@x", "computer_names": ["Computer A"]}, 404, ["User not found"]),
        ({"username": "admin", "computer_names": ["Computer A"]}, 404, ["User not found"]),
        ({"username": u, "computer_names": ["Computer A", "Computer Z"]}, 404, ["Computer(s) not found"]),
        ({"username": u, "computer_names": ["computer a"]}, 404, ["Computer(s) not found"]),
        ({"username": u, "computer_names": ["Twin"]}, 400, ["Computer name is not unique: Twin"]),
    ]
    for body, status, texts in cases:
        assert rpc.error(rpc.post(path, body), status) == texts, body


def test_assign_is_all_or_nothing_and_unassign_undoes_it(
    rpc: RemotePc, runtime: Runtime, admin: Actor
) -> None:
    ids = world.build(runtime, admin)
    shane = ids["shane@myworld"]
    rpc.error(
        rpc.post("computer/assign", {"username": "shane@myworld", "computer_names": ["Computer A", "Nope"]}),
        404,
    )
    assert runtime.services.people.assigned(admin, shane) == []
    body = {"username": "Shane@MyWorld", "computer_names": ["Computer A", "Computer A"]}
    rpc.ok(rpc.post("computer/assign", body))
    rpc.ok(rpc.post("computer/assign", body))  # again: nothing changes
    assert runtime.services.people.assigned(admin, shane) == [ids["Computer A"]]
    rpc.ok(rpc.post("computer/unassign", body))
    assert runtime.services.people.assigned(admin, shane) == []


def test_group_rules(rpc: RemotePc, runtime: Runtime, admin: Actor) -> None:
    world.build(runtime, admin)
    create, move = "computer/group/create", "computer/group/move"
    assert rpc.error(rpc.post(create, {})) == ["Group name can not be blank"]
    assert rpc.error(rpc.post(create, {"group_name": "  "})) == ["Group name can not be blank"]
    assert rpc.error(rpc.post(create, {"group_name": "x" * 101})) == ["Invalid group name"]
    assert rpc.error(rpc.post(create, {"group_name": "a\nb"})) == ["Invalid group name"]
    assert rpc.error(rpc.post(create, {"group_name": "G", "computer_names": ["Nope"]}), 404) == [
        "Computer(s) not found"
    ]
    rpc.ok(rpc.post(create, {"group_name": "Group A"}))  # no computers: optional
    assert rpc.error(rpc.post(create, {"group_name": "group a"})) == ["Group name is already exists"]
    assert rpc.error(rpc.post(move, {"group_name": "Group A"})) == [
        "Computer names are not found in the request"
    ]
    assert rpc.error(rpc.post(move, {"group_name": "", "computer_names": ["Computer A"]})) == [
        "Group name can not be blank"
    ]
    assert rpc.error(rpc.post(move, {"group_name": "x" * 101, "computer_names": ["Computer A"]})) == [
        "Invalid group name"
    ]
    assert rpc.error(rpc.post(move, {"group_name": "Group B", "computer_names": ["Computer A"]})) == [
        "Group name does not exists"
    ]


def test_a_computer_is_in_one_flat_group(rpc: RemotePc, runtime: Runtime, admin: Actor) -> None:
    ids = world.build(runtime, admin)
    s = runtime.services
    other = factories.group(s, admin, "ordinary", [ids["Computer A"]])  # not a flat group: kept
    rpc.ok(rpc.post("computer/group/create", {"group_name": "Group A", "computer_names": ["Computer A"]}))
    rpc.ok(rpc.post("computer/group/create", {"group_name": "Group B", "computer_names": ["Computer A"]}))
    names = sorted(g.name for g in s.computers.get(admin, ids["Computer A"]).groups)
    assert names == ["Group B", "ordinary"]
    rpc.ok(rpc.post("computer/group/move", {"group_name": "Group A", "computer_names": ["Computer A"]}))
    names = sorted(g.name for g in s.computers.get(admin, ids["Computer A"]).groups)
    assert names == ["Group A", "ordinary"]
    # adding through the own API to a flat group keeps the rule too
    flat_b = next(g.id for g in s.groups.find(admin, Query()).items if g.name == "Group B")
    s.groups.add_members(admin, flat_b, [ids["Computer A"]])
    names = sorted(g.name for g in s.computers.get(admin, ids["Computer A"]).groups)
    assert names == ["Group B", "ordinary"]
    assert s.groups.members(admin, other) == [ids["Computer A"]]


def test_remove_rules(rpc: RemotePc, runtime: Runtime, admin: Actor) -> None:
    ids = world.build(runtime, admin)
    s = runtime.services
    assert rpc.error(rpc.post("computer/remove", {})) == ["Computer names are not found in the request"]
    assert rpc.error(rpc.post("computer/remove", {"computer_names": [""]})) == [
        "Computer name can not be blank"
    ]
    many = [f"pc-{k}" for k in range(51)]
    assert rpc.error(rpc.post("computer/remove", {"computer_names": many})) == ["Computer limit exceeded"]
    assert rpc.error(rpc.post("computer/remove", {"computer_names": ["Nope"]}), 404) == [
        "Computer(s) not found"
    ]
    s.computers.set_online(ids["Computer B"], node_id="test", remote_address="127.0.0.1", agent_version="1")
    texts = rpc.error(rpc.post("computer/remove", {"computer_names": ["Computer A", "Computer B"]}))
    assert texts == ["Only offline computers can be removed: Computer B"]
    assert s.computers.exists([ids["Computer A"]]) == {ids["Computer A"]}  # all or nothing
    fifty = [f"pc-{k}" for k in range(50)]
    for name in fifty:
        factories.computer(s, admin, name)
    rpc.ok(rpc.post("computer/remove", {"computer_names": fifty}))
    assert rpc.ok(rpc.get("computer/list"))["pagination"]["total_records"] == 2


def test_comment_rules(rpc: RemotePc, runtime: Runtime, admin: Actor) -> None:
    ids = world.build(runtime, admin)
    path = "computer/comments/add"
    assert rpc.error(rpc.post(path, {"comment_desc": "long enough"})) == ["Computer name can not be blank"]
    assert rpc.error(rpc.post(path, {"computer_name": "Computer A"})) == ["Comment can not be blank"]
    assert rpc.error(rpc.post(path, {"computer_name": "Computer A", "comment_desc": "   "})) == [
        "Comment can not be blank"
    ]
    for text in ("12345", "x" * 251):
        assert rpc.error(rpc.post(path, {"computer_name": "Computer A", "comment_desc": text})) == [
            "Comment length should be between 6 and 250"
        ]
    assert rpc.error(rpc.post(path, {"computer_name": "Nope", "comment_desc": "123456"}), 404) == [
        "Computer not found"
    ]
    rpc.ok(rpc.post(path, {"computer_name": "Computer A", "comment_desc": "123456"}))
    rpc.ok(rpc.post(path, {"computer_name": "Computer A", "comment_desc": "y" * 250}))
    newest = runtime.services.by_name.latest_comments(admin, [ids["Computer A"]])[ids["Computer A"]]
    assert (newest.text, newest.author) == ("y" * 250, "remotepc api key")
    devices = rpc.ok(rpc.get("computer/list"))["devices"]
    assert devices[0]["comments"] == "y" * 250


def test_user_devices(rpc: RemotePc, runtime: Runtime, admin: Actor) -> None:
    world.build(runtime, admin)
    assert rpc.error(rpc.get("user/devices")) == ["Username is required"]
    assert rpc.error(rpc.get("user/devices", {"username": "nobody@x"}), 404) == ["User not found"]
    rpc.ok(rpc.post("computer/assign", {"username": "shane@myworld", "computer_names": ["Computer B"]}))
    message = rpc.ok(rpc.get("user/devices", {"username": "shane@myworld"}))
    assert [d["host_name"] for d in message["devices"]] == ["Computer B"]
    assert message["pagination"]["total_records"] == 1
    assert rpc.ok(rpc.get("user/devices", {"username": "diane@myworld"}))["devices"] == []


def test_web_viewer_link(rpc: RemotePc, runtime: Runtime, admin: Actor) -> None:
    """A one-time link to the computer's desktop page that opens it without a login, used up
    by one view (the view itself, through a real agent and VNC server: tests/e2e/test_desktop_e2e.py)."""
    cid = world.build(runtime, admin)["Computer A"]
    devices = rpc.ok(rpc.get("computer/list"))["devices"]
    uid = next(d["machine_id"] for d in devices if d["host_name"] == "Computer A")
    assert rpc.error(rpc.post("computer/get/connectUrl", {"username": "a@b"})) == ["machine_id is required"]
    assert rpc.error(rpc.post("computer/get/connectUrl", {"machine_id": 5})) == ["Invalid parameters"]
    assert rpc.error(rpc.post("computer/get/connectUrl", {"machine_id": "nope"}), 404) == [
        "Computer not found"
    ]
    message = rpc.ok(rpc.post("computer/get/connectUrl", {"machine_id": uid, "username": "a@b"}))
    assert set(message) == {"url", "expires_in"} and message["expires_in"] == 300
    url = httpx.URL(message["url"])
    assert url.path == f"/computers/{cid}/desktop"
    token = url.params["link"]
    page = rpc.client.get(url.path, params={"link": token}, follow_redirects=False)  # no session
    assert page.status_code == 200 and "Desktop of Computer A" in page.text
    assert rpc.client.get(url.path, params={"link": "made-up"}, follow_redirects=False).status_code == 404
    desktops = runtime.services.desktops
    assert desktops.redeem(token, cid + 1) is None  # another computer's page: not used up
    found = desktops.redeem(token, cid)
    assert found is not None and found[0].username == "remotepc api key" and found[1] == 5900
    assert desktops.redeem(token, cid) is None  # once
    assert rpc.client.get(url.path, params={"link": token}, follow_redirects=False).status_code == 404
