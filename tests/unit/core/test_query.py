from __future__ import annotations

import pytest

from fleetdeck.app import Runtime
from fleetdeck.core.authz import Actor
from fleetdeck.core.errors import ValidationFailed
from fleetdeck.core.query import AllOf, AnyOf, Cond, Op, Query, SortKey, _glob_to_like


@pytest.fixture
def names(runtime: Runtime, admin: Actor) -> list[str]:
    hosts = ["web-1", "web-2", "db_1", "db%2", "mail"]
    for h in hosts:
        runtime.services.computers.create(admin, h)
    return hosts


def hostnames(runtime: Runtime, admin: Actor, query: Query) -> list[str]:
    return [c.hostname for c in runtime.services.computers.find(admin, query).items]


def test_glob_is_case_insensitive_and_escapes_sql_wildcards(
    runtime: Runtime, admin: Actor, names: list[str]
) -> None:
    assert hostnames(runtime, admin, Query(where=(Cond("hostname", Op.LIKE, "WEB*"),))) == ["web-1", "web-2"]
    assert hostnames(runtime, admin, Query(where=(Cond("hostname", Op.LIKE, "db_*"),))) == ["db_1"]
    assert hostnames(runtime, admin, Query(where=(Cond("hostname", Op.LIKE, "db%*"),))) == ["db%2"]


def test_or_in_sort_and_page(runtime: Runtime, admin: Actor, names: list[str]) -> None:
    q = Query(
        where=(AnyOf((Cond("hostname", Op.EQ, "mail"), Cond("hostname", Op.IN, ["web-1", "db_1"]))),),
        sort=(SortKey.parse("-hostname"),),
        limit=2,
    )
    page = runtime.services.computers.find(admin, q)
    assert [c.hostname for c in page.items] == ["web-1", "mail"] and page.total == 3
    assert hostnames(runtime, admin, Query(sort=(SortKey("hostname"),), limit=2, offset=2)) == [
        "mail",
        "web-1",
    ]


def test_typed_values_and_errors(runtime: Runtime, admin: Actor, names: list[str]) -> None:
    assert len(hostnames(runtime, admin, Query(where=(Cond("online", Op.EQ, "false"),)))) == 5
    assert hostnames(runtime, admin, Query(where=(Cond("ram_bytes", Op.GT, "0"),))) == []
    with pytest.raises(ValidationFailed, match="unknown filter field"):
        hostnames(runtime, admin, Query(where=(Cond("password", Op.EQ, "x"),)))
    with pytest.raises(ValidationFailed, match="invalid value"):
        hostnames(runtime, admin, Query(where=(Cond("ram_bytes", Op.GT, "lots"),)))
    with pytest.raises(ValidationFailed, match="unknown sort field"):
        hostnames(runtime, admin, Query(sort=(SortKey("agent_key_hash"),)))
    with pytest.raises(ValidationFailed):
        hostnames(runtime, admin, Query(limit=100000))


def test_a_run_of_stars_is_one_sql_wildcard(runtime: Runtime, admin: Actor, names: list[str]) -> None:
    assert _glob_to_like("*" * 5000 + "#") == "%#"  # the database never sees 5000 wildcards
    assert _glob_to_like("a**b*") == "a%b%"
    assert hostnames(runtime, admin, Query(where=(Cond("hostname", Op.LIKE, "*" * 5000 + "#"),))) == []
    assert hostnames(runtime, admin, Query(where=(Cond("hostname", Op.LIKE, "w" + "*" * 5000 + "2"),))) == [
        "web-2"
    ]


def test_case_insensitive_eq_and_in(runtime: Runtime, admin: Actor, names: list[str]) -> None:
    assert hostnames(runtime, admin, Query(where=(Cond("hostname", Op.IEQ, "WEB-1"),))) == ["web-1"]
    assert hostnames(runtime, admin, Query(where=(Cond("hostname", Op.EQ, "WEB-1"),))) == []
    q = Query(where=(Cond("hostname", Op.IIN, ["MAIL", "Db_1", "nope"]),), sort=(SortKey("hostname"),))
    assert hostnames(runtime, admin, q) == ["db_1", "mail"]
    with pytest.raises(ValidationFailed, match="not text"):
        hostnames(runtime, admin, Query(where=(Cond("ram_bytes", Op.IEQ, "1"),)))


def test_between_and_or_across_fields(runtime: Runtime, admin: Actor, names: list[str]) -> None:
    ids = {c.hostname: c.id for c in runtime.services.computers.find(admin, Query()).items}
    q = Query(where=(Cond("id", Op.BETWEEN, [ids["web-2"], ids["db%2"]]),), sort=(SortKey("id"),))
    assert hostnames(runtime, admin, q) == ["web-2", "db_1", "db%2"]
    runtime.services.computers.update(admin, ids["mail"], notes="the mail server")
    across = AnyOf((Cond("hostname", Op.LIKE, "db_*"), Cond("notes", Op.LIKE, "*MAIL*")))
    assert hostnames(runtime, admin, Query(where=(across,), sort=(SortKey("hostname"),))) == ["db_1", "mail"]
    with pytest.raises(ValidationFailed, match="low, high"):
        hostnames(runtime, admin, Query(where=(Cond("id", Op.BETWEEN, [1]),)))


