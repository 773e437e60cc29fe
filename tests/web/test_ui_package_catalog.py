"""Package families, package groups and dependencies in the UI through HTTP: each change read
back from core with its audit record (``via`` = ``web``); core's refusals (a family with
packages, a taken name, a package depending on itself, a group moved below itself) next to
what caused them; bad input said, never a 500; CSRF; a viewer who reads every page without a
form and whose forged forms core refuses (``denied`` audit records)."""

from __future__ import annotations

import re
import warnings

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from fastapi.testclient import TestClient

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from fleetdeck.core.errors import NotFound
from tests import factories
from tests.web.conftest import login


def _rows(html: str, table: str) -> list[int]:
    body = html.split(f'id="{table}"', 1)[1].split("</table>", 1)[0]
    return [int(x) for x in re.findall(r'<tr data-id="(\d+)"', body)]


def test_families_rename_notes_licences_and_delete(
    client: TestClient, runtime: Runtime, alice: Actor
) -> None:
    s = runtime.services
    tool = factories.package(s, alice, "Tool", "1.0")
    factories.package(s, alice, "Other", "2.0")
    csrf = login(client, "alice")
    listing = client.get("/package-families")
    assert listing.status_code == 200 and f'href="/package-families/{tool.family_id}"' in listing.text
    mark = factories.audit_mark(s)
    data = {"csrf_token": csrf, "name": "Toolbox", "notes": "from the vendor", "license_count": "25"}
    r = client.post(f"/package-families/{tool.family_id}", data=data)
    assert r.status_code == 200 and "Family saved." in r.text
    info = s.packages.get_family(alice, tool.family_id)
    assert (info.name, info.notes, info.license_count) == ("Toolbox", "from the vendor", 25)
    r = client.post(f"/package-families/{tool.family_id}", data={**data, "license_count": ""})
    assert s.packages.get_family(alice, tool.family_id).license_count is None
    for bad, field, message in (
        ({"license_count": "-3"}, "license_count", "whole number"),
        ({"license_count": "many"}, "license_count", "whole number"),
        ({"name": " "}, "name", "cannot be empty"),
        ({"name": "Other"}, "name", "exists"),
    ):
        r = client.post(f"/package-families/{tool.family_id}", data={**data, **bad})
        assert r.status_code == 400 and f'id="{field}-error"' in r.text and message in r.text, bad
    assert s.packages.get_family(alice, tool.family_id).name == "Toolbox"
    r = client.post(f"/package-families/{tool.family_id}/delete", data={"csrf_token": csrf})
    assert r.status_code == 409 and 'id="delete-error"' in r.text and "still has packages" in r.text
    s.packages.delete(alice, tool.id)
    r = client.post(f"/package-families/{tool.family_id}/delete", data={"csrf_token": csrf})
    assert r.status_code == 200 and "family deleted" in r.text
    with pytest.raises(NotFound):
        s.packages.get_family(alice, tool.family_id)
    done = [
        (a.action, a.via, a.result)
        for a in factories.audit_since(s, mark)
        if a.action.startswith("package_f")
    ]
    assert done[0] == ("package_family.update", "web", "ok") and done[-1] == (
        "package_family.delete",
        "web",
        "ok",
    )
    assert client.get("/package-families/424242").status_code == 404


def test_package_groups_and_their_members(client: TestClient, runtime: Runtime, alice: Actor) -> None:
    s = runtime.services
    a = factories.package(s, alice, "A")
    b = factories.package(s, alice, "B")
    c = factories.package(s, alice, "C")
    csrf = login(client, "alice")
    mark = factories.audit_mark(s)
    r = client.post("/package-groups", data={"csrf_token": csrf, "name": "Basics", "description": "every pc"})
    assert r.status_code == 200 and "Done: created." in r.text
    [group] = s.packages.list_groups(alice, all_levels=True)
    gid = group.id
    for p in (a, b, c):
        r = client.post(f"/package-groups/{gid}/members", data={"csrf_token": csrf, "package": str(p.id)})
        assert r.status_code == 200 and "package added" in r.text
    assert [p.id for _, p in s.packages.group_packages(alice, gid)] == [a.id, b.id, c.id]
    page = client.get(f"/package-groups/{gid}")
    assert _rows(page.text, "group-members") == [a.id, b.id, c.id]
    r = client.post(f"/package-groups/{gid}/members/{c.id}/move", data={"csrf_token": csrf, "sequence": "1"})
    assert r.status_code == 200 and [p.id for _, p in s.packages.group_packages(alice, gid)] == [
        c.id,
        a.id,
        b.id,
    ]
    r = client.post(f"/package-groups/{gid}/members/{a.id}/remove", data={"csrf_token": csrf})
    assert [p.id for _, p in s.packages.group_packages(alice, gid)] == [c.id, b.id]
    for path, data, field in (
        (f"/package-groups/{gid}/members", {"package": ""}, "package"),
        (f"/package-groups/{gid}/members", {"package": "424242"}, "package"),
        (f"/package-groups/{gid}/members/{b.id}/move", {"sequence": "0"}, "sequence"),
        (f"/package-groups/{gid}/members/{b.id}/move", {"sequence": "x"}, "sequence"),
    ):
        r = client.post(path, data={"csrf_token": csrf, **data})
        assert r.status_code == 400 and f'id="{field}-error"' in r.text, (path, data)
    # rename, then a subgroup, which its parent cannot be moved below
    r = client.post(
        f"/package-groups/{gid}", data={"csrf_token": csrf, "name": "Base", "parent": "", "description": ""}
    )
    assert r.status_code == 200 and s.packages.get_group(alice, gid).name == "Base"
    r = client.post("/package-groups", data={"csrf_token": csrf, "name": "Extra", "parent": str(gid)})
    sub = next(g for g in s.packages.list_groups(alice, all_levels=True) if g.name == "Extra")
    assert sub.parent_id == gid
    r = client.post(
        f"/package-groups/{gid}", data={"csrf_token": csrf, "name": "Base", "parent": str(sub.id)}
    )
    assert r.status_code == 400 and 'id="parent-error"' in r.text
    assert s.packages.get_group(alice, gid).parent_id is None
    r = client.post("/package-groups", data={"csrf_token": csrf, "name": " "})
    assert r.status_code == 400 and 'id="name-error"' in r.text
    r = client.post(f"/package-groups/{gid}/delete", data={"csrf_token": csrf})
    assert r.status_code == 409 and 'id="delete-error"' in r.text  # it has a subgroup
    client.post(f"/package-groups/{sub.id}/delete", data={"csrf_token": csrf})
    r = client.post(f"/package-groups/{gid}/delete", data={"csrf_token": csrf})
    assert r.status_code == 200 and s.packages.list_groups(alice, all_levels=True) == []
    web = {(a.action, a.result) for a in factories.audit_since(s, mark) if a.via == "web"}
    for action in ("package_group.add_member", "package_group.move_member", "package_group.remove_member"):
        assert (action, "ok") in web, action


