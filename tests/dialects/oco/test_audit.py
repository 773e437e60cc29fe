"""Changes made through OCO's API land in the one audit log, as OCO's: one row per change, with
the user, the action and object core records, ``via="oco"``, and refusals as ``denied``.

(OCO's client API has no method that creates deployment rules; rules are only listed.)
"""

from __future__ import annotations

import base64

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from tests import factories
from tests.dialects.oco.conftest import Oco

Row = tuple[str, str, str, str, str, int | None, str]  # action, object, id, result, user, id, via


def rows(runtime: Runtime, mark: int) -> list[Row]:
    return [
        (r.action, r.object_type, r.object_id, r.result, r.username, r.user_id, r.via)
        for r in factories.audit_since(runtime.services, mark)
    ]


def test_package_deployment_and_group_changes_are_audited_as_oco(
    oco: Oco, runtime: Runtime, admin: Actor
) -> None:
    svc, me = runtime.services, ("admin", admin.user_id, "oco")
    pc = factories.computer(svc, admin, "pc-1", os="Debian", os_version="12", architecture="x86_64")
    group = factories.package_group(svc, admin, "Base")
    installation = factories.installed(svc, admin, pc, factories.package(svc, admin, "Old").id)

    mark = factories.audit_mark(svc)
    setup = base64.b64encode(b"echo hi").decode()
    created = oco.ok(
        "oco.package.create",
        {
            "package_family_name": "App",
            "version": "1.0",
            "install_procedure": "sh setup.sh",
            "files": [{"name": "setup.sh", "content": setup}],
        },
    )
    package = created["id"]
    assert rows(runtime, mark) == [("package.create", "package", package, "ok", *me)]

    mark = factories.audit_mark(svc)
    oco.ok("oco.package.add_to_group", {"package_id": package, "package_group_id": group})
    assert rows(runtime, mark) == [("package_group.add_member", "group", str(group), "ok", *me)]

    mark = factories.audit_mark(svc)
    deployed = oco.ok(
        "oco.job_container.deploy",
        {"name": "roll-out", "computer_ids": [pc], "package_ids": [package], "use_wol": 0},
    )
    assert rows(runtime, mark) == [("deployment.create", "job_batch", deployed["id"], "ok", *me)]

    mark = factories.audit_mark(svc)
    oco.ok("oco.job_container.uninstall", {"name": "removal", "installation_ids": [installation.id]})
    [(action, object_type, uninstall_id, *rest)] = rows(runtime, mark)
    assert (action, object_type, rest) == ("deployment.uninstall", "job_batch", ["ok", *me])
    assert uninstall_id.isdigit() and uninstall_id != deployed["id"]

    mark = factories.audit_mark(svc)
    oco.ok("oco.job_container.remove", {"id": deployed["id"]})
    assert rows(runtime, mark) == [("deployment.delete", "job_batch", deployed["id"], "ok", *me)]

    mark = factories.audit_mark(svc)
    oco.ok("oco.remove_installation_assignment", {"id": installation.id})
    assert rows(runtime, mark) == [("installation.remove", "installation", str(installation.id), "ok", *me)]


def test_refused_changes_are_audited_as_oco(viewer_oco: Oco, runtime: Runtime, admin: Actor) -> None:
    svc = runtime.services
    pc = factories.computer(svc, admin, "pc-1")
    package = factories.package(svc, admin, "App")
    user = svc.users.get_by_name("victor")
    assert user is not None
    viewer = ("victor", user.id, "oco")

    mark = factories.audit_mark(svc)
    args = {"package_family_name": "X", "version": "1", "install_procedure": "x"}
    assert viewer_oco.error("oco.package.create", args)["code"] == -32002
    assert (
        viewer_oco.error("oco.job_container.deploy", {"computer_ids": [pc], "package_ids": [package.id]})[
            "code"
        ]
        == -32002
    )
    assert rows(runtime, mark) == [
        ("package.create", "package", "", "denied", *viewer),
        ("deployment.create", "job_batch", "", "denied", *viewer),
    ]
