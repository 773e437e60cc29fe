"""GET /installations: each filter narrows a list of several packages on several computers."""

from __future__ import annotations

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from tests import factories
from tests.integration.api.conftest import Api


def test_filters_narrow_by_computer_and_package(admin_api: Api, runtime: Runtime, admin: Actor) -> None:
    svc = runtime.services
    a, b, c = (factories.computer(svc, admin, name) for name in ("pc-a", "pc-b", "pc-c"))
    p, q, r = (factories.package(svc, admin, family).id for family in ("P", "Q", "R"))
    # Two made by a deployment's job result, the others recorded by hand: both kinds are listed.
    made = {
        (a, p): factories.installed(svc, admin, a, p).id,
        (b, r): factories.installed(svc, admin, b, r).id,
        **{
            (cid, pid): svc.packages.assign_installation(admin, cid, pid).id
            for cid, pid in ((a, q), (b, p), (c, q))
        },
    }

    def listed(**params: int) -> set[tuple[int, int]]:
        response = admin_api.get("/installations", params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        pairs = [(i["computer_id"], i["package_id"]) for i in body["data"]]
        assert body["meta"]["count"] == len(pairs) == len(set(pairs))
        assert all(i["id"] == made[(i["computer_id"], i["package_id"])] for i in body["data"])
        return set(pairs)

    assert listed() == set(made)
    assert listed(package_id=p) == {(a, p), (b, p)}
    assert listed(package_id=q) == {(a, q), (c, q)}
    assert listed(computer_id=a) == {(a, p), (a, q)}
    assert listed(computer_id=b) == {(b, r), (b, p)}
    assert listed(computer_id=b, package_id=r) == {(b, r)}
    assert listed(computer_id=c, package_id=p) == set()
    assert listed(package_id=999_999) == set()
