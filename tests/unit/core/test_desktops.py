"""Core's decisions about desktop views (``core.desktops``): the permission, per-client reach,
the caps, the audit rows, and one-time links (used once, for their computer only, expiring).
Real database, both backends; the bridge, a real agent and a real VNC server are tested end to
end in tests/e2e/test_desktop_e2e.py."""

from __future__ import annotations

import time

import pytest

from fleetdeck.core import desktops as desktops_module
from fleetdeck.core.authz import Actor, Role
from fleetdeck.core.desktops import DesktopService
from fleetdeck.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from fleetdeck.core.query import Cond, Op, Query
from fleetdeck.core.services import Services
from tests import factories
from tests.unit.core.test_terminals import ADMIN, audit, world  # noqa: F401 (the fixture)


def test_who_may_view(svc: Services, world: tuple[Actor, Actor, Actor, dict[str, int]]) -> None:  # noqa: F811
    dev, _plain, viewer, ids = world
    with pytest.raises(PermissionDenied):
        svc.desktops.open(viewer, ids["web-1"])
    with pytest.raises(PermissionDenied):
        svc.desktops.check(viewer, ids["web-1"])
    with pytest.raises(NotFound):  # per-client access: devs do not reach db-1
        svc.desktops.open(dev, ids["db-1"])
    with pytest.raises(ValidationFailed):
        svc.desktops.open(dev, ids["web-1"], port=70000)
    assert svc.desktops.check(dev, ids["web-1"]) == "web-1"
    grant = svc.desktops.open(dev, ids["web-1"], port=5901)
    assert (grant.hostname, grant.port) == ("web-1", 5901)
    svc.desktops.close(dev, grant, reason="closed by the browser", seconds=1.25, bytes_in=10, bytes_out=20)
    svc.desktops.close(dev, grant, reason="again", seconds=2, bytes_in=0, bytes_out=0)  # once only
    assert sorted(audit(svc, "desktop.open")) == sorted(
        [
            (viewer.username, str(ids["web-1"]), "denied"),
            ("dev", str(ids["db-1"]), "not_found"),
            ("dev", str(ids["web-1"]), "ok"),
        ]
    )
    assert audit(svc, "desktop.close") == [("dev", str(ids["web-1"]), "ok")]
    assert svc.desktops.count() == 0


def test_a_view_is_audited_with_its_session_host_and_port(
    svc: Services,
    world: tuple[Actor, Actor, Actor, dict[str, int]],  # noqa: F811
) -> None:
    """``desktop.open`` records the view's session id, the computer's host name and the VNC
    port; ``desktop.close`` the same session with why and how long, and the byte counts: the
    two rows of one view are found together by the session id."""
    dev, _plain, _viewer, ids = world
    mark = factories.audit_mark(svc)
    grant = svc.desktops.open(dev, ids["web-1"], port=5902)
    svc.desktops.close(dev, grant, reason="closed by the browser", seconds=3.14, bytes_in=7, bytes_out=9)
    web = str(ids["web-1"])
    assert factories.audited(svc, mark) == [
        (
            "desktop.open",
            "computer",
            web,
            "ok",
            {"session": grant.session_id, "hostname": "web-1", "port": 5902},
        ),
        (
            "desktop.close",
            "computer",
            web,
            "ok",
            {
                "session": grant.session_id,
                "reason": "closed by the browser",
                "seconds": 3.1,
                "bytes_in": 7,
                "bytes_out": 9,
            },
        ),
    ]


def test_a_link_is_audited_with_its_port_and_lifetime_never_its_token(
    svc: Services,
    world: tuple[Actor, Actor, Actor, dict[str, int]],  # noqa: F811
) -> None:
    """``desktop.link`` records the computer, the VNC port the link opens and how long it is
    valid; the token itself (whoever has it gets a view) is never written."""
    dev, _plain, _viewer, ids = world
    uid = {c.hostname: c.uid for c in svc.computers.find(ADMIN, Query(limit=None)).items}
    mark = factories.audit_mark(svc)
    link = svc.desktops.issue_link(dev, uid["web-1"], "http://fleet.example", port=5903)
    assert (link.port, link.expires_in) == (5903, desktops_module.LINK_TTL_SEC)
    assert factories.audited(svc, mark) == [
        ("desktop.link", "computer", str(ids["web-1"]), "ok", {"port": 5903, "expires_in": 300}),
    ]


def test_caps(svc: Services, world: tuple[Actor, Actor, Actor, dict[str, int]]) -> None:  # noqa: F811
    dev, plain, _viewer, ids = world
    service = DesktopService(svc.desktops._db, svc.audit, max_per_user=2, max_per_computer=3)
    service.open(dev, ids["web-1"])
    service.open(dev, ids["web-1"])
    with pytest.raises(Conflict, match="2 desktop views open already"):
        service.open(dev, ids["web-1"])
    service.open(plain, ids["web-1"])
    with pytest.raises(Conflict, match="computer web-1 has 3"):
        service.open(factories.user(svc, Role.OPERATOR), ids["web-1"])
    assert service.count() == 3


def test_one_time_links(
    svc: Services,
    world: tuple[Actor, Actor, Actor, dict[str, int]],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dev, _plain, viewer, ids = world
    uid = {c.hostname: c.uid for c in svc.computers.find(ADMIN, Query(limit=None)).items}
    with pytest.raises(PermissionDenied):
        svc.desktops.issue_link(viewer, uid["web-1"], "http://fleet.example")
    with pytest.raises(NotFound):
        svc.desktops.issue_link(dev, uid["db-1"], "http://fleet.example")
    link = svc.desktops.issue_link(dev, uid["web-1"], "http://fleet.example/")
    token = link.url.split("link=", 1)[1]
    assert link.url == f"http://fleet.example/computers/{ids['web-1']}/desktop?link={token}"
    assert svc.desktops.peek_link(token, ids["web-1"]) is not None
    assert svc.desktops.redeem(token, ids["db-1"]) is None  # another computer: not used up
    found = svc.desktops.redeem(token, ids["web-1"])
    assert found is not None and found[0].username == "dev" and found[1] == 5900
    assert svc.desktops.redeem(token, ids["web-1"]) is None
    assert svc.desktops.peek_link(token, ids["web-1"]) is None
    rows = svc.audit.find(ADMIN, Query((Cond("action", Op.EQ, "desktop.link"),), limit=None)).items
    assert [r.result for r in rows if r.username == "dev"].count("ok") == 1
    assert all(token not in str(r.detail) for r in rows)  # the token is never recorded

    # Expired: the clock moves past the link's time to live.
    late = svc.desktops.issue_link(dev, uid["web-1"], "http://fleet.example")
    now = time.monotonic()
    monkeypatch.setattr(desktops_module.time, "monotonic", lambda: now + desktops_module.LINK_TTL_SEC + 1)
    assert svc.desktops.redeem(late.url.split("link=", 1)[1], ids["web-1"]) is None
