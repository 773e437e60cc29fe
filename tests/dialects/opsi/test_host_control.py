"""opsi's hostControl in-process: targets, per-host answers, Wake-on-LAN on 127.0.0.1, and the
not-connected and not-offered errors. (execute through a real agent: test_host_control_e2e.py)"""

from __future__ import annotations

import socket

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from fleetdeck.core.query import Query
from tests.conftest import computer

from .conftest import Rpc


def test_start_sends_magic_packets(rpc: Rpc, runtime: Runtime, admin: Actor, listener: socket.socket) -> None:
    computer(runtime, admin, "pc-1", "aa:bb:cc:dd:ee:01")
    computer(runtime, admin, "pc-2")
    answer = rpc.ok("hostControl_start", ["pc-1.fleetdeck.local", "pc-2.fleetdeck.local"])
    assert answer == {
        "pc-1.fleetdeck.local": {"result": "sent", "error": None},
        "pc-2.fleetdeck.local": {
            "result": None,
            "error": "Failed to get hardware address for host 'pc-2.fleetdeck.local'",
        },
    }
    packet = listener.recvfrom(1024)[0]
    assert packet == b"\xff" * 6 + bytes.fromhex("aabbccddee01") * 16


def test_targets_and_safe_variants(rpc: Rpc, runtime: Runtime, admin: Actor) -> None:
    computer(runtime, admin, "pc-1")
    computer(runtime, admin, "pc-2")
    assert rpc.ok("hostControl_reachable") == {"pc-1.fleetdeck.local": False, "pc-2.fleetdeck.local": False}
    assert rpc.ok("hostControl_reachable", "pc-2*") == {"pc-2.fleetdeck.local": False}
    err = rpc.error("hostControlSafe_reachable")
    assert err == {"class": "BackendMissingDataError", "message": "No matching host ids found"}
    assert rpc.error("hostControl_reachable", ["nope.example.org"])["class"] == "BackendMissingDataError"


def test_offline_hosts_and_not_offered_actions(rpc: Rpc, runtime: Runtime, admin: Actor) -> None:
    computer(runtime, admin, "pc-1")
    assert rpc.ok("hostControl_execute", "uname") == {
        "pc-1.fleetdeck.local": {"result": None, "error": "Host currently not connected to messagebus"}
    }
    assert (
        rpc.ok("hostControl_uptime")["pc-1.fleetdeck.local"]["error"]
        == "Host currently not connected to messagebus"
    )
    offline = {
        "pc-1.fleetdeck.local": {"result": None, "error": "Host currently not connected to messagebus"}
    }
    assert rpc.ok("hostControlSafe_reboot", ["pc-1.fleetdeck.local"]) == offline
    assert rpc.ok("hostControl_showPopup", "hello", ["pc-1.fleetdeck.local"]) == offline
    assert rpc.ok("hostControl_processActionRequests") == offline
    # nothing was queued for the offline host: it must not reboot when it comes back
    assert runtime.services.jobs.find(admin, Query(limit=None)).items == []
    event = rpc.ok("hostControl_fireEvent", "timer")["pc-1.fleetdeck.local"]
    assert "not supported by the fleetdeck agent" in event["error"]
    clientd = rpc.ok("hostControl_opsiclientdRpc", "getBlockLogin")["pc-1.fleetdeck.local"]
    assert "opsiclientd method 'getBlockLogin'" in clientd["error"]
    assert rpc.error("hostControl_showPopup", "")["class"] == "ValueError"
    assert rpc.error("hostControl_showPopup", "hi", None, "sideways")["class"] == "ValueError"


def test_viewers_may_not_control_hosts(viewer_rpc: Rpc, runtime: Runtime, admin: Actor) -> None:
    computer(runtime, admin, "pc-1")
    assert viewer_rpc.error("hostControl_reachable")["class"] == "BackendPermissionDeniedError"


def test_reachable_takes_opsis_timeout(rpc: Rpc, runtime: Runtime, admin: Actor) -> None:
    """``timeout`` is opsi's ``forceInt`` of it (3 s when not given). Offline hosts are False at
    once whatever the timeout, since nobody holds their agent."""
    computer(runtime, admin, "pc-1")
    assert rpc.ok("hostControl_reachable", [], 600) == {"pc-1.fleetdeck.local": False}
    assert rpc.ok("hostControl_reachable", [], "2") == {"pc-1.fleetdeck.local": False}
    assert rpc.ok("hostControl_reachable", [], 0) == {"pc-1.fleetdeck.local": False}
    err = rpc.error("hostControl_reachable", [], "soon")
    assert err["class"] == "ValueError" and "timeout" in err["message"]
