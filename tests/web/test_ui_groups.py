"""The UI's group pages through HTTP: the tree, create (top level and below a parent), rename
and move, delete (refused while it has subgroups), members added by name and removed; each
change read back from core with its audit record (``via`` = ``web``); field errors; CSRF; a
viewer sees no write action and core refuses the forged form."""

from __future__ import annotations

import re
import warnings

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from fastapi.testclient import TestClient

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from fleetdeck.core.query import Query
from tests import factories
from tests.web.conftest import login


def _tree(html: str) -> list[tuple[int, int]]:
    """(group id, depth) of the tree's entries, in page order."""
    body = html.split('id="group-tree"', 1)[1].split("</div>", 1)[0]
    return [(int(i), int(d)) for i, d in re.findall(r'<li data-id="(\d+)" style="--depth: (\d+)"', body)]


def _members(html: str) -> list[int]:
    body = html.split('id="members"', 1)[1].split("</table>", 1)[0]
    return [int(x) for x in re.findall(r'<tr data-id="(\d+)"', body)]


def _group_by_name(runtime: Runtime, actor: Actor, name: str) -> int:
    found = [g for g in runtime.services.groups.find(actor, Query(limit=None)).items if g.name == name]
    assert len(found) == 1, found
    return found[0].id


def test_group_tree_create_rename_move_delete(client: TestClient, runtime: Runtime, alice: Actor) -> None:
    csrf = login(client, "alice")
    mark = factories.audit_mark(runtime.services)
    r = client.post("/groups", data={"csrf_token": csrf, "name": "Berlin", "parent": "", "description": "HQ"})
    assert r.status_code == 200 and "Group created." in r.text
    berlin = _group_by_name(runtime, alice, "Berlin")
    r = client.post("/groups", data={"csrf_token": csrf, "name": "Lab", "parent": str(berlin)})
    lab = _group_by_name(runtime, alice, "Lab")
    assert runtime.services.groups.get(alice, lab).parent_id == berlin
    client.post("/groups", data={"csrf_token": csrf, "name": "Annex", "parent": ""})
    annex = _group_by_name(runtime, alice, "Annex")
    # the tree: parents before children, siblings by name, children indented
    page = client.get("/groups").text
    assert _tree(page) == [(annex, 0), (berlin, 0), (lab, 1)]
    # a nested list: the child is inside its parent's entry (screen readers tell the levels)
    assert re.search(
        rf'<li data-id="{berlin}"[^>]*>(?:(?!</li>).)*<ul class="tree">\s*<li data-id="{lab}"', page, re.S
    )
    # the detail page: its place in the tree, and the parent choices exclude itself and below
    detail = client.get(f"/groups/{berlin}").text
    assert f'<a href="/groups/{lab}">Lab</a>' in detail  # subgroup
    parents = re.findall(r'<option value="(\d+)"', detail.split('id="parent"', 1)[1].split("</select>", 1)[0])
    assert parents == [str(annex)]
    # rename and move below Annex
    r = client.post(
        f"/groups/{lab}", data={"csrf_token": csrf, "name": "Lab 2", "parent": str(annex), "description": ""}
    )
    assert r.status_code == 200 and "Group saved." in r.text
    info = runtime.services.groups.get(alice, lab)
    assert (info.name, info.parent_id) == ("Lab 2", annex)
    assert f'<a href="/groups/{annex}">Annex</a></li><li>Lab 2</li>' in r.text  # breadcrumb
    # a group with subgroups is not deleted; the reason is on the page
    r = client.post(f"/groups/{annex}/delete", data={"csrf_token": csrf})
    assert r.status_code == 409 and 'id="delete-error"' in r.text and "has subgroups" in r.text
    r = client.post(f"/groups/{lab}/delete", data={"csrf_token": csrf})
    assert r.status_code == 200 and "Group deleted." in r.text
    assert _tree(r.text) == [(annex, 0), (berlin, 0)]
    actions = [(a.action, a.via, a.username) for a in factories.audit_since(runtime.services, mark)]
    assert [a for a, *_ in actions if a.startswith("group.")] == [
        "group.create",
        "group.create",
        "group.create",
        "group.update",
        "group.delete",
        "group.delete",
    ]
    results = [a.result for a in factories.audit_since(runtime.services, mark) if a.action == "group.delete"]
    assert results == ["conflict", "ok"]
    assert all(v == "web" and u == "alice" for a, v, u in actions if a.startswith("group."))


