"""``productOnClient_getObjects()`` without attributes or filter answers from
``ProductOnClientAdapter.whole_list`` (structs, issue #13's 500,000 objects within 3 s) instead
of the dicts every other productOnClient read builds. Its answer must be the same bytes the
dicts give: here the whole list of a small fleet with every stored value variant (every
status, request, last action, result and target, nulls, empty and non-ASCII progress text,
control characters and quotes, versions and none, several times), asked for over ``/rpc`` in
JSON and in msgpack + LZ4, compared byte for byte with the same call answered by the dicts
(the filter ``type=ProductOnClient`` matches every object and takes the dict path) and with
the dicts encoded directly."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import lz4.frame
import msgspec
from sqlalchemy import insert, select

from fleetdeck.api.dialects.opsi import codec
from fleetdeck.api.dialects.opsi.methods.products import ON_CLIENT, ON_CLIENT_ADAPTER
from fleetdeck.api.dialects.opsi.objects.products import ProductOnClientObject
from fleetdeck.api.dialects.opsi.registry import Context
from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from fleetdeck.core.packages.entities import PackageFields
from fleetdeck.storage.tables import PackageFamily, PackageState
from fleetdeck.storage.uow import UnitOfWork

from .conftest import Rpc, enroll

STATUSES = ("installed", "not_installed", "unknown")
ACTIONS = ("setup", "uninstall", "update", "always", "once", "custom", "none")
RESULTS = (None, "none", "failed", "successful")
TARGETS = (None, "installed", "always", "forbidden", "undefined")
PROGRESS = (
    None,
    "",
    "50 %",
    "Fortschritt: Größe ✓ 日本",
    'quote " back\\slash',
    "ctl \x01\t\n\x7f",
    "x" * 250,
)
VERSIONS = ((None, None), ("1.0", "1"), ("128.0.3", "20"))


def fleet(runtime: Runtime, admin: Actor) -> int:
    """Three clients x four products, every variant of every stored field at least once (some
    clients lack some products); returns the number of states."""
    clients = [enroll(runtime, admin, f"pc-{i}")[0] for i in range(3)]
    for k in range(4):
        runtime.services.packages.create(
            admin, f"product-{k}", "1.0", PackageFields(install_procedure="true")
        )
    variants = itertools.cycle(
        itertools.zip_longest(STATUSES, ACTIONS, ACTIONS[::-1], RESULTS, TARGETS, PROGRESS, VERSIONS)
    )
    base = datetime(2026, 12, 3, 6, 0, 0, 123456, tzinfo=UTC)
    rows: list[dict[str, Any]] = []
    with UnitOfWork(runtime.db) as uow:
        families = list(uow.session.scalars(select(PackageFamily.id).order_by(PackageFamily.id)))
        for n, (cid, fam) in enumerate(itertools.product(clients, families)):
            if n % 5 == 4:
                continue  # not every client has every product
            status, request, last, result, target, progress, versions = next(variants)
            ver, pver = versions or (None, None)
            rows.append(
                {
                    "computer_id": cid,
                    "family_id": fam,
                    "installation_status": status or "unknown",
                    "action_request": request or "none",
                    "last_action": last,
                    "action_result": result,
                    "action_progress": progress,
                    "target_configuration": target,
                    "version": ver,
                    "package_version": pver,
                    "modified_at": base + timedelta(seconds=n * 61, microseconds=n),
                }
            )
        uow.session.execute(insert(PackageState), rows)
    return len(rows)


MSGPACK_LZ4 = {
    "Content-Type": "application/msgpack",
    "Accept": "application/msgpack",
    "Content-Encoding": "lz4",
    "Accept-Encoding": "lz4",
}


def raw_answer(rpc: Rpc, params: list[Any], msgpack: bool) -> bytes:
    """The answer's bytes as sent (decompressed), for the call with a fixed id."""
    body = {"jsonrpc": "2.0", "id": 7, "method": "productOnClient_getObjects", "params": params}
    if msgpack:
        r = rpc.post(None, headers=MSGPACK_LZ4, content=lz4.frame.compress(msgspec.msgpack.encode(body)))
    else:
        r = rpc.post(body, headers={"Accept-Encoding": "identity"})
    assert r.status_code == 200, r.text
    data = r.content
    if r.headers.get("content-encoding") == "lz4":
        data = lz4.frame.decompress(data)
    return data


def test_whole_list_is_byte_identical_to_the_dicts(rpc: Rpc, runtime: Runtime, admin: Actor) -> None:
    count = fleet(runtime, admin)
    for msgpack in (False, True):
        whole = raw_answer(rpc, [], msgpack)
        by_dicts = raw_answer(rpc, [[], {"type": "ProductOnClient"}], msgpack)
        assert whole == by_dicts
        decode = msgspec.msgpack.decode if msgpack else msgspec.json.decode
        result = decode(whole)["result"]
        assert len(result) == count
        # every variant made it into the answer (the comparison covers them)
        assert {r["actionProgress"] for r in result} == set(PROGRESS)
        assert {r["targetConfiguration"] for r in result} == set(TARGETS)
        assert {r["actionResult"] for r in result} == set(RESULTS)
        assert {r["lastAction"] for r in result} == set(ACTIONS)
        assert len({r["modificationTime"] for r in result}) == count
    # and in-process: the structs encode as the dicts of ``get_objects`` do, in both codecs
    ctx = Context(services=runtime.services, actor=admin)
    structs = ON_CLIENT_ADAPTER.whole_list(ctx)
    dicts = ON_CLIENT.get_objects(ctx)
    assert all(isinstance(s, ProductOnClientObject) for s in structs) and len(structs) == count
    for ser in ("json", "msgpack"):
        assert codec.dumps({"result": structs}, ser) == codec.dumps({"result": dicts}, ser)


def test_a_client_sees_its_own_states_on_both_paths(rpc: Rpc, runtime: Runtime, admin: Actor) -> None:
    fleet(runtime, admin)
    _, key = enroll(runtime, admin, "pc-own")
    rpc.ok(
        "product_createObjects",
        [{"type": "LocalbootProduct", "id": "own", "productVersion": "1", "packageVersion": "1"}],
    )
    rpc.ok("setProductActionRequest", "own", "pc-own.fleetdeck.local", "setup")
    host = Rpc(rpc.client, "pc-own.fleetdeck.local", key)
    for msgpack in (False, True):
        whole = raw_answer(host, [], msgpack)
        assert whole == raw_answer(host, [[], {"type": "ProductOnClient"}], msgpack)
    assert [r["clientId"] for r in host.ok("productOnClient_getObjects")] == ["pc-own.fleetdeck.local"]


def test_attributes_still_project_the_objects(rpc: Rpc, runtime: Runtime, admin: Actor) -> None:
    """Only the whole list takes the struct path: with ``attributes`` the others are null."""
    fleet(runtime, admin)
    whole = rpc.ok("productOnClient_getObjects")
    projected = rpc.ok("productOnClient_getObjects", ["actionProgress"])
    kept = {"actionProgress", "productId", "productType", "clientId", "type", "ident"}
    assert projected == [{k: (v if k in kept else None) for k, v in row.items()} for row in whole]
