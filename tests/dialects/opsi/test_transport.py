"""``/rpc`` as opsiconfd serves it: envelopes, batches, params rules, msgpack and compression,
sessions, authentication, errors, and the interface."""

from __future__ import annotations

import gzip
import json
import zlib
from pathlib import Path
from typing import Any

import httpx
import lz4.frame
import msgspec
import pytest

from fleetdeck.api.dialects.opsi import METHODS, compat_document
from fleetdeck.api.dialects.opsi.interface import SPEC, mismatches
from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor, Role
from fleetdeck.storage.tables import ComputerInterface
from fleetdeck.storage.uow import UnitOfWork

from .conftest import PASSWORD, Rpc, basic, enroll

ROOT = Path(__file__).resolve().parents[3]


def test_v2_success_and_error_shapes(rpc: Rpc) -> None:
    assert rpc.call("accessControl_authenticated") == {"id": 1, "result": True, "jsonrpc": "2.0"}
    body = rpc.call("no_such_method")
    assert body["error"] == {
        "message": "Invalid method 'no_such_method'",
        "code": 0,
        "data": {"class": "ValueError", "details": None},
    }
    assert "result" not in body


def test_v1_shapes(rpc: Rpc) -> None:
    r = rpc.post({"id": 7, "method": "accessControl_authenticated", "params": []})
    assert r.status_code == 200
    assert r.json() == {"id": 7, "result": True, "error": None}
    r = rpc.post({"id": 8, "method": "no_such_method", "params": []})
    assert r.json() == {
        "id": 8,
        "result": None,
        "error": {"message": "Invalid method 'no_such_method'", "class": "ValueError", "details": None},
    }


def test_missing_or_null_id_is_answered_with_0(rpc: Rpc) -> None:
    assert rpc.post({"jsonrpc": "2.0", "method": "getDomain"}).json()["id"] == 0
    assert rpc.post({"jsonrpc": "2.0", "method": "getDomain", "id": None}).json()["id"] == 0


def test_batches_and_the_one_element_quirk(rpc: Rpc) -> None:
    two = [rpc.request("accessControl_authenticated"), rpc.request("nope")]
    answer = rpc.post(two).json()
    assert isinstance(answer, list) and len(answer) == 2
    assert answer[0]["result"] is True and answer[1]["error"]["data"]["class"] == "ValueError"
    one = rpc.post([rpc.request("accessControl_authenticated")]).json()
    assert isinstance(one, dict) and one["result"] is True


def test_unsupported_method_of_opsis_interface_says_so(rpc: Rpc) -> None:
    unsupported = next(n for n in sorted(SPEC) if METHODS.get(n) is None)
    err = rpc.error(unsupported)
    assert err["class"] == "BackendError"
    assert "not supported by fleetdeck" in err["message"] and unsupported in err["message"]


def test_out_of_scope_methods_say_why(rpc: Rpc) -> None:
    err = rpc.error("opsipxeconfd_updatePXEBootConfiguration", "pc-1.example.org")
    assert err["class"] == "BackendError"
    assert "does not install operating systems over the network" in err["message"]


def test_wrong_arguments_are_type_errors(rpc: Rpc) -> None:
    assert rpc.error("getDomain", 1)["class"] == "TypeError"
    assert rpc.error("getDomain", named={"bogus": 1})["class"] == "TypeError"


def test_params_that_are_not_a_list_or_object(rpc: Rpc) -> None:
    body = rpc.post({"jsonrpc": "2.0", "id": 1, "method": "getDomain", "params": "x"}).json()
    assert body["error"]["data"]["class"] == "TypeError"


@pytest.mark.parametrize(
    ("content", "headers"),
    [
        (b"{not json", {}),
        (b"\xff\xfe", {}),
        (b"NaN", {}),
        (b"\x00\x01garbage", {"Content-Type": "application/msgpack"}),
        (b"garbage", {"Content-Encoding": "gzip"}),
        (b"garbage", {"Content-Encoding": "lz4"}),
        (b"garbage", {"Content-Encoding": "deflate"}),
        (b"{}", {"Content-Encoding": "br"}),
        (lz4.frame.compress(b'{"method": "getDomain"}')[:-6], {"Content-Encoding": "lz4"}),
        (b"", {}),
    ],
)
def test_undecodable_bodies_are_400_with_a_v1_error(
    rpc: Rpc, content: bytes, headers: dict[str, str]
) -> None:
    r = rpc.post(None, content=content, headers=headers)
    assert r.status_code == 400
    body = r.json()
    assert body["id"] == 0 and body["result"] is None
    assert body["error"]["class"] == "ValueError" and body["error"]["message"]


