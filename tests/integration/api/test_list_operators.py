"""/api/v1 spells core's newer filter operators (issue #10 §2): ``ieq``, ``iin``, ``between``
(``low,high``) and ``contains`` (list-valued fields), through HTTP, and answers bad uses of them
with a 422 in /api/v1's error envelope, naming the parameter or field."""

from __future__ import annotations

import pytest

from fleetdeck.core.query import Op
from tests.integration.api.conftest import Api, assert_error

HOSTS = ["web-01", "WEB-02", "web-03", "db-01", "mail"]


@pytest.fixture
def hosts(admin_api: Api) -> dict[str, int]:
    ids = {}
    for name in HOSTS:
        r = admin_api.post("/computers", json={"hostname": name})
        assert r.status_code == 201, r.text
        ids[name] = r.json()["data"]["id"]
    return ids


@pytest.fixture
def group(admin_api: Api, hosts: dict[str, int]) -> int:
    r = admin_api.post("/groups", json={"name": "web"})
    assert r.status_code == 201, r.text
    gid: int = r.json()["data"]["id"]
    members = [hosts["web-01"], hosts["WEB-02"]]
    r = admin_api.post(f"/groups/{gid}/members", json={"computer_ids": members})
    assert r.status_code in (200, 204), r.text
    return gid


def _hostnames(api: Api, **params: str) -> list[str]:
    r = api.get("/computers", params={"sort": "hostname", **params})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["meta"]["count"] == len(body["data"])  # no paging here: the count is the matches
    return [c["hostname"] for c in body["data"]]


def test_ieq_ignores_case(admin_api: Api, hosts: dict[str, int]) -> None:
    assert _hostnames(admin_api, **{"filter[hostname][ieq]": "web-02"}) == ["WEB-02"]
    assert _hostnames(admin_api, **{"filter[hostname][ieq]": "MAIL"}) == ["mail"]
    assert _hostnames(admin_api, **{"filter[hostname][ieq]": "web-0*"}) == []  # no wildcard
    assert _hostnames(admin_api, **{"filter[hostname][eq]": "web-02"}) == []  # eq keeps case


def test_iin_is_any_of_ignoring_case(admin_api: Api, hosts: dict[str, int]) -> None:
    assert _hostnames(admin_api, **{"filter[hostname][iin]": "WEB-01,web-02,nothing"}) == ["WEB-02", "web-01"]
    assert _hostnames(admin_api, **{"filter[hostname][iin]": "DB-01"}) == ["db-01"]
    assert _hostnames(admin_api, **{"filter[hostname][in]": "WEB-01,web-02"}) == []  # in keeps case


def test_between_includes_both_ends(admin_api: Api, hosts: dict[str, int]) -> None:
    low, high = hosts["web-01"], hosts["web-03"]
    assert _hostnames(admin_api, **{"filter[id][between]": f"{low},{high}"}) == ["WEB-02", "web-01", "web-03"]
    assert _hostnames(admin_api, **{"filter[id][between]": f"{high},{low}"}) == []  # low first
    assert _hostnames(admin_api, **{"filter[hostname][between]": "d,m"}) == ["db-01"]
    stamp = admin_api.get(f"/computers/{low}").json()["data"]["created_at"]
    everything = _hostnames(admin_api, **{"filter[created_at][between]": f"{stamp},2999-01-01T00:00:00Z"})
    assert sorted(everything) == sorted(HOSTS)
    assert (
        _hostnames(admin_api, **{"filter[created_at][between]": "2000-01-01T00:00:00Z,2000-12-31T00:00:00Z"})
        == []
    )


def test_contains_on_a_list_valued_field(admin_api: Api, hosts: dict[str, int], group: int) -> None:
    assert _hostnames(admin_api, **{"filter[group_ids][contains]": str(group)}) == ["WEB-02", "web-01"]
    assert _hostnames(admin_api, **{"filter[group_ids][contains]": str(group + 1000)}) == []
    # combined with the other filters: all must match
    both = {"filter[group_ids][contains]": str(group), "filter[hostname][ieq]": "WEB-01"}
    assert _hostnames(admin_api, **both) == ["web-01"]
    assert _hostnames(admin_api, **{"filter[group_ids][is_null]": "true"}) == ["db-01", "mail", "web-03"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"filter[id][between]": "1"}, "filter[id][between]"),  # one value
        ({"filter[id][between]": "1,2,3"}, "filter[id][between]"),
        ({"filter[hostname][between]": ""}, "filter[hostname][between]"),
        ({"filter[id][between]": "a,b"}, "id"),  # wrong type
        ({"filter[id][between]": ","}, "id"),
        ({"filter[created_at][between]": "yesterday,today"}, "created_at"),
        ({"filter[id][ieq]": "1"}, "id"),  # not text
        ({"filter[id][iin]": "1,2"}, "id"),
        ({"filter[hostname][contains]": "web"}, "hostname"),  # not a list
        ({"filter[group_ids][contains]": "abc"}, "group_ids"),  # a list of ids
        ({"filter[group_ids][like]": "1*"}, "group_ids"),  # a list takes contains/is_null only
        ({"filter[group_ids][between]": "1,2"}, "group_ids"),
        ({"filter[hostname][iin]": "a\x00,b"}, "filter[hostname][iin]"),
        ({"filter[hostname][IEQ]": "web-01"}, None),  # operator names are case-insensitive
    ],
)
def test_bad_uses_are_422(
    admin_api: Api, hosts: dict[str, int], params: dict[str, str], field: str | None
) -> None:
    r = admin_api.get("/computers", params=params)
    if field is None:
        assert r.status_code == 200, r.text
        return
    error = assert_error(r, 422, "validation_failed")
    assert error["detail"]["field"] == field, error


def test_unknown_operator_lists_the_new_ones(admin_api: Api) -> None:
    error = assert_error(admin_api.get("/computers", params={"filter[id][xor]": "1"}), 422)
    for op in (Op.IEQ, Op.IIN, Op.BETWEEN, Op.CONTAINS):
        assert op.value in error["message"]


def test_openapi_documents_the_operators(admin_api: Api) -> None:
    spec = admin_api.get("/openapi.json").json()
    text = str(spec)
    for example in ("[ieq]", "[iin]", "[between]", "[contains]", "low,high"):
        assert example in text, example