def test_members_added_by_name_and_removed(client: TestClient, runtime: Runtime, alice: Actor) -> None:
    ids = [factories.computer(runtime.services, alice, f"pc{n}") for n in range(3)]
    gid = factories.group(runtime.services, alice, "Lab")
    csrf = login(client, "alice")
    r = client.post(f"/groups/{gid}/members", data={"csrf_token": csrf, "hostnames": "pc0\npc2, pc0"})
    assert r.status_code == 200 and "Group added 2 computers." in r.text
    assert runtime.services.groups.members(alice, gid) == [ids[0], ids[2]]
    assert _members(r.text) == [ids[0], ids[2]]
    # an unknown name: nothing added, the name said next to the field
    r = client.post(f"/groups/{gid}/members", data={"csrf_token": csrf, "hostnames": "pc1 nosuch"})
    assert (
        r.status_code == 400 and 'id="hostnames-error"' in r.text and "No computer is named nosuch." in r.text
    )
    assert runtime.services.groups.members(alice, gid) == [ids[0], ids[2]]
    r = client.post(f"/groups/{gid}/members", data={"csrf_token": csrf, "hostnames": "  "})
    assert r.status_code == 400 and "Enter the names" in r.text
    # remove with the checkboxes
    r = client.post(
        f"/groups/{gid}/members/remove", data={"csrf_token": csrf, "computer": [str(ids[2]), "bogus"]}
    )
    assert r.status_code == 200 and "Group removed 1 computer." in r.text
    assert runtime.services.groups.members(alice, gid) == [ids[0]]
    r = client.post(f"/groups/{gid}/members/remove", data={"csrf_token": csrf})
    assert r.status_code == 400 and 'id="remove-error"' in r.text
    audit = [a for a in factories.audit_since(runtime.services, 0) if a.via == "web"]
    assert [(a.action, a.detail) for a in audit if a.action.startswith("group.")] == [
        ("group.add_members", {"added": [ids[0], ids[2]]}),
        ("group.remove_members", {"removed": [ids[2]]}),
    ]
    # the group filter of the list shows its members
    listing = client.get(f"/computers?group={gid}").text
    assert "1 computer" in listing and f'data-id="{ids[0]}"' in listing


def test_members_are_paged(client: TestClient, runtime: Runtime, alice: Actor) -> None:
    ids = [factories.computer(runtime.services, alice, f"h{n:03d}") for n in range(55)]
    gid = factories.group(runtime.services, alice, "Big", ids)
    login(client, "alice")
    first = client.get(f"/groups/{gid}").text
    assert "55 computers, page 1 of 2" in first and _members(first) == ids[:50]
    assert _members(client.get(f"/groups/{gid}?page=2").text) == ids[50:]


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"name": ""}, "name", "Enter a name."),
        ({"name": "x" * 256}, "name", "at most 255"),
        ({"parent": "top"}, "parent", "Choose a parent group"),
        ({"parent": "999999"}, "parent", "no longer exists"),
        ({"name": "Taken"}, "name", "already exists"),
        ({"description": "d" * 2001}, "description", "at most 2000"),
    ],
)
def test_bad_group_forms(
    client: TestClient, runtime: Runtime, alice: Actor, fields: dict[str, str], field: str, message: str
) -> None:
    factories.group(runtime.services, alice, "Taken")
    csrf = login(client, "alice")
    r = client.post("/groups", data={"csrf_token": csrf, "name": "New", "parent": "", **fields})
    assert r.status_code == 400
    assert f'id="{field}-error"' in r.text and message in r.text
    assert [g.name for g in runtime.services.groups.find(alice, Query(limit=None)).items] == ["Taken"]