def test_decompression_bomb_is_refused(rpc: Rpc) -> None:
    bomb = gzip.compress(b" " * (70 * 1024 * 1024))  # ~70 KiB that inflates to 70 MiB
    r = rpc.post(None, content=bomb, headers={"Content-Encoding": "gzip"})
    assert r.status_code == 400
    assert "larger than" in r.json()["error"]["message"]


def test_oversized_body_is_413(rpc: Rpc) -> None:
    r = rpc.post(None, content=b"[" + b"1," * 600_000 + b"1]")
    assert r.status_code == 413


def test_non_object_elements_get_their_own_error(rpc: Rpc) -> None:
    answer = rpc.post([1, rpc.request("getDomain")]).json()
    assert answer[0]["error"]["class"] == "ValueError"
    assert isinstance(answer[1]["result"], str)


def _encoded(body: Any, encoding: str) -> bytes:
    raw = json.dumps(body).encode()
    return {
        "gzip": gzip.compress,
        "deflate": zlib.compress,
        "lz4": lz4.frame.compress,
    }[encoding](raw)


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "lz4"])
def test_compressed_requests(rpc: Rpc, encoding: str) -> None:
    content = _encoded(rpc.request("accessControl_authenticated"), encoding)
    r = rpc.post(None, content=content, headers={"Content-Encoding": encoding})
    assert r.status_code == 200, r.text
    assert r.json()["result"] is True


def _big_request(rpc: Rpc) -> list[dict[str, Any]]:
    return [rpc.request("backend_getInterface") for _ in range(20)]  # > 10,000 bytes: compressed


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "lz4"])
def test_compressed_responses(rpc: Rpc, encoding: str) -> None:
    r = rpc.client.post(
        "/rpc",
        content=json.dumps(_big_request(rpc)).encode(),
        headers={"Authorization": rpc.auth, "Content-Type": "application/json", "Accept-Encoding": encoding},
    )
    assert r.status_code == 200
    assert r.headers["content-encoding"] == encoding
    # httpx does not know lz4: the client decompresses it, as opsi's does
    body = json.loads(lz4.frame.decompress(r.content)) if encoding == "lz4" else r.json()
    assert len(body) == 20 and all(len(b["result"]) == len(METHODS) for b in body)


