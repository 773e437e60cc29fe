"""Both JSON-RPC dialects fuzzed with hypothesis: OCO (``/api-client.php``) and opsi (``/rpc``).

Generated: envelopes naming methods of each registry (and names of no method) with parameters
of every JSON type (the method's own parameter names, so values reach its validation), ids of
every kind (huge and negative integers, floats, strings, null, objects), batches, notifications,
and bodies that are not JSON-RPC at all. Each test has its own database; its examples share it.

Every answer must be: below 500; JSON in the dialect's envelope (or OCO's empty 400); for each
element an error of the dialect's table, never its internal one (OCO's -32000 "Unknown Error",
opsi's "Internal error (see the server log)"); and the server logs no traceback and no error.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleetdeck.api.dialects.oco import METHODS as OCO_METHODS
from fleetdeck.api.dialects.oco.errors import Code, text
from fleetdeck.api.dialects.opsi.errors import INTERNAL
from fleetdeck.api.dialects.opsi.registry import METHODS as OPSI_METHODS
from fleetdeck.api.kit.registry import Registry
from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from tests.dialects.oco.conftest import API_KEY, OcoSwitch
from tests.dialects.oco.conftest import PATH as OCO_PATH
from tests.dialects.oco.conftest import token_of as oco_token
from tests.dialects.opsi.conftest import basic, enroll
from tests.dialects.opsi.conftest import token_of as opsi_token
from tests.fuzz.conftest import SENT, examples, tracebacks

HUGE = st.one_of(
    st.integers(min_value=-(2**80), max_value=2**80),
    st.sampled_from([2**63, 2**63 - 1, -(2**63), 2**64, 10**30, -1, 0]),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    HUGE,
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(["", "*", "%", "null", "0", "1e400", "pc-1.fleetdeck.local", "\ud7ff", "' OR 1=1 --"]),
)
JSON = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
IDS = st.one_of(HUGE, st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12), st.none(), JSON)


def method_names(registry: Registry) -> st.SearchStrategy[str]:
    names = sorted(m.name for m in registry)
    return st.one_of(st.sampled_from(names), st.text(max_size=30), st.sampled_from(["", " ", "__init__"]))


def arguments(registry: Registry, name: str) -> st.SearchStrategy[dict[str, Any]]:
    """Keyword arguments: the method's own parameter names with values of any JSON type, plus
    names it does not know."""
    method = registry.get(name)
    known = {p.name: JSON for p in method.params} if method else {}
    return st.fixed_dictionaries({}, optional=known) | st.dictionaries(st.text(max_size=10), JSON, max_size=3)


def send(client: Any, path: str, auth: str, body: bytes, test: str) -> Any:
    SENT[f"{test} envelopes"] += 1
    headers = {"Content-Type": "application/json", "Authorization": auth}
    return client.post(path, headers=headers, content=body)


def dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


def broken(draw: st.DrawFn, element: dict[str, Any]) -> dict[str, Any]:
    """Sometimes one member of an element removed (a notification, a call without a method)
    or replaced by any JSON value."""
    for key in draw(st.sets(st.sampled_from(["jsonrpc", "id", "method", "params"]), max_size=1)):
        if draw(st.booleans()):
            del element[key]
        else:
            element[key] = draw(JSON)
    return element


def bodies(element: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    """One call, a batch (empty too), JSON that is not JSON-RPC, bytes that are not JSON."""
    return st.one_of(
        element.map(dumps),
        st.lists(element, min_size=0, max_size=4).map(dumps),
        JSON.map(dumps),
        st.binary(max_size=40),
    )


# ---------------------------------------------------------------- OCO


@st.composite
def oco_element(draw: st.DrawFn) -> Any:
    name = draw(method_names(OCO_METHODS))
    params: dict[str, Any] = {"api_key": draw(st.sampled_from([API_KEY, API_KEY, "wrong"]) | JSON)}
    params["data"] = draw(arguments(OCO_METHODS, name) | JSON)
    return broken(draw, {"jsonrpc": "2.0", "id": draw(IDS), "method": name, "params": params})


def check_oco_element(element: Any) -> None:
    assert isinstance(element, dict), element
    assert element.get("jsonrpc") == "2.0"
    assert "id" in element
    assert ("result" in element) != ("error" in element), element
    if "result" in element:
        assert element["result"]["success"] is True
        return
    error = element["error"]
    assert set(error) == {"code", "message", "data"}, error
    assert error["code"] in {int(c) for c in Code}, error
    assert isinstance(error["message"], str) and error["message"]
    assert error["message"] not in (text("unknown_error", "en"), text("unknown_error", "de")), error


@pytest.fixture
def oco_auth(runtime: Runtime, admin: Actor) -> str:
    switch = OcoSwitch(runtime, admin)
    switch.enable()
    switch.api_key(API_KEY)
    return basic("admin", oco_token(runtime, admin))


def test_oco(client: Any, oco_auth: str, caplog: pytest.LogCaptureFixture) -> None:
    @given(body=bodies(oco_element()))
    @examples(150)
    def fuzz(body: bytes) -> None:
        response = send(client, OCO_PATH, oco_auth, body, "oco")
        assert response.status_code in (200, 400), (response.status_code, response.text)
        if response.status_code == 400:
            assert response.content == b""  # OCO refuses a whole request with an empty 400
            return
        assert response.headers["content-type"].startswith("application/json")
        answer = response.json()
        for element in answer if isinstance(answer, list) else [answer]:
            check_oco_element(element)
        assert tracebacks(caplog.records) == []

    fuzz()


# ---------------------------------------------------------------- opsi


@st.composite
def opsi_element(draw: st.DrawFn) -> Any:
    name = draw(method_names(OPSI_METHODS))
    kwargs = draw(arguments(OPSI_METHODS, name))
    params = draw(st.sampled_from(["named", "positional", "other"]))
    element: dict[str, Any] = {
        "jsonrpc": draw(st.sampled_from(["2.0", "1.0"]) | JSON),
        "id": draw(IDS),
        "method": name,
        "params": kwargs
        if params == "named"
        else list(kwargs.values())
        if params == "positional"
        else draw(JSON),
    }
    return broken(draw, element)


def check_opsi_element(element: Any) -> None:
    assert isinstance(element, dict), element
    assert "id" in element
    if element.get("jsonrpc") == "2.0":
        assert ("result" in element) != ("error" in element), element
        if "error" in element:
            error = element["error"]
            assert error["code"] == 0
            assert isinstance(error["data"]["class"], str) and error["data"]["class"]
            assert error["message"] != INTERNAL, error
        return
    assert set(element) == {"id", "result", "error"}, element  # opsi 1.0
    if element["error"] is not None:
        assert isinstance(element["error"]["class"], str) and element["error"]["class"]
        assert element["error"]["message"] != INTERNAL, element


def test_opsi(client: Any, runtime: Runtime, admin: Actor, caplog: pytest.LogCaptureFixture) -> None:
    auth = basic("admin", opsi_token(runtime, admin))
    enroll(runtime, admin, "pc-1")  # something for host_* and productOnClient_* calls to find

    @given(body=bodies(opsi_element()))
    @examples(150)
    def fuzz(body: bytes) -> None:
        response = send(client, "/rpc", auth, body, "opsi")
        assert response.status_code in (200, 400), (response.status_code, response.text)
        assert response.headers["content-type"].startswith("application/json")
        answer = response.json()
        if response.status_code == 400:
            assert answer["error"]["class"] == "ValueError"
            return
        for element in answer if isinstance(answer, list) else [answer]:
            check_opsi_element(element)
        assert tracebacks(caplog.records) == []

    fuzz()
