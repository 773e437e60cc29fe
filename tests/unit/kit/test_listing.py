"""The kit's REST list syntax: /api/v1's spelling and an rportd-like one over the same parser."""

from __future__ import annotations

import pytest

from fleetdeck.api.kit.listing import Fieldset, ListRules, ListSyntax, ListSyntaxError, allowed, parse
from fleetdeck.core.query import AllOf, AnyOf, Cond, Op, Query, SortKey

V1 = ListSyntax(ops={op.value: op for op in Op}, or_across_fields=True)
RPORT = ListSyntax(
    ops={"gt": Op.GT, "lt": Op.LT, "since": Op.GE, "until": Op.LE, "eq": Op.EQ},
    or_across_fields=True,
    functions=True,
    search_all=True,
    blank_means_empty=True,
    trim_values=True,
    messages={
        "limit_too_big": "pagination limit too big ({value}) maximum is {max}",
        "unsupported_sort": "unsupported sort field '{field}'",
        "unsupported_filter": "unsupported filter field '{name}'",
    },
)
CLIENTS = ListRules(
    filters={
        "id": allowed(Op.EQ),
        "name": allowed(Op.EQ),
        "hostname": allowed(Op.EQ),
        "started_at": allowed(Op.GT, Op.LT, Op.GE, Op.LE),
    },
    search=("name", "hostname"),
    sorts=frozenset({"id", "name"}),
    max_sort_keys=1,
    default_sort=(SortKey("id"),),
    default_limit=50,
    min_limit=1,
    max_limit=500,
    fieldsets={"clients": Fieldset(frozenset({"id", "name", "hostname", "os"}), ("id", "name", "hostname"))},
)


ANY = ListRules()


def where(params: list[tuple[str, str]], rules: ListRules = ANY, syntax: ListSyntax = V1) -> tuple:
    return parse(params, rules, syntax).query.where


def test_v1_values() -> None:
    assert where([("filter[hostname]", "web")]) == (Cond("hostname", Op.EQ, "web"),)
    assert where([("filter[hostname]", "web*")]) == (Cond("hostname", Op.LIKE, "web*"),)
    assert where([("filter[status]", "queued,sent")]) == (Cond("status", Op.IN, ["queued", "sent"]),)
    assert where([("filter[id][gt]", "5"), ("filter[fqdn][is_null]", "true")]) == (
        Cond("id", Op.GT, "5"),
        Cond("fqdn", Op.IS_NULL, True),
    )
    assert where([("filter[hostname|fqdn]", "web*")]) == (
        AnyOf((Cond("hostname", Op.LIKE, "web*"), Cond("fqdn", Op.LIKE, "web*"))),
    )


def test_v1_query_carries_sort_and_page() -> None:
    got = parse(
        [("sort", "-last_seen,hostname"), ("page[limit]", "10"), ("page[offset]", "20")], ListRules(), V1
    )
    assert got.query == Query(sort=(SortKey("last_seen", True), SortKey("hostname")), limit=10, offset=20)


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ([("bogus", "1")], "unknown_parameter"),
        ([("filter[id][near]", "1")], "unknown_operator"),
        ([("filter[a b]", "1")], "unsupported_filter"),
        ([("filter[x][is_null]", "maybe")], "bad_is_null"),
        ([("filter[x]", "a\x00b")], "nul"),
        ([("filter[x]", ",".join(["v"] * 1001))], "too_many_values"),
        ([("page[limit]", "ten")], "limit_not_a_number"),
        ([("page[limit]", "1001")], "limit_too_big"),
        ([("page[limit]", "99999999999999999999999")], "limit_not_a_number"),
        ([("page[offset]", "-1")], "offset_negative"),
        ([("fields[x]", "a")], "unsupported_fields_resource"),
    ],
)
def test_v1_refusals_say_why(params: list[tuple[str, str]], reason: str) -> None:
    with pytest.raises(ListSyntaxError) as caught:
        parse(params, ListRules(), V1)
    assert caught.value.reason == reason
    assert caught.value.code == "validation_failed"  # a core ValidationFailed: 422 in /api/v1