def test_small_responses_are_not_compressed(rpc: Rpc) -> None:
    r = rpc.post(rpc.request("getDomain"), headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in r.headers


def test_unhandled_accept_encoding_is_400(rpc: Rpc) -> None:
    r = rpc.post(rpc.request("getDomain"), headers={"Accept-Encoding": "br"})
    assert r.status_code == 400


def test_msgpack_and_lz4_as_the_real_client_sends_them(rpc: Rpc) -> None:
    """What opsi's ServiceClient does once the Server header says opsiconfd 4.3."""
    head = rpc.client.head("/rpc", headers={"Authorization": rpc.auth})
    assert head.status_code == 200
    assert head.headers["server"].startswith("opsiconfd 4.3")
    call = {"jsonrpc": "2.0", "id": "a-uuid", "method": "backend_getInterface", "params": []}
    body = msgspec.msgpack.encode([call] * 20)
    r = rpc.client.post(
        "/rpc",
        content=lz4.frame.compress(body),
        headers={
            "Authorization": rpc.auth,
            "Content-Type": "application/msgpack",
            "Accept": "application/msgpack",
            "Content-Encoding": "lz4",
            "Accept-Encoding": "lz4",
        },
    )
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/msgpack"
    assert r.headers["content-encoding"] == "lz4"
    answer = msgspec.msgpack.decode(lz4.frame.decompress(r.content))
    assert answer[0]["id"] == "a-uuid"
    assert {m["name"] for m in answer[0]["result"]} == set(METHODS.names())


def test_get_with_the_request_in_the_query_string(rpc: Rpc) -> None:
    query = json.dumps({"id": 3, "method": "accessControl_authenticated", "params": []})
    r = rpc.client.get("/rpc?" + query, headers={"Authorization": rpc.auth})
    assert r.status_code == 200
    assert r.json() == {"id": 3, "result": True, "error": None}


def test_every_response_carries_opsis_headers(rpc: Rpc) -> None:
    r = rpc.post(rpc.request("getDomain"))
    assert r.headers["server"].startswith("opsiconfd 4.3.0.0")
    assert r.headers["x-opsi-user-id"] == "user:admin"
    assert "msgpack" in r.headers["accept"]


# ------------------------------------------------------------------ authentication and sessions


def test_without_credentials_401_in_opsis_shape(rpc: Rpc) -> None:
    r = rpc.client.post("/rpc", json=rpc.request("getDomain"))
    assert r.status_code == 401
    assert r.json() == {"id": None, "result": None, "error": "Authentication error"}
    assert r.headers["x-opsi-error"] == "Authentication error"
    # no Basic challenge: a browser must not be invited to remember a password for /rpc
    assert "www-authenticate" not in r.headers


def test_writes_need_post_with_json_or_msgpack(rpc: Rpc) -> None:
    """What another site can make a browser send (a GET, a text/plain or form POST) changes nothing."""
    write = json.dumps({"id": 1, "method": "host_createOpsiClient", "params": ["csrf.example.org"]})
    r = rpc.client.get("/rpc?" + write, headers={"Authorization": rpc.auth})
    assert r.status_code == 400 and "send it with POST" in r.json()["error"]["message"]
    for content_type in (
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ):
        r = rpc.client.post(
            "/rpc", content=write, headers={"Authorization": rpc.auth, "Content-Type": content_type}
        )
        assert r.status_code == 400, content_type
        assert "Content-Type must be" in r.json()["error"]["message"]
    assert rpc.ok("host_getIdents", "str", {"id": "csrf.example.org"}) == []


@pytest.mark.parametrize(
    "authorization",
    [basic("admin", "wrong-password"), "Basic !!!", "Bearer abc", basic("admin", ""), basic("nobody", "x")],
)
def test_bad_credentials_are_401(rpc: Rpc, authorization: str) -> None:
    r = rpc.client.post("/rpc", json=rpc.request("getDomain"), headers={"Authorization": authorization})
    assert r.status_code == 401


def test_session_cookie_replaces_basic_and_logout_ends_it(rpc: Rpc) -> None:
    first = rpc.post(rpc.request("getDomain"), headers={"X-opsi-session-lifetime": "60"})
    cookie = first.cookies.get("opsiconfd-session")
    assert cookie and "Max-Age=60" in first.headers["set-cookie"]
    client = rpc.client
    client.cookies.clear()
    client.cookies.set("opsiconfd-session", cookie)
    again = client.post("/rpc", json=rpc.request("getDomain"))  # no Authorization header
    assert again.status_code == 200 and "set-cookie" not in again.headers
    out = client.post("/session/logout")
    assert out.status_code == 200
    client.cookies.clear()
    client.cookies.set("opsiconfd-session", cookie)
    after = client.post("/rpc", json=rpc.request("getDomain"))
    assert after.status_code == 401


def test_backend_exit_ends_the_session(rpc: Rpc) -> None:
    first = rpc.post(rpc.request("getDomain"))
    cookie = first.cookies["opsiconfd-session"]
    rpc.client.cookies.clear()
    rpc.client.cookies.set("opsiconfd-session", cookie)
    assert rpc.client.post("/rpc", json=rpc.request("backend_exit")).status_code == 200
    rpc.client.cookies.clear()
    rpc.client.cookies.set("opsiconfd-session", cookie)
    after = rpc.client.post("/rpc", json=rpc.request("getDomain"))
    assert after.status_code == 401


def test_password_login_works_too(client: Any, admin: Actor) -> None:
    r = client.post(
        "/rpc",
        json={"id": 1, "method": "accessControl_userIsAdmin", "params": []},
        headers={"Authorization": basic("admin", "admin-password-1")},
    )
    assert r.status_code == 200 and r.json()["result"] is True


def test_viewer_is_read_only_and_not_admin(viewer_rpc: Rpc) -> None:
    assert viewer_rpc.ok("accessControl_userIsAdmin") is False
    assert viewer_rpc.ok("accessControl_userIsReadOnlyUser") is True


def test_an_opsi_client_logs_in_with_host_id_and_host_key(rpc: Rpc, runtime: Runtime, admin: Actor) -> None:
    _, key = enroll(runtime, admin, "pc-17")
    host_id = "pc-17.fleetdeck.local"  # no domain set, no FQDN reported: <hostname>.fleetdeck.local
    r = rpc.client.post(
        "/rpc",
        json={"id": 1, "method": "accessControl_userIsAdmin", "params": []},
        headers={"Authorization": basic(host_id, key)},
    )
    assert r.status_code == 200, r.text
    assert r.json()["result"] is False
    assert r.headers["x-opsi-user-id"] == f"client:{host_id}"
    rpc.client.cookies.clear()
    wrong = rpc.client.post(
        "/rpc", json={"id": 1, "method": "getDomain"}, headers={"Authorization": basic(host_id, "0" * 32)}
    )
    assert wrong.status_code == 401
    rpc.client.cookies.clear()
    other = rpc.client.post(
        "/rpc",
        json={"id": 1, "method": "getDomain"},
        headers={"Authorization": basic("pc-18.fleetdeck.local", key)},
    )
    assert other.status_code == 401


def test_an_opsi_client_logs_in_with_its_mac_address(rpc: Rpc, runtime: Runtime, admin: Actor) -> None:
    cid, key = enroll(runtime, admin, "pc-20")
    with UnitOfWork(runtime.db) as uow:
        uow.session.add(
            ComputerInterface(computer_id=cid, name="eth0", mac="aa:bb:cc:dd:ee:20", addresses=[])
        )
    for user in ("AA-BB-CC-DD-EE-20", "aa:bb:cc:dd:ee:20", "{hardware_address}aa:bb:cc:dd:ee:20"):
        rpc.client.cookies.clear()
        r = rpc.client.post(
            "/rpc", json={"id": 1, "method": "backend_info"}, headers={"Authorization": basic(user, key)}
        )
        assert r.status_code == 200, (user, r.text)
        assert r.headers["x-opsi-new-host-id"] == "pc-20.fleetdeck.local"
        assert r.headers["x-opsi-user-id"] == "client:pc-20.fleetdeck.local"
    for user, password in (
        ("aa:bb:cc:dd:ee:21", key),
        ("aa:bb:cc:dd:ee:20", "0" * 32),
        ("{system_uuid}x", key),
    ):
        rpc.client.cookies.clear()
        r = rpc.client.post(
            "/rpc", json={"id": 1, "method": "backend_info"}, headers={"Authorization": basic(user, password)}
        )
        assert r.status_code == 401, user


def test_a_client_may_not_call_admin_methods(rpc: Rpc, runtime: Runtime, admin: Actor) -> None:
    _, key = enroll(runtime, admin, "pc-19")
    r = rpc.client.post(
        "/rpc",
        json={"jsonrpc": "2.0", "id": 1, "method": "host_delete", "params": ["x.y.z"]},
        headers={"Authorization": basic("pc-19.fleetdeck.local", key)},
    )
    err = r.json()["error"]
    assert err["data"]["class"] == "BackendPermissionDeniedError"


# ------------------------------------------------------------------ interface and docs


def test_interface_records_have_what_clients_require(rpc: Rpc) -> None:
    records = rpc.ok("backend_getInterface")
    names = [r["name"] for r in records]
    assert names == sorted(names) and set(names) == set(METHODS.names())
    for rec in records:
        assert {"name", "params", "args", "varargs", "keywords", "defaults", "deprecated"} <= set(rec)
        assert rec["varargs"] is None
        assert rec["args"][0] == "self"


def test_declarations_match_opsis_interface() -> None:
    assert mismatches(list(METHODS)) == []


def test_compat_document_is_up_to_date() -> None:
    doc = (ROOT / "docs" / "compat" / "opsi.md").read_text()
    assert doc == compat_document(), (
        "regenerate: .venv/bin/python -m fleetdeck.api.dialects.opsi > docs/compat/opsi.md"
    )


def test_a_session_follows_its_users_current_state(rpc: Rpc, runtime: Runtime, admin: Actor) -> None:
    """A session cookie is checked against the user on every request: a role change shows at
    once, a password change or disabling ends the session."""
    users = runtime.services.users
    bob = users.create(admin, "bob", PASSWORD, Role.OPERATOR)
    client = rpc.client
    client.cookies.clear()
    first = client.post(
        "/rpc", json=rpc.request("getDomain"), headers={"Authorization": basic("bob", PASSWORD)}
    )
    cookie = first.cookies["opsiconfd-session"]

    def with_cookie(method: str, *params: Any) -> httpx.Response:
        client.cookies.clear()
        client.cookies.set("opsiconfd-session", cookie)
        return client.post("/rpc", json=rpc.request(method, *params))

    created = with_cookie("host_createOpsiClient", "bob-1.example.org")
    assert created.status_code == 200 and "error" not in created.json()
    users.update(admin, bob.id, role=Role.VIEWER)
    refused = with_cookie("host_createOpsiClient", "bob-2.example.org")
    assert refused.json()["error"]["data"]["class"] == "BackendPermissionDeniedError"
    users.set_password(admin, bob.id, "another-password-3")
    assert with_cookie("getDomain").status_code == 401
