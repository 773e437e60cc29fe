"""The admin pages run the same number of SQL statements with 1 and with 12 of everything they
list (no N+1): groups (the tree, a group's page with its members and subgroups), reports (the
list, filtered by a report group, a report's page), report groups (the list, one with its reports
and subgroups), settings, and the computers list with its group select. Counted with
SQLAlchemy's ``before_cursor_execute`` on the real engine, through the real application."""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from fastapi.testclient import TestClient

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from tests import factories
from tests.integration.queries.test_list_query_counts import counting
from tests.web.conftest import login


def test_admin_pages_run_a_constant_number_of_queries(
    client: TestClient, runtime: Runtime, alice: Actor, admin: Actor
) -> None:
    s = runtime.services
    top = factories.group(s, alice, "top")
    top_reports = s.reports.groups.create(admin, "reports")
    first = s.reports.create(admin, "report 0", "SELECT 1", group_id=top_reports.id)
    login(client, "admin", "admin-password-1")
    pages = ("/groups", f"/groups/{top}", "/reports", f"/reports/{first.id}", "/settings", "/computers")
    pages += ("/report-groups", f"/report-groups/{top_reports.id}", f"/reports?group={top_reports.id}")

    size = [0]

    def grow(to: int) -> None:
        while size[0] < to:
            k = size[0]
            size[0] += 1
            cid = factories.computer(s, alice, f"pc-{k:02d}", macs=[f"52:54:00:00:00:{k:02x}"])
            s.groups.add_members(alice, top, [cid])
            s.groups.create(alice, f"sub {k}", parent_id=top)
            s.reports.create(admin, f"report {k + 1}", "SELECT 1", group_id=top_reports.id)
            s.reports.groups.create(admin, f"reports {k}", parent_id=top_reports.id)
            s.settings.set(admin, "wol.port", 9 + k)

    def counts() -> dict[str, int]:
        found = {}
        for path in pages:
            with counting(runtime.db) as statements:
                assert client.get(path).status_code == 200, path
            found[path] = len(statements)
        return found

    grow(1)
    one = counts()
    grow(11)
    assert counts() == one
    assert all(n >= 2 for n in one.values()), one  # the session check and the page's reads


def test_user_pages_run_a_constant_number_of_queries(
    client: TestClient, runtime: Runtime, alice: Actor, admin: Actor
) -> None:
    """A user's page and its delete confirmation list the user's API tokens: 1 or 12 of them,
    the same statements."""
    s = runtime.services
    login(client, "admin", "admin-password-1")
    pages = ("/users", f"/users/{alice.user_id}", f"/users/{alice.user_id}/delete")

    def counts() -> dict[str, int]:
        found = {}
        for path in pages:
            with counting(runtime.db) as statements:
                assert client.get(path).status_code == 200, path
            found[path] = len(statements)
        return found

    s.users.create_token(alice, "token 0", "read", None)
    one = counts()
    for k in range(1, 12):
        s.users.create_token(alice, f"token {k}", "read", None)
    assert counts() == one