def test_rport_like_values() -> None:
    assert where([("filter[name]", " a , b ")], CLIENTS, RPORT) == (Cond("name", Op.IN, ["a", "b"]),)
    assert where([("filter[name]", "or(web*,db)")], CLIENTS, RPORT) == (
        AnyOf((Cond("name", Op.LIKE, "web*"), Cond("name", Op.EQ, "db"))),
    )
    assert where([("filter[name]", "and(*a*,*b*)")], CLIENTS, RPORT) == (
        AllOf((Cond("name", Op.LIKE, "*a*"), Cond("name", Op.LIKE, "*b*"))),
    )
    assert where([("filter[name]", "a*,b")], CLIENTS, RPORT) == (
        AnyOf((Cond("name", Op.LIKE, "a*"), Cond("name", Op.EQ, "b"))),
    )
    assert where([("filter[name]", "")], CLIENTS, RPORT) == (
        AnyOf((Cond("name", Op.EQ, ""), Cond("name", Op.IS_NULL, True))),
    )
    assert where([("filter[*]", "web")], CLIENTS, RPORT) == (
        AnyOf((Cond("name", Op.EQ, "web"), Cond("hostname", Op.EQ, "web"))),
    )
    assert where([("filter[started_at][since]", "2024-01-01")], CLIENTS, RPORT) == (
        Cond("started_at", Op.GE, "2024-01-01"),
    )


def test_rport_like_rules_and_messages() -> None:
    def refused(params: list[tuple[str, str]]) -> str:
        with pytest.raises(ListSyntaxError) as caught:
            parse(params, CLIENTS, RPORT)
        return caught.value.message

    assert refused([("filter[os]", "x")]) == "unsupported filter field 'filter[os]'"
    assert refused([("filter[name][gt]", "x")]) == "unsupported filter operator 'gt' for field 'name'"
    assert refused([("sort", "os")]) == "unsupported sort field 'os'"
    assert refused([("sort", "id"), ("sort", "-name")]) == "at most 1 sort keys"
    assert refused([("page[limit]", "501")]) == "pagination limit too big (501) maximum is 500"
    assert refused([("page[limit]", "0")]) == "page[limit] must be at least 1"
    assert refused([("fields[clients]", "id,secret")]) == "unknown field 'secret' in fields[clients]"


def test_defaults_and_sparse_fields() -> None:
    got = parse([], CLIENTS, RPORT)
    assert got.query == Query(sort=(SortKey("id"),), limit=50, offset=0)
    assert got.fields == {"clients": ("id", "name", "hostname")}
    chosen = parse([("fields[clients]", "os,id,os")], CLIENTS, RPORT)
    assert chosen.fields == {"clients": ("os", "id")}
    assert (
        parse([("unknown", "x")], CLIENTS, ListSyntax(ops={}, unknown_params_are_errors=False)).query.where
        == ()
    )


def test_list_valued_operators_split_on_commas() -> None:
    def where(name: str, value: str) -> Cond:
        (cond,) = parse([(name, value)], ListRules(), V1).query.where
        assert isinstance(cond, Cond)
        return cond

    assert where("filter[id][between]", "1,5") == Cond("id", Op.BETWEEN, ("1", "5"))
    assert where("filter[name][iin]", "A,b") == Cond("name", Op.IIN, ["A", "b"])
    assert where("filter[name][ieq]", "A,b") == Cond("name", Op.IEQ, "A,b")  # one value
    assert where("filter[group_ids][contains]", "3") == Cond("group_ids", Op.CONTAINS, "3")
    for bad in ("1", "1,2,3", ""):
        with pytest.raises(ListSyntaxError) as err:
            parse([("filter[id][between]", bad)], ListRules(), V1)
        assert err.value.reason == "bad_between"
