"""Every request example of RemotePC's documentation (the Dutch seed), sent as written (trailing
commas included) to a fleet that matches the samples, and every error sample the API can be
brought to answer, with the sample's description."""

from __future__ import annotations

import json
from typing import Any

import pytest

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from tests.dialects.remotepc import world
from tests.dialects.remotepc.conftest import Inbox, RemotePc
from tests.dialects.remotepc.seed import Section, sections

SECTIONS = {s.path: s for s in sections()}
EXAMPLES = [(s.path, i) for s in SECTIONS.values() for i in range(len(s.requests))]

DEVICE_KEYS = {
    "machine_id",
    "host_name",
    "host_os_version",
    "host_ip",
    "viewer_last_session_time",
    "comments",
    "host_os_text",
    "host_status_text",
}

# what each example answers in world.build's fleet (None: checked in ``check`` below)
EXPECTED: dict[str, tuple[int, Any]] = {
    # shane is an active user already: the sample's own answer lists him as invalid
    "user/invite": (200, {"invalid_list": ["shane@myworld"], "invited_list": []}),
    "user/create": (400, ["Email is already in use or already invited."]),
    "user/delete": (
        200,
        {
            "active_user_delete_status": {
                "diane@myworld": "SUCCESS",
                "pam@myworld": "FAILED",
                "bill@myworld": "FAILED",
            },
            "invited_user_delete_status": {"jamie@myworld": "SUCCESS"},
        },
    ),
    "user/list": (200, None),
    "computer/assign": (200, "SUCCESS"),
    "computer/unassign": (200, "SUCCESS"),
    "computer/group/create": (200, "SUCCESS"),
    "computer/remove": (200, "SUCCESS"),
    "computer/comments/add": (200, "SUCCESS"),
    "computer/list": (200, None),
    # no group yet: the sample's error
    "computer/group/move": (400, ["Group name does not exists"]),
}


def send(rpc: RemotePc, section: Section, raw: str) -> Any:
    if section.method == "GET":
        return rpc.client.request(
            "GET", "/rpcnew/api/msp/" + section.path, content=raw, headers=rpc.headers()
        )
    return rpc.post(section.path, content=raw)


def test_the_seed_has_every_documented_endpoint() -> None:
    assert len(SECTIONS) == 11
    assert set(SECTIONS) == set(EXPECTED)
    assert all(s.requests for s in SECTIONS.values())


@pytest.mark.parametrize(("path", "index"), EXAMPLES, ids=[f"{p}#{i + 1}" for p, i in EXAMPLES])
def test_request_example(
    rpc: RemotePc, runtime: Runtime, admin: Actor, smtp: Inbox, path: str, index: int
) -> None:
    world.build(runtime, admin, invite=True)
    section = SECTIONS[path]
    raw = section.requests[index]
    r = send(rpc, section, raw)
    status, expected = EXPECTED[path]
    if status != 200:
        assert rpc.error(r, status) == expected
        return
    message = rpc.ok(r)
    if expected is not None:
        assert message == expected
    elif path == "user/list":
        assert list(message) == ["pagination", "users"]
        assert message["pagination"] == {
            "records_per_page": 30,
            "total_records": 2,
            "total_page_count": 1,
            "current_page_index": 1,
        }
        assert message["users"] == [
            {"firstname": "Shane", "username": "shane@myworld", "lastname": "Myworld"},
            {"firstname": "Diane", "username": "diane@myworld", "lastname": "Myworld"},
        ]
    else:  # computer/list
        assert list(message) == ["devices", "pagination"]
        assert message["pagination"]["records_per_page"] == 30
        assert message["pagination"]["total_records"] == 2
        assert [d["host_name"] for d in message["devices"]] == ["Computer A", "Computer B"]
        for device in message["devices"]:
            assert set(device) == DEVICE_KEYS
            assert all(isinstance(v, str) for v in device.values())
            assert device["host_status_text"] == "Offline"


def test_examples_leave_their_trace(rpc: RemotePc, runtime: Runtime, admin: Actor, smtp: Inbox) -> None:
    """The examples in the documentation's order do what they say: assigned, grouped,
    commented, moved, removed."""
    ids = world.build(runtime, admin, invite=True)
    s = runtime.services
    for path in ("computer/assign", "computer/group/create", "computer/comments/add", "computer/group/move"):
        rpc.ok(send(rpc, SECTIONS[path], SECTIONS[path].requests[0]))
    shane = ids["shane@myworld"]
    assert s.people.assigned(admin, shane) == sorted([ids["Computer A"], ids["Computer B"]])
    detail = s.computers.get(admin, ids["Computer A"])
    assert [g.name for g in detail.groups] == ["Group A"]
    assert (
        s.by_name.latest_comments(admin, [ids["Computer A"]])[ids["Computer A"]].text == "This is my computer"
    )
    rpc.ok(send(rpc, SECTIONS["computer/remove"], SECTIONS["computer/remove"].requests[0]))
    assert s.computers.exists([ids["Computer A"], ids["Computer B"]]) == set()


# (path, a request that brings the sample's error) for every error sample fleetdeck can answer;
# the two INTERNAL_SERVER_ERROR samples (invite, delete) need a server failure.
ERROR_REQUESTS: dict[str, dict[str, Any]] = {
    "user/create": {"firstname": "A", "lastname": "B", "username": "shane@myworld", "password": "secret1"},
    "user/list": {"pageIndex": 0},
    "computer/assign": {"username": "shane@myworld", "computer_names": [""]},
    "computer/unassign": {"username": "shane@myworld"},
    "computer/remove": {},
    "computer/comments/add": {"computer_name": "", "comment_desc": "This is my computer"},
    "computer/list": {"pageIndex": 9},
    "computer/group/move": {"group_name": "Group A", "computer_names": ["Computer A"]},
}


@pytest.mark.parametrize("path", sorted(ERROR_REQUESTS))
def test_error_sample(rpc: RemotePc, runtime: Runtime, admin: Actor, path: str) -> None:
    world.build(runtime, admin)
    section = SECTIONS[path]
    r = send(rpc, section, json.dumps(ERROR_REQUESTS[path]))
    assert rpc.error(r, 400) == section.error_descriptions
    assert r.json()["status"] == "BAD_REQUEST"


def test_group_exists_sample(rpc: RemotePc, runtime: Runtime, admin: Actor) -> None:
    world.build(runtime, admin)
    section = SECTIONS["computer/group/create"]
    rpc.ok(send(rpc, section, section.requests[0]))
    assert rpc.error(send(rpc, section, section.requests[0])) == section.error_descriptions
