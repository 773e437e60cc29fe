"""configed's SSH command menu through ``/rpc`` (``SSHCommand_*``), kept as core's saved
commands: created, read, partly updated, deleted, audited; viewers read but do not change."""

from __future__ import annotations

from fleetdeck.app import Runtime
from tests.factories import audit_mark, audit_since

from .conftest import Rpc

DISK = {
    "menuText": "Disk usage",
    "commands": ["df -h", "du -sh /var/lib"],
    "position": 2,
    "tooltipText": "how full",
}


def test_the_command_menu_round_trip(rpc: Rpc, runtime: Runtime) -> None:
    mark = audit_mark(runtime.services)
    rpc.ok("SSHCommand_createObject", named=DISK)
    rpc.ok(
        "SSHCommand_createObjects",
        [
            {
                "menuText": "Restart opsiconfd",
                "commands": ["systemctl restart x"],
                "needSudo": True,
                "parentMenuText": "Server",
            }
        ],
    )
    cmds = rpc.ok("SSHCommand_getObjects")
    assert cmds[0] == {
        "menuText": "Disk usage",
        "commands": ["df -h", "du -sh /var/lib"],
        "id": "disk_usage",
        "position": 2,
        "needSudo": False,
        "tooltipText": "how full",
        "parentMenuText": None,
        "buildIn": False,
    }
    assert (cmds[1]["needSudo"], cmds[1]["parentMenuText"], cmds[1]["position"]) == (True, "Server", 0)
    assert rpc.ok("SSHCommand_getObject", "Disk usage")["commands"] == ["df -h", "du -sh /var/lib"]
    assert rpc.ok("SSHCommand_getObject", "nothing") is None
    # updateObjects changes only what is given, and only commands that exist
    rpc.ok(
        "SSHCommand_updateObjects",
        [{"menuText": "Disk usage", "position": 5}, {"menuText": "new", "commands": ["x"]}],
    )
    disk = rpc.ok("SSHCommand_getObject", "Disk usage")
    assert (disk["position"], disk["commands"], disk["tooltipText"]) == (5, DISK["commands"], "how full")
    assert [c["menuText"] for c in rpc.ok("SSHCommand_getObjects")] == ["Disk usage", "Restart opsiconfd"]
    rpc.ok("SSHCommand_updateObject", "Disk usage", ["df"], 1, True, "t", None)
    assert rpc.ok("SSHCommand_getObject", "Disk usage")["commands"] == ["df"]
    rpc.ok("SSHCommand_deleteObjects", ["Disk usage", "not there"])
    err = rpc.error("SSHCommand_deleteObject", "Disk usage")
    assert err["class"] == "ValueError" and "does not exist" in err["message"]
    rpc.ok("SSHCommand_deleteObject", "Restart opsiconfd")
    assert rpc.ok("SSHCommand_getObjects") == []
    actions = [r.action for r in audit_since(runtime.services, mark) if r.action.startswith("saved_command.")]
    assert actions.count("saved_command.put") == 4 and actions.count("saved_command.delete") == 3


def test_bad_commands_and_viewers(rpc: Rpc, viewer_rpc: Rpc) -> None:
    assert rpc.error("SSHCommand_createObject", "", ["x"])["class"] == "ValueError"
    assert rpc.error("SSHCommand_createObject", "Empty", [])["class"] == "ValueError"
    assert (
        rpc.error("SSHCommand_createObjects", [{"menuText": "x", "commands": "ls"}])["class"] == "ValueError"
    )
    assert (
        rpc.error("SSHCommand_updateObjects", [{"commands": ["ls"]}])["message"] == "Key 'menuText' missing"
    )
    assert rpc.error("SSHCommand_createObject", "Long", ["x" * 10_001])["class"] in (
        "ValueError",
        "BackendBadValueError",
    )
    assert rpc.ok("SSHCommand_getObjects") == []
    rpc.ok("SSHCommand_createObject", "ls", ["ls"])
    assert [c["menuText"] for c in viewer_rpc.ok("SSHCommand_getObjects")] == ["ls"]
    assert (
        viewer_rpc.error("SSHCommand_createObject", "rm", ["rm -rf /tmp/x"])["class"]
        == "BackendPermissionDeniedError"
    )
    assert viewer_rpc.error("SSHCommand_deleteObject", "ls")["class"] == "BackendPermissionDeniedError"
    assert [c["menuText"] for c in rpc.ok("SSHCommand_getObjects")] == ["ls"]
