"""Changes made through opsi's JSON-RPC land in the one audit log: one row per change, with the
user, the action and object core records, ``via="opsi"``, and refusals as ``denied``."""

from __future__ import annotations

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from tests import factories

from .conftest import Rpc, enroll
from .test_properties import PRODUCT

CLIENT = "pc-1.fleetdeck.local"


Row = tuple[str, str, str, str, str, int | None, str]  # action, object, id, result, user, id, via


def rows(runtime: Runtime, mark: int) -> list[Row]:
    return [
        (r.action, r.object_type, r.object_id, r.result, r.username, r.user_id, r.via)
        for r in factories.audit_since(runtime.services, mark)
    ]


def only(found: list[Row]) -> Row:
    assert len(found) == 1, f"expected one audit row, got {found}"
    return found[0]


def test_product_action_group_and_value_changes_are_audited_as_opsi(
    rpc: Rpc, runtime: Runtime, admin: Actor
) -> None:
    svc, me = runtime.services, ("admin", admin.user_id, "opsi")
    cid, _ = enroll(runtime, admin, "pc-1")

    def audited(method: str, *params: object) -> list[Row]:
        mark = factories.audit_mark(svc)
        rpc.ok(method, *params)
        return rows(runtime, mark)

    action, object_type, package, *rest = only(audited("product_insertObject", PRODUCT))
    assert (action, object_type, rest) == ("package.create", "package", ["ok", *me])
    # the product state on the client is set (one core call), which deploys the package
    mark = factories.audit_mark(svc)
    rpc.ok("setProductActionRequest", "jedit", CLIENT, "setup")
    [record] = factories.audit_since(svc, mark)
    assert (record.action, record.object_type, record.object_id, record.result, record.via) == (
        "package_state.set",
        "computer",
        str(cid),
        "ok",
        "opsi",
    )
    assert record.detail["changes"]["action_request"] == "setup"
    [batch] = record.detail["containers"]
    [job] = svc.deployments.container_jobs(admin, int(batch))
    assert (job.computer_id, str(job.package_id)) == (cid, package)

    action, object_type, host_group, *rest = only(audited("group_createHostGroup", "lab"))
    assert (action, object_type, rest) == ("group.create", "group", ["ok", *me])
    assert svc.groups.get(admin, int(host_group)).key == "lab"
    action, object_type, product_group, *rest = only(
        audited("group_insertObject", {"type": "ProductGroup", "id": "tools"})
    )
    assert (action, object_type, rest) == ("group.create", "group", ["ok", *me])
    assert audited("objectToGroup_create", "ProductGroup", "tools", "jedit") == [
        ("package_group.add_member", "group", product_group, "ok", *me)
    ]

    property_ = {**{k: PRODUCT[k] for k in ("productVersion", "packageVersion")}, "productId": "jedit"}
    assert audited("productProperty_insertObject", {**property_, "propertyId": "lang"}) == [
        ("package_property.put", "package", package, "ok", *me)
    ]
    assert audited(
        "productPropertyState_insertObject",
        {"productId": "jedit", "propertyId": "lang", "objectId": CLIENT, "values": ["de"]},
    ) == [("package_property.set_value", "computer", str(cid), "ok", *me)]
    assert audited("config_insertObject", {"type": "UnicodeConfig", "id": "x.opt"}) == [
        ("config.put", "config", "x.opt", "ok", *me)
    ]
    assert audited(
        "configState_insertObject", {"configId": "x.opt", "objectId": CLIENT, "values": ["a"]}
    ) == [("config.set_value", "computer", str(cid), "ok", *me)]


def test_refused_changes_are_audited_as_opsi(
    rpc: Rpc, viewer_rpc: Rpc, runtime: Runtime, admin: Actor
) -> None:
    svc = runtime.services
    enroll(runtime, admin, "pc-1")
    rpc.ok("product_insertObject", PRODUCT)
    user = svc.users.get_by_name("victor")
    assert user is not None
    viewer = ("victor", user.id, "opsi")

    mark = factories.audit_mark(svc)
    denied = "BackendPermissionDeniedError"
    assert viewer_rpc.error("product_insertObject", {**PRODUCT, "id": "other"})["class"] == denied
    assert viewer_rpc.error("setProductActionRequest", "jedit", CLIENT, "setup")["class"] == denied
    assert viewer_rpc.error("group_createHostGroup", "lab")["class"] == denied
    assert rows(runtime, mark) == [
        ("package.create", "package", "", "denied", *viewer),
        ("package_state.set", "computer", "1", "denied", *viewer),
        ("group.create", "group", "", "denied", *viewer),
    ]
