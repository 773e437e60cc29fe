"""Deprecated opsi methods answered through their replacements."""

from __future__ import annotations

from .conftest import Rpc


def test_legacy_methods(rpc: Rpc) -> None:
    assert rpc.ok("authenticated") is True
    assert rpc.ok("userIsAdmin") is True
    rpc.ok("host_createOpsiClient", "old-1.example.org")
    rpc.ok("group_createHostGroup", "legacy")
    assert rpc.ok("getClientIds_list") == ["old-1.example.org"]
    assert rpc.ok("getClientIDs") == ["old-1.example.org"]
    assert len(rpc.ok("getDepotIds_list")) == 1
    assert rpc.ok("getGroupIds_list") == ["legacy"]
    rpc.ok("deleteGroup", "legacy")
    rpc.ok("deleteClient", "old-1.example.org")
    assert rpc.ok("getClientIds_list") == []
    assert rpc.ok("getInstalledProductIds_list", "old-1.example.org") == []
    names = {m["name"]: m for m in rpc.ok("backend_getInterface")}
    assert names["getClientIds_list"]["deprecated"] is True