def test_array_contains_is_a_subquery(runtime: Runtime, admin: Actor, names: list[str]) -> None:
    ids = {c.hostname: c.id for c in runtime.services.computers.find(admin, Query()).items}
    group = runtime.services.groups.create(admin, "Servers")
    runtime.services.groups.add_members(admin, group.id, [ids["mail"], ids["db_1"]])
    q = Query(where=(Cond("group_ids", Op.CONTAINS, group.id),), sort=(SortKey("hostname"),))
    assert hostnames(runtime, admin, q) == ["db_1", "mail"]
    assert runtime.services.computers.find(admin, q).total == 2
    lonely = Query(where=(Cond("group_ids", Op.IS_NULL, True),), sort=(SortKey("hostname"),))
    assert hostnames(runtime, admin, lonely) == ["db%2", "web-1", "web-2"]
    assert hostnames(runtime, admin, Query(where=(Cond("macs", Op.CONTAINS, "aa:bb"),))) == []
    with pytest.raises(ValidationFailed, match="is a list"):
        hostnames(runtime, admin, Query(where=(Cond("group_ids", Op.EQ, group.id),)))
    with pytest.raises(ValidationFailed, match="not a list"):
        hostnames(runtime, admin, Query(where=(Cond("hostname", Op.CONTAINS, "x"),)))
    with pytest.raises(ValidationFailed, match="unknown sort field"):
        hostnames(runtime, admin, Query(sort=(SortKey("group_ids"),)))


def test_serialised_form_round_trips_and_runs(runtime: Runtime, admin: Actor, names: list[str]) -> None:
    import json
    from datetime import UTC, datetime

    q = Query(
        where=(
            AnyOf((Cond("hostname", Op.LIKE, "web*"), Cond("notes", Op.IEQ, "x"))),
            AllOf((Cond("hostname", Op.IIN, ("WEB-1", "web-2")), Cond("online", Op.IS_NULL, False))),
            Cond("created_at", Op.BETWEEN, ("2000-01-01T00:00:00+00:00", "2999-01-01T00:00:00+00:00")),
        ),
        sort=(SortKey("hostname", descending=True),),
        limit=None,
        offset=0,
    )
    text = json.dumps(q.to_dict())
    back = Query.from_dict(json.loads(text))
    assert back == q
    assert hostnames(runtime, admin, back) == ["web-2", "web-1"]
    stamped = Query(where=(Cond("created_at", Op.GT, datetime(2000, 1, 1, tzinfo=UTC)),))
    assert Query.from_dict(json.loads(json.dumps(stamped.to_dict()))).where == (
        Cond("created_at", Op.GT, "2000-01-01T00:00:00+00:00"),
    )
    assert len(hostnames(runtime, admin, Query.from_dict(stamped.to_dict()))) == 5
    assert Query.from_dict({}) == Query()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "must be an object"),
        ({"where": [], "having": []}, "unknown key 'having'"),
        ({"where": {}}, "must be a list"),
        ({"where": [{"field": "hostname", "op": "matches", "value": "x"}]}, "unknown operator"),
        ({"where": [{"field": "hostname", "op": "eq", "value": "x", "extra": 1}]}, "unknown key 'extra'"),
        ({"where": [{"field": "host name", "op": "eq", "value": "x"}]}, "field name"),
        ({"where": [{"field": "hostname", "op": "eq", "value": {"a": 1}}]}, "must be text, a number"),
        ({"where": [{"field": "hostname", "op": "eq", "value": ["a"]}]}, "must be text, a number"),
        ({"where": [{"field": "hostname", "op": "eq"}]}, "needs a value"),
        ({"where": [{"field": "hostname", "op": "in", "value": "a"}]}, "must be a list"),
        ({"where": [{"field": "id", "op": "between", "value": [1, 2, 3]}]}, "low, high"),
        ({"where": [{"field": "id", "op": "is_null", "value": "yes"}]}, "true or false"),
        ({"where": [{"field": "id", "op": "eq", "value": 2**70}]}, "out of range"),
        ({"where": [{"field": "id", "op": "eq", "value": float("nan")}]}, "finite"),
        ({"where": [{"field": "hostname", "op": "eq", "value": "a\x00b"}]}, "NUL"),
        ({"where": [{"field": "hostname", "op": "eq", "value": "a" * 1001}]}, "too long"),
        ({"where": [{"any": [{"all": []}], "all": []}]}, "unknown key"),
        ({"limit": 10**6}, "limit"),
        ({"limit": True}, "limit"),
        ({"offset": -1}, "offset"),
        ({"sort": ["name; drop"]}, "sort keys"),
        ({"where": [{"field": "id", "op": "eq", "value": 1}] * 201}, "at most 200"),
    ],
)
def test_serialised_form_is_validated_strictly(data: object, message: str) -> None:
    with pytest.raises(ValidationFailed, match=message):
        Query.from_dict(data)