def test_bad_rename_and_missing_group(client: TestClient, runtime: Runtime, alice: Actor) -> None:
    a = factories.group(runtime.services, alice, "A")
    factories.group(runtime.services, alice, "B")
    csrf = login(client, "alice")
    r = client.post(f"/groups/{a}", data={"csrf_token": csrf, "name": "b", "parent": ""})
    assert r.status_code == 400 and 'id="name-error"' in r.text and "already exists" in r.text
    r = client.post(f"/groups/{a}", data={"csrf_token": csrf, "name": "A", "parent": str(a)})
    assert r.status_code == 400 and 'id="parent-error"' in r.text and "below itself" in r.text
    assert runtime.services.groups.get(alice, a).name == "A"
    assert client.get("/groups/999999").status_code == 404
    r = client.post("/groups/999999", data={"csrf_token": csrf, "name": "x", "parent": ""})
    assert r.status_code == 404 and "group 999999 not found" in r.text


def test_viewer_sees_no_write_action_and_is_refused(
    client: TestClient, runtime: Runtime, alice: Actor, victor: Actor
) -> None:
    pc = factories.computer(runtime.services, alice, "pc1")
    gid = factories.group(runtime.services, alice, "Lab", [pc])
    csrf = login(client, "victor")
    listing = client.get("/groups").text
    assert 'href="/groups"' in listing and f'href="/groups/{gid}"' in listing
    assert "<form" not in listing.split('id="main"', 1)[1]
    detail = client.get(f"/groups/{gid}").text
    assert _members(detail) == [pc]
    assert "<form" not in detail.split('id="main"', 1)[1] and 'type="checkbox"' not in detail
    mark = factories.audit_mark(runtime.services)
    forged = [
        ("/groups", {"name": "Mine", "parent": ""}),
        (f"/groups/{gid}", {"name": "Renamed", "parent": ""}),
        (f"/groups/{gid}/delete", {}),
        (f"/groups/{gid}/members", {"hostnames": "pc1"}),
        (f"/groups/{gid}/members/remove", {"computer": str(pc)}),
    ]
    for path, data in forged:
        r = client.post(path, data={"csrf_token": csrf, **data})
        assert r.status_code == 403 and "lacks permission manage_computers" in r.text, path
    denied = [a for a in factories.audit_since(runtime.services, mark) if a.result == "denied"]
    assert len(denied) == len(forged)
    assert runtime.services.groups.get(alice, gid).name == "Lab"
    assert runtime.services.groups.members(alice, gid) == [pc]


def test_group_forms_need_the_csrf_token(client: TestClient, runtime: Runtime, alice: Actor) -> None:
    gid = factories.group(runtime.services, alice, "Lab")
    login(client, "alice")
    for path in ("/groups", f"/groups/{gid}", f"/groups/{gid}/delete", f"/groups/{gid}/members"):
        r = client.post(path, data={"name": "X", "hostnames": "pc"})
        assert r.status_code == 403 and "security token" in r.text, path
    assert runtime.services.groups.get(alice, gid).name == "Lab"


ADMIN_PAGES = ["/groups", "/groups/1", "/reports", "/reports/1", "/reports/1/run", "/reports/1/csv"]
ADMIN_PAGES += ["/reports/sql", "/settings"]


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_admin_pages_need_a_login(client: TestClient, path: str) -> None:
    r = client.get(path, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=" + path


@pytest.mark.parametrize(
    "path",
    [
        "/groups",
        "/groups/1",
        "/groups/1/delete",
        "/groups/1/members",
        "/groups/1/members/remove",
        "/computers/wake",
        "/computers/reboot",
        "/computers/add-to-group",
        "/commands/new",
        "/reports",
        "/reports/1",
        "/reports/1/delete",
        "/reports/1/run",
        "/reports/sql",
        "/settings/wol.port",
        "/settings/wol.port/reset",
    ],
)
def test_admin_forms_without_a_session_change_nothing(
    client: TestClient, runtime: Runtime, path: str
) -> None:
    mark = factories.audit_mark(runtime.services)
    data = {"name": "x", "query": "SELECT 1", "computer": "1", "group": "1", "value": "7", "confirm": "yes"}
    r = client.post(path, data=data, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert factories.audit_since(runtime.services, mark) == []
