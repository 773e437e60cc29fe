"""Issue #11: no user input reaches a pattern that can backtrack. opsi filter wildcards are
matched piece by piece (no regex), host ids are checked label by label after a length bound.
The assertions are on the algorithm (how much work is done), never on wall time."""

from __future__ import annotations

import random
import re
from typing import Any

import pytest

from fleetdeck.api.dialects.opsi.objects import filters, hosts
from fleetdeck.api.dialects.opsi.objects.filters import glob_matches, value_matches
from fleetdeck.api.dialects.opsi.objects.hosts import HOST_ID_MAX, is_host_id

from .conftest import Rpc

OLD_FQDN_RE = re.compile(r"^[a-z0-9][a-z0-9\-]{,63}\.((\w+\-+)|(\w+\.))*\w{1,63}\.\w{2,16}\.?$")


def _reference_glob(pattern: str, text: str) -> bool:
    return re.fullmatch(".*".join(re.escape(p) for p in pattern.split("*")), text, re.DOTALL) is not None


def test_glob_matches_agrees_with_the_regex_it_replaced() -> None:
    rng = random.Random(11)
    for _ in range(4000):
        text = "".join(rng.choice("ab#.") for _ in range(rng.randint(0, 8)))
        pattern = "".join(rng.choice("ab#*") for _ in range(rng.randint(0, 6)))
        assert glob_matches(pattern, text) is _reference_glob(pattern, text), (pattern, text)


class CountingStr(str):
    """A text that counts how often it is searched."""

    finds = 0

    def find(self, *args: Any) -> int:  # type: ignore[override]
        CountingStr.finds += 1
        return super().find(*args)


@pytest.mark.parametrize("stars", [8, 10, 18, 5000])
def test_stars_cost_one_search_per_literal_piece(stars: int) -> None:
    CountingStr.finds = 0
    host = CountingStr("a" * 300 + ".host.org")
    assert glob_matches("*" * stars + "#", host) is False
    assert CountingStr.finds == 0  # the tail "#" is checked with endswith: no search at all
    assert glob_matches("a*" * stars + "#", host) is False
    assert CountingStr.finds == 0
    assert glob_matches("*a" * stars + "*", host) is (stars <= 300)
    assert CountingStr.finds == min(stars, 301)  # one search per piece, never a retry


def test_filters_no_longer_build_regexes() -> None:
    assert not hasattr(filters, "re")
    assert value_matches("pc-1.example.org", "*" * 10000 + "#") is False
    assert value_matches("pc-1.example.org", "pc*" + "*" * 10000 + ".org") is True


def test_wildcard_filter_with_thousands_of_stars_answers(rpc: Rpc) -> None:
    for n in range(3):
        rpc.ok("host_createOpsiClient", f"pc-{n}.example.org")
    assert rpc.ok("host_getIdents", "str", {"id": "********#"}) == []
    assert rpc.ok("host_getIdents", "str", {"id": "*" * 5000 + "#"}) == []
    assert sorted(rpc.ok("host_getIdents", "str", {"id": "pc-" + "*" * 5000 + "1.example.org"})) == [
        "pc-1.example.org"
    ]


def test_host_id_rule_is_the_old_regex_language() -> None:
    rng = random.Random(7)
    for _ in range(20000):
        text = "".join(rng.choice("ab1-._!") for _ in range(rng.randint(0, 14)))
        assert is_host_id(text) is bool(OLD_FQDN_RE.match(text)), text
    for text in ["pc-1.example.org", "a.b-c--d.e.fg", "a." + "b" * 63 + ".cd", "a.x-" + "b" * 63 + ".cd"]:
        assert is_host_id(text) and OLD_FQDN_RE.match(text), text
    for text in ["a." + "b" * 64 + ".cd", "a.b.c", "a.b." + "c" * 17, "-a.b.cd", "a.b-.cd", "a.b..cd"]:
        assert not is_host_id(text) and not OLD_FQDN_RE.match(text), text


class RecordingStr(str):
    """A text that records whether anything but its length was looked at."""

    touched = False

    def removesuffix(self, *args: Any) -> str:  # type: ignore[override]
        RecordingStr.touched = True
        return super().removesuffix(*args)


def test_host_id_longer_than_a_dns_name_is_refused_before_any_pattern_runs() -> None:
    assert HOST_ID_MAX == 255
    RecordingStr.touched = False
    assert is_host_id(RecordingStr("a." + "a-" * 100_000 + "!")) is False
    assert RecordingStr.touched is False
    assert is_host_id(RecordingStr("pc-1.example.org")) is True
    assert RecordingStr.touched is True
    # every pattern left is free of nested quantifiers
    for pattern in (hosts._FIRST_LABEL, hosts._LABEL, hosts._TOP_LABEL, hosts.MAC_RE):
        assert not re.search(r"\)[*+]\)?[*+]|\([^()]*[*+][^()]*\)[*+](?!\?)", pattern.pattern) or (
            pattern is hosts._LABEL  # its repetition starts with the literal "-": one way to match
        )


def test_pathological_host_ids_are_bad_host_ids(rpc: Rpc) -> None:
    for bad in ["a." + "a-" * 100_000 + "!", "a." + "a" * 200 + "!", "x" * 300 + ".example.org"]:
        err = rpc.error("host_createOpsiClient", bad)
        assert err["class"] == "ValueError" and "Bad fqdn" in err["message"]