def test_serialised_nesting_and_size_are_bounded() -> None:
    deep: dict[str, object] = {"field": "id", "op": "eq", "value": 1}
    for _ in range(9):
        deep = {"any": [deep]}
    with pytest.raises(ValidationFailed, match="nest at most"):
        Query.from_dict({"where": [deep]})
    wide = {"any": [{"field": "id", "op": "eq", "value": i} for i in range(150)]}
    with pytest.raises(ValidationFailed, match="at most 200 conditions"):
        Query.from_dict({"where": [wide, wide]})


def test_list_text_matches_any_element_of_its_kind(runtime: Runtime, admin: Actor, names: list[str]) -> None:
    """``tags``/``labels`` are rows of one table told apart by kind: a tag pattern never matches
    a label, and a label reads ``name: value``."""
    ids = {c.hostname: c.id for c in runtime.services.computers.find(admin, Query()).items}
    uid = runtime.services.computers.get(admin, ids["mail"]).summary.uid
    runtime.services.attributes.put(admin, uid, ["Mail", "Edge"], {"role": "smtp"})

    def where(expr: Cond) -> list[str]:
        return hostnames(runtime, admin, Query(where=(expr,), sort=(SortKey("hostname"),)))

    assert where(Cond("tags", Op.IEQ, "edge")) == ["mail"]
    assert where(Cond("tags", Op.IIN, ["nope", "MAIL"])) == ["mail"]
    assert where(Cond("tags", Op.LIKE, "role*")) == []  # a label, not a tag
    assert where(Cond("labels", Op.LIKE, "role: SMTP")) == ["mail"]
    assert where(Cond("labels", Op.IS_NULL, True)) == ["db%2", "db_1", "web-1", "web-2"]


def test_a_refusal_names_the_part_of_the_query_it_is_about(runtime: Runtime, admin: Actor) -> None:
    """``field`` of a refusal is what a dialect shows as the bad parameter: the query itself, a
    condition, or the field whose value does not fit its column."""
    cases: list[tuple[object, str, str]] = [
        ([], "query must be an object", "query"),
        ({"where": [5]}, "condition must be an object", "condition"),
    ]
    for data, message, field in cases:
        with pytest.raises(ValidationFailed) as err:
            Query.from_dict(data)
        assert (err.value.message, err.value.field) == (message, field)
    with pytest.raises(ValidationFailed) as bad:
        hostnames(runtime, admin, Query(where=(Cond("id", Op.EQ, "seven"),)))
    assert (bad.value.message, bad.value.field) == ("invalid value 'seven' for field 'id'", "id")
    with pytest.raises(ValidationFailed) as pair:
        Query.from_dict({"where": [{"field": "id", "op": "between", "value": [1]}]})
    assert (pair.value.message, pair.value.field) == ("between on 'id' takes [low, high]", "id")


def test_a_number_for_a_time_field_is_an_invalid_value(
    runtime: Runtime, admin: Actor, names: list[str]
) -> None:
    """A time field takes ISO 8601 text; a number or true/false is refused as an invalid value
    of that field (it used to reach the database layer and fail there with an internal error)."""
    for value in (5, 1.5, True):
        for op in (Op.GT, Op.IN, Op.BETWEEN):
            given = [value, value] if op is Op.BETWEEN else [value] if op is Op.IN else value
            with pytest.raises(ValidationFailed) as bad:
                hostnames(runtime, admin, Query(where=(Cond("created_at", op, given),)))
            assert (bad.value.message, bad.value.field) == (
                f"invalid value {value!r} for field 'created_at'",
                "created_at",
            )
    assert len(hostnames(runtime, admin, Query(where=(Cond("created_at", Op.GT, "2000-01-01"),)))) == 5


def test_a_value_for_a_text_field_is_compared_as_text(
    runtime: Runtime, admin: Actor, names: list[str]
) -> None:
    """A number or true/false given for a text field is turned into its text before the
    database sees it: ``notes == true`` matches the notes "True", and no other."""
    ids = {c.hostname: c.id for c in runtime.services.computers.find(admin, Query()).items}
    runtime.services.computers.update(admin, ids["mail"], notes="True")
    runtime.services.computers.update(admin, ids["web-1"], notes="1")
    runtime.services.computers.update(admin, ids["web-2"], notes="2.5")
    assert hostnames(runtime, admin, Query(where=(Cond("notes", Op.EQ, True),))) == ["mail"]
    assert hostnames(runtime, admin, Query(where=(Cond("notes", Op.IN, [False, True]),))) == ["mail"]
    assert hostnames(runtime, admin, Query(where=(Cond("notes", Op.EQ, 2.5),))) == ["web-2"]