def test_dependencies(client: TestClient, runtime: Runtime, alice: Actor) -> None:
    s = runtime.services
    lib = factories.package(s, alice, "lib")
    runtime_pkg = factories.package(s, alice, "runtime")
    app = factories.package(s, alice, "app")
    csrf = login(client, "alice")
    page = client.get(f"/packages/{app.id}")
    assert f'href="/packages/{app.id}/dependencies"' in page.text and "Dependencies (0)" in page.text
    form = client.get(f"/packages/{app.id}/dependencies")
    assert form.status_code == 200 and f'<option value="{app.id}"' not in form.text  # not itself
    mark = factories.audit_mark(s)
    data = {"csrf_token": csrf, "requires": [str(lib.id), str(runtime_pkg.id)]}
    r = client.post(f"/packages/{app.id}/dependencies", data=data)
    assert r.status_code == 200 and "Dependencies saved." in r.text
    assert set(s.packages.get(alice, app.id).package.depends_on) == {lib.id, runtime_pkg.id}
    assert f'<option value="{lib.id}" selected>' in r.text
    [entry] = [a for a in factories.audit_since(s, mark) if a.action == "package.set_dependencies"]
    assert (entry.via, entry.result) == ("web", "ok")
    for requires, message in (
        ([str(app.id)], "cannot depend on itself"),
        (["424242"], "does not exist"),
        (["x"], "Choose packages from the list."),
    ):
        r = client.post(f"/packages/{app.id}/dependencies", data={"csrf_token": csrf, "requires": requires})
        assert r.status_code == 400 and 'id="requires-error"' in r.text and message in r.text, requires
    assert set(s.packages.get(alice, app.id).package.depends_on) == {lib.id, runtime_pkg.id}
    client.post(f"/packages/{app.id}/dependencies", data={"csrf_token": csrf})  # none chosen: none
    assert s.packages.get(alice, app.id).package.depends_on == ()
    assert client.get("/packages/424242/dependencies").status_code == 404


def test_viewer_reads_without_forms_and_core_refuses_forged_ones(
    client: TestClient, runtime: Runtime, alice: Actor, victor: Actor
) -> None:
    s = runtime.services
    p = factories.package(s, alice, "Tool")
    other = factories.package(s, alice, "Other")
    gid = factories.package_group(s, alice, "Basics", [p.id])
    csrf = login(client, "victor")
    for path in (
        "/package-families",
        f"/package-families/{p.family_id}",
        "/package-groups",
        f"/package-groups/{gid}",
        f"/packages/{p.id}/dependencies",
    ):
        page = client.get(path)
        assert page.status_code == 200, path
        assert 'method="post"' not in page.text.split('id="main"', 1)[1], path
    mark = factories.audit_mark(s)
    forged = (
        (f"/package-families/{p.family_id}", {"name": "x", "notes": "", "license_count": ""}),
        (f"/package-families/{p.family_id}/delete", {}),
        ("/package-groups", {"name": "x"}),
        (f"/package-groups/{gid}", {"name": "x"}),
        (f"/package-groups/{gid}/delete", {}),
        (f"/package-groups/{gid}/members", {"package": str(other.id)}),
        (f"/package-groups/{gid}/members/{p.id}/move", {"sequence": "1"}),
        (f"/package-groups/{gid}/members/{p.id}/remove", {}),
        (f"/packages/{p.id}/dependencies", {"requires": [str(other.id)]}),
    )
    for path, data in forged:
        assert client.post(path, data=data).status_code == 403, path  # no CSRF token
        r = client.post(path, data={"csrf_token": csrf, **data})
        assert r.status_code == 403 and "lacks permission manage_packages" in r.text, path
    denied = [a for a in factories.audit_since(s, mark) if a.result == "denied"]
    assert len(denied) == len(forged)
    assert s.packages.get_family(alice, p.family_id).name == "Tool"
    assert [q.id for _, q in s.packages.group_packages(alice, gid)] == [p.id]
